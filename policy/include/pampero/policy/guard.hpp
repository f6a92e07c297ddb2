// guard.hpp - the dictionary-attack guard: counts unknown recipients per client IP and
// bans an IP that keeps guessing. pampero-milter and pampero-policyd both use this one,
// with the same keys, so a site running either or both sees one ban list.
//
// Keys live in the shared State, so with Redis every MX node sees the same counters and
// bans: "unk:NET" counts DISTINCT guessed addresses within `window` seconds from the first
// miss; at `unknown_limit` the network gets "ban:NET" for `ban` seconds. Distinct: each
// guess first sets the marker "unkrcpt:NET:ADDRESS" (put_if_absent, TTL `window`) and
// counts only when it was absent. An MX running both pampero-policyd and pampero-milter
// sees every guess twice (policyd at its check, the milter at Postfix's refusal or its own
// directory check); whichever asks first counts it, so the ban comes at exactly
// `unknown_limit` addresses, and one address a client retries counts once per window.
// (Set before the counter: should the counter then fail - the State is down - the guess
// is answered 4xx and a retry of that address is not counted again; one guess, not a hole.) NET is
// the client's network, not its address (client_prefix(): /64 for IPv6 and /32 for IPv4 by default,
// guard.ipv6_prefix and guard.ipv4_prefix), for counting and ban checks alike, so a client rotating
// through the addresses of its IPv6 allocation is one client. Errors are the State's (temporary).
// Listing: every ban also adds NET to the expiring set "bans" with the ban's TTL (Redis: a
// sorted set scored by expiry), so bans() lists them without scanning keys; unban() takes
// an IP (or NET) out of ban, counter and set. The set is bounded as the State's sets are.
// on_state_error: continue (GuardConfig::continue_on_state_error): is_banned() and
// count_unknown() answer false when the State fails (the guard is off for that call) and
// say so with warn_state_error_continued(); the default returns the error (4xx). bans() and
// unban() (the admin's) always return it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pampero/common/config.hpp"
#include "pampero/common/result.hpp"
#include "pampero/common/state.hpp"

namespace pampero::policy {

class Guard {
  public:
    Guard(State& state, GuardConfig config) : state_(state), config_(config) {}

    Result<bool> is_banned(const std::string& ip);
    // Counts one unknown recipient `address` (normalized, as parse_address() gives it)
    // guessed by `ip`, unless that network's guess of that address was counted already
    // within the window (by this daemon or another on the same State); true when this one
    // crossed the limit (the network is now banned), false otherwise.
    Result<bool> count_unknown(const std::string& ip, const std::string& address);
    // on_state_error: continue.
    bool continue_on_state_error() const { return config_.continue_on_state_error; }

    // The key the guard files `ip` under (its network, see above).
    std::string client_key(const std::string& ip) const;

    struct Ban {
        std::string net;               // the client's network, as client_key()
        std::int64_t unknown = 0;      // unknown recipients counted when it was banned
        std::chrono::seconds left{0};  // until the ban ends
    };
    // The bans in force (set members whose ban key has gone are skipped), in no order;
    // at most `max` of them.
    Result<std::vector<Ban>> bans(std::size_t max);
    // Lifts the ban on ip's network and forgets its unknown-recipient count; true when a
    // ban was in force. The per-address markers stay until they expire: an address it
    // guessed before the unban does not count again within the window.
    Result<bool> unban(const std::string& ip);

  private:
    State& state_;
    GuardConfig config_;
};

// The warning of on_state_error: continue, that `what` went on without the State (error
// `e`). At most one line a second per process, counting the calls let through since the
// last line: an outage at hundreds of recipients a second would flood syslog otherwise.
// Thread-safe.
void warn_state_error_continued(std::string_view what, const Error& e);

}  // namespace pampero::policy
