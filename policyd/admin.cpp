// admin.cpp - see admin.hpp.
#include "admin.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <charconv>
#include <vector>

#include "pampero/common/address.hpp"
#include "pampero/policy/guard.hpp"
#include "pampero/policy/rate_limit.hpp"

namespace pampero::policyd {
namespace {

std::string error_line(const Error& e) {
    return fmt::format("error {} {}\n", e.kind == ErrorKind::temporary ? "temporary" : "permanent",
                       e.message);
}

// Tabs and control characters would break the line format: such a KEY is refused.
bool printable(std::string_view s) {
    for (const unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return false;
    return !s.empty();
}

bool is_ip_or_net(const std::string& key) {
    std::string addr = key.substr(0, key.find('/'));
    unsigned char buf[16];
    return inet_pton(AF_INET, addr.c_str(), buf) == 1 ||
           inet_pton(AF_INET6, addr.c_str(), buf) == 1;
}

// One window's line: the counter now and the seconds it has left.
Result<std::string> window_line(State& state, const std::string& identity, const char* name,
                                const char* prefix, int max) {
    const std::string key = std::string(prefix) + identity;
    auto v = state.get(key);
    if (!v) return v.error();
    std::int64_t count = 0;
    if (*v) std::from_chars((*v)->data(), (*v)->data() + (*v)->size(), count);
    std::int64_t left = 0;
    if (*v) {
        auto t = state.ttl(key);
        if (!t) return t.error();
        if (*t) left = (*t)->count();
    }
    return fmt::format("{}\t{}\t{}\t{}\t{}\n", identity, name, count, max, left);
}

std::string ratelimit_show(State& state, Directory* directory, const GuardConfig& guard,
                           const RateLimitConfig& site, const std::string& key) {
    if (!printable(key)) return error_line(Error::permanent("ratelimit show: bad key"));
    RateLimitConfig limits = site;
    if (auto a = parse_address(key); a && directory) {
        auto u = directory->find_user(a->full());
        if (!u) return error_line(u.error());
        if (*u) limits = policy::RateLimiter(state, site).effective((*u)->limits);
    }
    std::vector<std::string> ids;
    if (is_ip_or_net(key)) {
        ids.push_back("ip:" + policy::Guard(state, guard).client_key(key));
    } else {
        ids.push_back("user:" + key);
        ids.push_back("sub:" + key);
    }
    std::string body;
    for (const auto& id : ids) {
        for (auto line :
             {window_line(state, id, "messages_per_hour", "rl:m:", limits.messages_per_hour),
              window_line(state, id, "recipients_per_hour", "rl:r:", limits.recipients_per_hour)}) {
            if (!line) return error_line(line.error());
            body += *line;
        }
    }
    return fmt::format("ok {}\n", ids.size() * 2) + body;
}

}  // namespace

std::optional<std::string> answer_policy_admin(State& state, Directory* directory,
                                               const GuardConfig& guard,
                                               const RateLimitConfig& limits, std::string_view q) {
    if (!q.empty() && q.back() == '\r') q.remove_suffix(1);
    if (q == "ban list") {
        auto list = policy::Guard(state, guard).bans(kMaxBansListed);
        if (!list) return error_line(list.error());
        std::string out = fmt::format("ok {}\n", list->size());
        for (const auto& b : *list)
            out += fmt::format("{}\t{}\t{}\n", b.net, b.unknown, b.left.count());
        return out;
    }
    if (q.substr(0, 8) == "ban del ") {
        const std::string ip(q.substr(8));
        if (!printable(ip) || !is_ip_or_net(ip))
            return error_line(Error::permanent("ban del: not an IP address or network"));
        policy::Guard g(state, guard);
        auto lifted = g.unban(ip);
        if (!lifted) return error_line(lifted.error());
        return fmt::format("ok 1\n{}\t{}\n", g.client_key(ip), *lifted ? 1 : 0);
    }
    if (q.substr(0, 15) == "ratelimit show ")
        return ratelimit_show(state, directory, guard, limits, std::string(q.substr(15)));
    if (q.substr(0, 4) == "ban " || q.substr(0, 9) == "ratelimit")
        return error_line(Error::permanent(
            "unknown question (expected: ban list | ban del IP | ratelimit show KEY)"));
    return std::nullopt;
}

}  // namespace pampero::policyd
