// radius_accounting.cpp - see radius_accounting.hpp.
#include "radius_accounting.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <unordered_set>

#include "pampero/common/ip_prefix.hpp"

namespace pampero::radius {
namespace {

constexpr std::chrono::seconds kMinTtl{60};
constexpr std::chrono::seconds kMaxTtl{30 * 86400};
// Interim-Update slack: the NAS's own timers and a retransmission or two.
constexpr std::chrono::seconds kInterimSlack{60};

std::string key(std::string_view prefix, std::string_view rest) {
    std::string k;
    k.reserve(prefix.size() + rest.size());
    k.append(prefix).append(rest);
    return k;
}

std::string hex(std::string_view raw) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(raw.size() * 2);
    for (unsigned char c : raw) {
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
    return out;
}

std::optional<std::string> unhex(std::string_view h) {
    if (h.size() % 2) return std::nullopt;
    std::string out;
    for (std::size_t i = 0; i < h.size(); i += 2) {
        unsigned v = 0;
        const auto [end, ec] = std::from_chars(h.data() + i, h.data() + i + 2, v, 16);
        if (ec != std::errc() || end != h.data() + i + 2) return std::nullopt;
        out.push_back(static_cast<char>(v));
    }
    return out;
}

bool acceptable_user(std::string_view u) {
    if (u.empty() || u.size() > 253) return false;
    return std::none_of(u.begin(), u.end(), [](char c) {
        const auto b = static_cast<unsigned char>(c);
        return b < 0x20 || b == 0x7f;
    });
}

// radius:session:<ip>'s value, parsed.
struct Stored {
    std::string nas;
    std::string session_id;  // raw octets
    std::int64_t updated = 0;
    std::string user;
};

std::string encode_stored(const Stored& s) {
    return fmt::format("{}\t{}\t{}\t{}", s.nas, hex(s.session_id), s.updated, s.user);
}

std::optional<Stored> decode_stored(std::string_view v) {
    Stored s;
    std::string_view parts[3];
    for (auto& part : parts) {
        const auto tab = v.find('\t');
        if (tab == std::string_view::npos) return std::nullopt;
        part = v.substr(0, tab);
        v.remove_prefix(tab + 1);
    }
    auto sid = unhex(parts[1]);
    if (!sid) return std::nullopt;
    const auto [end, ec] =
        std::from_chars(parts[2].data(), parts[2].data() + parts[2].size(), s.updated);
    if (ec != std::errc() || end != parts[2].data() + parts[2].size()) return std::nullopt;
    s.nas = parts[0];
    s.session_id = std::move(*sid);
    s.user = v;
    return s;
}

const char* status_name(std::uint32_t t) {
    switch (t) {
        case kStart:
            return "Start";
        case kStop:
            return "Stop";
        case kInterimUpdate:
            return "Interim-Update";
        case kAccountingOn:
            return "Accounting-On";
        case kAccountingOff:
            return "Accounting-Off";
    }
    return "other";
}

// The address the session is about: Framed-IP-Address, else Framed-IPv6-Address.
std::optional<std::string> framed_ip(const Packet& p) {
    if (auto v4 = p.ipv4(kFramedIpAddress)) return v4;
    if (auto v6 = p.ipv6(kFramedIpv6Address)) return canonical_ip(*v6);
    return std::nullopt;
}

}  // namespace

std::optional<std::string> canonical_ip(std::string_view ip) {
    const std::string s(ip);
    unsigned char buf[16];
    if (inet_pton(AF_INET, s.c_str(), buf) != 1 && inet_pton(AF_INET6, s.c_str(), buf) != 1)
        return std::nullopt;
    // The policy side's subscriber_key() spells addresses the same way: full-length
    // prefixes, an IPv4-mapped IPv6 address as its IPv4 one.
    return client_prefix(s, 32, 128);
}

std::string escape(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    for (unsigned char c : raw) {
        if (c < 0x20 || c >= 0x7f || c == '\\')
            out += fmt::format("\\x{:02x}", c);
        else
            out.push_back(static_cast<char>(c));
    }
    return out;
}

Accounting::Accounting(State& state, AccountingSettings settings, DuplicateCache& duplicates)
    : state_(state), settings_(settings), duplicates_(duplicates) {}

Outcome Accounting::handle(std::string_view datagram, const std::string& nas, std::uint16_t port,
                           std::string_view secret) {
    using K = Outcome::Kind;
    auto parsed = parse_packet(datagram);
    if (!parsed) return {K::malformed, {}, parsed.error().message};
    const Packet& p = *parsed;
    if (p.code != kAccountingRequest)
        return {K::not_accounting, {}, fmt::format("code {} (not Accounting-Request)", p.code)};
    if (!verify_accounting_request(datagram, secret))
        return {
            K::bad_authenticator,
            {},
            fmt::format("id {}: Request Authenticator does not match the secret", p.identifier)};
    std::string dup = nas;
    dup += ':';
    dup += std::to_string(port);
    dup += ':';
    dup += std::to_string(p.identifier);
    dup += ':';
    dup.append(datagram.data() + 4, 16);
    if (duplicates_.seen(dup)) {
        return {K::retransmission, build_accounting_response(p.identifier, p.authenticator, secret),
                fmt::format("id {}: retransmission answered again", p.identifier)};
    }
    auto what = record(p, nas);
    if (!what) {
        const K kind = what.error().kind == ErrorKind::temporary ? K::state_failed : K::malformed;
        return {kind, {}, fmt::format("id {}: {}", p.identifier, what.error().message)};
    }
    // Remembered only once recorded: a retransmission of a packet that failed is recorded
    // anew.
    duplicates_.remember(dup);
    return {K::recorded, build_accounting_response(p.identifier, p.authenticator, secret),
            fmt::format("id {}: {}", p.identifier, *what)};
}

Result<std::string> Accounting::record(const Packet& p, const std::string& nas) {
    const auto type = p.integer(kAcctStatusType);
    if (!type) return Error::permanent("no Acct-Status-Type");
    const char* name = status_name(*type);
    if (*type == kAccountingOn || *type == kAccountingOff) {
        std::size_t dropped = 0;
        if (auto st = drop_nas(nas, dropped); !st) return st.error();
        return fmt::format("{}: {} sessions of NAS {} dropped", name, dropped, nas);
    }
    if (*type != kStart && *type != kStop && *type != kInterimUpdate)
        return fmt::format("Acct-Status-Type {}: nothing to record", *type);
    const auto ip = framed_ip(p);
    if (!ip) return fmt::format("{}: no Framed-IP-Address, nothing to record", name);
    const auto user = p.text(kUserName).value_or("");
    if (*type == kStop) {
        if (auto st = stop(p, nas, *ip); !st) return st.error();
        return fmt::format("Stop {} {}", *ip, escape(user));
    }
    if (!acceptable_user(user))
        return fmt::format(
            "{} {}: User-Name '{}' unusable (empty, too long or control "
            "characters), not recorded",
            name, *ip, escape(user));
    if (auto st = start(p, nas, *ip); !st) return st.error();
    return fmt::format("{} {} -> {}", name, *ip, user);
}

Status Accounting::start(const Packet& p, const std::string& nas, const std::string& ip) {
    std::chrono::seconds ttl = settings_.session_ttl;
    if (auto interval = p.integer(kAcctInterimInterval); interval && *interval > 0) {
        const auto want =
            std::chrono::seconds(static_cast<std::int64_t>(*interval) * settings_.interim_factor) +
            kInterimSlack;
        ttl = std::clamp(want, kMinTtl, kMaxTtl);
    }
    const std::string user = *p.text(kUserName);
    const Stored s{nas, p.text(kAcctSessionId).value_or(""),
                   std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count(),
                   user};
    // The set memberships first: a session is never in State without its NAS knowing it,
    // so Accounting-On always finds what it must drop.
    if (auto st = state_.set_add(std::string(kNasesKey), nas, ttl); !st) return st;
    if (auto st = state_.set_add(key(kNasKeyPrefix, nas), ip, ttl); !st) return st;
    if (auto st = state_.put(key(kSessionKeyPrefix, ip), encode_stored(s), ttl); !st) return st;
    return state_.put(key(kIpKeyPrefix, ip), user, ttl);
}

Status Accounting::stop(const Packet& p, const std::string& nas, const std::string& ip) {
    const std::string skey = key(kSessionKeyPrefix, ip);
    auto cur = state_.get(skey);
    if (!cur) return cur.error();
    if (!cur->has_value()) return ok_status();  // nothing held: already stopped or expired
    const auto stored = decode_stored(**cur);
    if (stored) {
        const auto sid = p.text(kAcctSessionId);
        const bool same =
            stored->nas == nas && ((sid && !sid->empty() && !stored->session_id.empty())
                                       ? *sid == stored->session_id
                                       : p.text(kUserName).value_or("") == stored->user);
        if (!same) return ok_status();  // a Stop of an older session: see the header
    }
    // An undecodable value is not ours to keep (an older layout): the Stop clears it.
    if (auto st = state_.remove(key(kIpKeyPrefix, ip)); !st) return st;
    if (auto st = state_.remove(skey); !st) return st;
    return state_.set_remove(key(kNasKeyPrefix, nas), ip);
}

Status Accounting::drop_nas(const std::string& nas, std::size_t& dropped) {
    const std::string nkey = key(kNasKeyPrefix, nas);
    auto ips = state_.set_members(nkey);
    if (!ips) return ips.error();
    for (const auto& ip : *ips) {
        const std::string skey = key(kSessionKeyPrefix, ip);
        auto cur = state_.get(skey);
        if (!cur) return cur.error();
        // The address may have moved to another NAS since: that session is not ours.
        const auto stored = cur->has_value() ? decode_stored(**cur) : std::nullopt;
        if (cur->has_value() && (!stored || stored->nas == nas)) {
            if (auto st = state_.remove(key(kIpKeyPrefix, ip)); !st) return st;
            if (auto st = state_.remove(skey); !st) return st;
            ++dropped;
        }
        if (auto st = state_.set_remove(nkey, ip); !st) return st;
    }
    return state_.set_remove(std::string(kNasesKey), nas);
}

Result<std::optional<SessionInfo>> Accounting::session(const std::string& ip_text) {
    const auto ip = canonical_ip(ip_text);
    if (!ip) return Error::permanent("'" + ip_text + "' is not an IP address");
    auto cur = state_.get(key(kSessionKeyPrefix, *ip));
    if (!cur) return cur.error();
    if (!cur->has_value()) return std::optional<SessionInfo>{};
    const auto s = decode_stored(**cur);
    if (!s) return std::optional<SessionInfo>{};
    return std::optional<SessionInfo>{
        SessionInfo{*ip, escape(s->user), s->nas, escape(s->session_id), s->updated}};
}

Result<std::size_t> count_sessions(State& state) {
    auto nases = state.set_members(std::string(kNasesKey));
    if (!nases) return nases.error();
    std::unordered_set<std::string> ips;
    for (const auto& nas : *nases) {
        auto members = state.set_members(key(kNasKeyPrefix, nas));
        if (!members) return members.error();
        for (auto& ip : *members) ips.insert(std::move(ip));
    }
    return ips.size();
}

Result<std::vector<SessionInfo>> Accounting::sessions(std::size_t limit) {
    std::vector<SessionInfo> out;
    auto nases = state_.set_members(std::string(kNasesKey));
    if (!nases) return nases.error();
    std::sort(nases->begin(), nases->end());
    for (const auto& nas : *nases) {
        auto ips = state_.set_members(key(kNasKeyPrefix, nas));
        if (!ips) return ips.error();
        std::sort(ips->begin(), ips->end());
        for (const auto& ip : *ips) {
            if (out.size() >= limit) return out;
            auto s = session(ip);
            if (!s) return s.error();
            // Listed under the NAS that holds it now (it may have moved).
            if (s->has_value() && (*s)->nas == nas) out.push_back(std::move(**s));
        }
    }
    return out;
}

}  // namespace pampero::radius
