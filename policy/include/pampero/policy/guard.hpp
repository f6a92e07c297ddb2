// guard.hpp - the dictionary-attack guard: counts unknown recipients per client IP and
// bans an IP that keeps guessing. pampero-milter and pampero-policyd both use this one,
// with the same keys, so a site running either or both sees one ban list.
//
// Keys live in the shared State, so with Redis every MX node sees the same counters and
// bans: "unk:NET" counts within `window` seconds from the first miss; at `unknown_limit`
// the network gets "ban:NET" for `ban` seconds. NET is the client's network, not its
// address (client_prefix(): /64 for IPv6 and /32 for IPv4 by default, guard.ipv6_prefix
// and guard.ipv4_prefix), for counting and ban checks alike, so a client rotating through
// the addresses of its IPv6 allocation is one client. Errors are the State's (temporary).
#pragma once

#include <string>

#include "pampero/common/config.hpp"
#include "pampero/common/result.hpp"
#include "pampero/common/state.hpp"

namespace pampero::policy {

class Guard {
  public:
    Guard(State& state, GuardConfig config) : state_(state), config_(config) {}

    Result<bool> is_banned(const std::string& ip);
    // Counts one unknown recipient; true when this one crossed the limit (IP now banned).
    Result<bool> count_unknown(const std::string& ip);

    // The key the guard files `ip` under (its network, see above).
    std::string client_key(const std::string& ip) const;

  private:
    State& state_;
    GuardConfig config_;
};

}  // namespace pampero::policy
