#include "pampero/policy/guard.hpp"

#include "pampero/common/ip_prefix.hpp"
#include "pampero/common/log.hpp"

namespace pampero::policy {

std::string Guard::client_key(const std::string& ip) const {
    return client_prefix(ip, config_.ipv4_prefix, config_.ipv6_prefix);
}

Result<bool> Guard::is_banned(const std::string& ip) {
    auto v = state_.get("ban:" + client_key(ip));
    if (!v) return v.error();
    return v->has_value();
}

Result<bool> Guard::count_unknown(const std::string& ip) {
    const std::string key = client_key(ip);
    auto n = state_.increment("unk:" + key, std::chrono::seconds(config_.window));
    if (!n) return n.error();
    if (*n < config_.unknown_limit) return false;
    if (auto st = state_.put("ban:" + key, std::to_string(*n), std::chrono::seconds(config_.ban));
        !st) {
        return st.error();
    }
    return true;
}

}  // namespace pampero::policy
