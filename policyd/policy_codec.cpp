#include "policy_codec.hpp"

#include <algorithm>

namespace pampero::policyd {
namespace {

bool valid_name(std::string_view n) {
    if (n.empty() || n.size() > kMaxName) return false;
    // ASCII only, whatever the locale (and without isalnum's call: this runs per attribute).
    return std::all_of(n.begin(), n.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    });
}

// Peer text quoted into a log line or a reply: printable ASCII only, at most 40 octets.
std::string printable(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 40)) {
        const auto u = static_cast<unsigned char>(c);
        out += (u >= 0x20 && u < 0x7f) ? c : '?';
    }
    if (s.size() > 40) out += "...";
    return out;
}

}  // namespace

std::optional<std::string_view> PolicyRequest::get(std::string_view name) const {
    for (const auto& [n, v] : attributes) {
        if (n == name) return std::string_view(v);
    }
    return std::nullopt;
}

std::string_view PolicyRequest::value(std::string_view name) const {
    return get(name).value_or(std::string_view{});
}

void PolicyDecoder::fail(std::string why) {
    if (current_.error.empty()) current_.error = std::move(why);
}

void PolicyDecoder::feed(std::string_view data, std::vector<PolicyRequest>& out) {
    while (!data.empty()) {
        const auto nl = data.find('\n');
        const std::string_view chunk = data.substr(0, nl);
        if (skipping_) {
            // The rest of a line over kMaxLine: dropped, never kept.
            if (nl == std::string_view::npos) return;
            skipping_ = false;
            data.remove_prefix(nl + 1);
            continue;
        }
        if (line_.size() + chunk.size() > kMaxLine + (nl == std::string_view::npos ? 0 : 1)) {
            // +1 when the line is complete: a "\r" before its "\n" does not count.
            fail("a line longer than " + std::to_string(kMaxLine) + " octets");
            line_.clear();
            ++dropped_;
            if (nl == std::string_view::npos) {
                skipping_ = true;
                return;
            }
            data.remove_prefix(nl + 1);
            continue;
        }
        if (nl == std::string_view::npos) {
            line_.append(chunk);
            return;
        }
        std::string_view l = chunk;
        if (!line_.empty()) {
            line_.append(chunk);
            l = line_;
        }
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        line(l, out);
        line_.clear();
        data.remove_prefix(nl + 1);
    }
}

void PolicyDecoder::line(std::string_view l, std::vector<PolicyRequest>& out) {
    if (l.empty()) {
        if (current_.attributes.empty() && current_.error.empty() && dropped_ == 0) {
            return;  // an empty line between requests: nothing to answer (Postfix never sends it)
        }
        if (current_.error.empty()) {
            const auto r = current_.get("request");
            if (!r) {
                fail("no request= attribute");
            } else if (*r != "smtpd_access_policy") {
                fail("request=" + printable(*r) + " is not smtpd_access_policy");
            }
        }
        out.push_back(std::move(current_));
        current_ = PolicyRequest{};
        dropped_ = 0;
        return;
    }
    if (current_.attributes.size() >= kMaxAttributes) {
        fail("more than " + std::to_string(kMaxAttributes) + " attributes");
        ++dropped_;
        return;
    }
    const auto eq = l.find('=');
    if (eq == std::string_view::npos) {
        fail("a line without '=': \"" + printable(l) + "\"");
        ++dropped_;
        return;
    }
    const std::string_view name = l.substr(0, eq);
    if (!valid_name(name)) {
        fail("a malformed attribute name \"" + printable(name) + "\"");
        ++dropped_;
        return;
    }
    // Postfix 3.7 sends 32 attributes: one allocation for them all.
    if (current_.attributes.empty()) current_.attributes.reserve(40);
    current_.attributes.emplace_back(std::string(name), std::string(l.substr(eq + 1)));
}

std::string encode_reply(std::string_view action) {
    std::string out;
    out.reserve(action.size() + 9);
    out += "action=";
    for (char c : action) out += (c == '\n' || c == '\r' || c == '\0') ? ' ' : c;
    out += "\n\n";
    return out;
}

std::string malformed_action(std::string_view problem) {
    return "DEFER_IF_PERMIT malformed policy request: " + std::string(problem);
}

}  // namespace pampero::policyd
