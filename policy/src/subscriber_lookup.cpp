#include "pampero/policy/subscriber_lookup.hpp"

#include "pampero/common/ip_prefix.hpp"

namespace pampero::policy {

std::string subscriber_key(std::string_view ip) {
    return "radius:ip:" + client_prefix(ip, 32, 128);
}

Result<std::optional<std::string>> StateSubscriberLookup::subscriber_for(std::string_view ip) {
    if (ip.empty()) return std::optional<std::string>{};
    return state_.get(subscriber_key(ip));
}

}  // namespace pampero::policy
