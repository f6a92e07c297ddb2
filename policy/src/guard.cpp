#include "pampero/policy/guard.hpp"

#include <charconv>

#include "pampero/common/ip_prefix.hpp"
#include "pampero/common/log.hpp"

namespace pampero::policy {
namespace {

// The expiring set of banned networks (see guard.hpp).
const std::string kBanSet = "bans";

}  // namespace

std::string Guard::client_key(const std::string& ip) const {
    return client_prefix(ip, config_.ipv4_prefix, config_.ipv6_prefix);
}

Result<bool> Guard::is_banned(const std::string& ip) {
    auto v = state_.get("ban:" + client_key(ip));
    if (!v) return v.error();
    return v->has_value();
}

Result<bool> Guard::count_unknown(const std::string& ip, const std::string& address) {
    const std::string key = client_key(ip);
    const std::chrono::seconds window(config_.window);
    // One count per (network, address) and window, whichever daemon sees it first
    // (guard.hpp). The address is at most kMaxAddressLength octets (parse_address).
    auto first = state_.put_if_absent("unkrcpt:" + key + ":" + address, "1", window);
    if (!first) return first.error();
    if (!*first) return false;
    auto n = state_.increment("unk:" + key, window);
    if (!n) return n.error();
    if (*n < config_.unknown_limit) return false;
    if (auto st = state_.put("ban:" + key, std::to_string(*n), std::chrono::seconds(config_.ban));
        !st) {
        return st.error();
    }
    // The listing's record: without it the ban still holds, only `ban list` misses it, so
    // a State that cannot keep it is logged rather than failing the recipient.
    if (auto st = state_.set_add(kBanSet, key, std::chrono::seconds(config_.ban)); !st)
        log::warning("guard: ban of {} not recorded for listing: {}", key, st.error().message);
    return true;
}

Result<std::vector<Guard::Ban>> Guard::bans(std::size_t max) {
    auto members = state_.set_members(kBanSet);
    if (!members) return members.error();
    std::vector<Ban> out;
    for (const auto& net : *members) {
        if (out.size() >= max) break;
        auto v = state_.get("ban:" + net);
        if (!v) return v.error();
        if (!v->has_value()) continue;  // lifted or expired before its set entry
        auto left = state_.ttl("ban:" + net);
        if (!left) return left.error();
        Ban b{net, 0, left->value_or(std::chrono::seconds(0))};
        std::from_chars((*v)->data(), (*v)->data() + (*v)->size(), b.unknown);
        out.push_back(std::move(b));
    }
    return out;
}

Result<bool> Guard::unban(const std::string& ip) {
    const std::string key = client_key(ip);
    auto was = state_.get("ban:" + key);
    if (!was) return was.error();
    if (auto st = state_.remove("ban:" + key); !st) return st.error();
    if (auto st = state_.remove("unk:" + key); !st) return st.error();
    if (auto st = state_.set_remove(kBanSet, key); !st) return st.error();
    return was->has_value();
}

}  // namespace pampero::policy
