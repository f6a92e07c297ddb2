#include "pampero/common/strings.hpp"

#include <charconv>

namespace pampero {
namespace {

// One decimal octet, 1..3 digits and no leading zero; advances `i` past it.
bool read_octet(std::string_view s, std::size_t& i, std::uint32_t& out) noexcept {
    const std::size_t start = i;
    std::uint32_t v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 3) {
        v = v * 10 + static_cast<std::uint32_t>(s[i] - '0');
        ++i;
    }
    const std::size_t len = i - start;
    if (len == 0 || v > 255 || (len > 1 && s[start] == '0')) return false;
    out = v;
    return true;
}

std::size_t put_octet(char* p, std::uint32_t v) noexcept {
    if (v >= 100) {
        p[0] = static_cast<char>('0' + v / 100);
        p[1] = static_cast<char>('0' + v / 10 % 10);
        p[2] = static_cast<char>('0' + v % 10);
        return 3;
    }
    if (v >= 10) {
        p[0] = static_cast<char>('0' + v / 10);
        p[1] = static_cast<char>('0' + v % 10);
        return 2;
    }
    p[0] = static_cast<char>('0' + v);
    return 1;
}

// The four octets in the given order (0: most significant first), dot-separated.
std::size_t put_ipv4(char (&out)[kMaxIpv4Text], std::uint32_t ip, bool reversed) noexcept {
    std::size_t n = 0;
    for (int k = 0; k < 4; ++k) {
        const int shift = reversed ? 8 * k : 24 - 8 * k;
        if (k) out[n++] = '.';
        n += put_octet(out + n, (ip >> shift) & 0xff);
    }
    return n;
}

}  // namespace

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    ascii_lower_in_place(out);
    return out;
}

void ascii_lower_in_place(std::string& s) noexcept {
    for (auto& c : s) c = ascii_lower(c);
}

std::optional<std::uint32_t> parse_ipv4(std::string_view s) noexcept {
    if (s.empty() || s.size() > kMaxIpv4Text) return std::nullopt;
    std::uint32_t ip = 0;
    std::size_t i = 0;
    for (int k = 0; k < 4; ++k) {
        if (k) {
            if (i >= s.size() || s[i] != '.') return std::nullopt;
            ++i;
        }
        std::uint32_t v = 0;
        if (!read_octet(s, i, v)) return std::nullopt;
        ip = ip << 8 | v;
    }
    if (i != s.size()) return std::nullopt;
    return ip;
}

std::optional<std::uint32_t> parse_ipv4_peer(std::string_view s) noexcept {
    if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
    if (s.size() > 7 && istarts_with(s, "::ffff:")) s.remove_prefix(7);
    return parse_ipv4(s);
}

std::string format_ipv4(std::uint32_t ip) {
    char buf[kMaxIpv4Text];
    return std::string(buf, put_ipv4(buf, ip, false));
}

std::size_t reversed_ipv4(std::uint32_t ip, char (&out)[kMaxIpv4Text]) noexcept {
    return put_ipv4(out, ip, true);
}

std::string reversed_ipv4(std::uint32_t ip) {
    char buf[kMaxIpv4Text];
    return std::string(buf, reversed_ipv4(ip, buf));
}

std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        if (i + 2 >= s.size()) return std::nullopt;
        unsigned v = 0;
        const auto [end, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
        if (ec != std::errc() || end != s.data() + i + 3) return std::nullopt;
        out += static_cast<char>(v);
        i += 2;
    }
    return out;
}

}  // namespace pampero
