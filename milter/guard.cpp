#include "guard.hpp"

#include "pampero/common/log.hpp"

namespace pampero::milter {

Result<bool> Guard::is_banned(const std::string& ip) {
    auto v = state_.get("ban:" + ip);
    if (!v) return v.error();
    return v->has_value();
}

Result<bool> Guard::count_unknown(const std::string& ip) {
    auto n = state_.increment("unk:" + ip, std::chrono::seconds(config_.window));
    if (!n) return n.error();
    if (*n < config_.unknown_limit) return false;
    if (auto st = state_.put("ban:" + ip, std::to_string(*n), std::chrono::seconds(config_.ban));
        !st) {
        return st.error();
    }
    return true;
}

}  // namespace pampero::milter
