// subscriber_lookup.hpp - which RADIUS customer holds a client address now.
//
// The RADIUS accounting listener (policyd/radius_*) records a session as the State value
//     key   "radius:ip:<IP>"   IP in canonical text (subscriber_key(): "192.0.2.1",
//                              "2001:db8::1"; an IPv4-mapped IPv6 address is its IPv4 one)
//     value the session's User-Name, as the NAS sent it
//     TTL   the session's expiry (Acct-Interim-Interval or the configured default)
// and removes it at Stop. The writer must use subscriber_key() so both sides agree.
// A current session makes its address a customer's: it may relay (decision.hpp).
// Errors: the State's (temporary): the caller must not guess.
// Thread-safety: as the State (safe from many threads).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pampero/common/result.hpp"
#include "pampero/common/state.hpp"

namespace pampero::policy {

class SubscriberLookup {
  public:
    virtual ~SubscriberLookup() = default;
    // The user name holding `ip` now, or nullopt.
    virtual Result<std::optional<std::string>> subscriber_for(std::string_view ip) = 0;
};

// "radius:ip:" + the canonical address (text that is no address is kept as given).
std::string subscriber_key(std::string_view ip);

// The lookup over the State layout above.
class StateSubscriberLookup final : public SubscriberLookup {
  public:
    explicit StateSubscriberLookup(State& state) : state_(state) {}
    Result<std::optional<std::string>> subscriber_for(std::string_view ip) override;

  private:
    State& state_;
};

}  // namespace pampero::policy
