#include "pampero/common/address.hpp"

#include <algorithm>
#include <cctype>

#include "pampero/common/strings.hpp"

namespace pampero {

std::string_view strip_angle_brackets(std::string_view raw) {
    while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t')) raw.remove_prefix(1);
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t')) raw.remove_suffix(1);
    if (raw.size() >= 2 && raw.front() == '<' && raw.back() == '>') {
        raw = raw.substr(1, raw.size() - 2);
    }
    return raw;
}

std::optional<std::string> normalize_domain(std::string_view raw) {
    if (!raw.empty() && raw.back() == '.') raw.remove_suffix(1);
    if (raw.empty() || raw.size() > kMaxDomainLength) return std::nullopt;
    std::string d = ascii_lower(raw);
    std::size_t label = 0;
    for (std::size_t i = 0; i < d.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(d[i]);
        if (c == '.') {
            if (label == 0 || d[i - 1] == '-') return std::nullopt;
            label = 0;
            continue;
        }
        // LDH plus '_' (seen in real hostnames) and UTF-8 octets of IDNs left unconverted.
        const bool ok = std::isalnum(c) || c == '-' || c == '_' || c >= 0x80;
        if (!ok || (label == 0 && c == '-') || ++label > 63) return std::nullopt;
    }
    if (label == 0) return std::nullopt;
    return d;
}

std::optional<Address> parse_address(std::string_view raw) {
    raw = strip_angle_brackets(raw);
    if (raw.empty() || raw.size() > kMaxAddressLength) return std::nullopt;
    const auto at = raw.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == raw.size()) return std::nullopt;
    std::string_view local = raw.substr(0, at);
    if (local.size() > kMaxLocalPartLength) return std::nullopt;
    for (unsigned char c : local) {
        // No controls, spaces, '@', or path separators: the local part may name a folder.
        if (c < 0x21 || c == 0x7f || c == '@' || c == '/' || c == '\\' || c == '"') {
            return std::nullopt;
        }
    }
    if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
        return std::nullopt;
    }
    auto domain = normalize_domain(raw.substr(at + 1));
    if (!domain) return std::nullopt;
    return Address{ascii_lower(local), *domain};
}

}  // namespace pampero
