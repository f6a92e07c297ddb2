// rate_limit.hpp - outbound rates of one sender, counted in the shared State.
//
// Who is counted: every identity a request carries, each on its own counters: the SASL
// user ("user:NAME"), the RADIUS subscriber ("sub:NAME") and the client's network
// ("ip:NET", NET as the guard's client_prefix()). Limits (ratelimit: in pampero.yaml,
// 0 = none) are the same for each identity:
//   recipients_per_hour     "rl:r:ID", counted at every RCPT;
//   recipients_per_message  "rl:pm:INSTANCE" (Postfix's per-message instance id), counted
//                           at every RCPT of that message;
//   messages_per_hour       "rl:m:ID", looked at (not counted) at RCPT, so a sender over it
//                           is stopped before sending DATA, and counted at END-OF-MESSAGE,
//                           when the message is really sent.
// A directory user's own limits (User::limits, `pamperoctl user set-limits`) replace the
// site's, each one set, for every counter of a request that carries that user (its
// subscriber and client network too: a user allowed more is not stopped by its own
// address's counter at the site's limit); Engine passes them as `own`.
// Windows are fixed (state.hpp: the first hit starts an hour, the counter goes when it
// ends), not sliding: a sender can send up to twice a limit across a window boundary,
// the price of one INCR per counter, which Redis does atomically across a farm.
// Attempts refused for a rate count too: a client that keeps trying does not get its
// window back by being refused.
// Errors: the State's; the caller answers 4xx or, in policyd, closes without an answer.
// Thread-safety: as the State.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pampero/common/config.hpp"
#include "pampero/common/directory.hpp"
#include "pampero/common/result.hpp"
#include "pampero/common/state.hpp"

namespace pampero::policy {

// A limit crossed: which, for whom, and its value (for the reply and the log).
struct Exceeded {
    std::string limit;     // "recipients_per_hour", ...
    std::string identity;  // "user:alice@example.org"
    int value = 0;
};

class RateLimiter {
  public:
    RateLimiter(State& state, RateLimitConfig config) : state_(state), config_(config) {}

    // One recipient of message `instance` for these identities: counts it, says which
    // limit (if any) this recipient goes over.
    Result<std::optional<Exceeded>> recipient(const std::vector<std::string>& identities,
                                              std::string_view instance,
                                              const UserLimits& own = {});
    // One message sent by these identities (END-OF-MESSAGE): counts it, says whether it
    // went over messages_per_hour.
    Result<std::optional<Exceeded>> message(const std::vector<std::string>& identities,
                                            const UserLimits& own = {});

    const RateLimitConfig& config() const { return config_; }
    // The site's limits with `own`'s set ones in their place.
    RateLimitConfig effective(const UserLimits& own) const;

  private:
    State& state_;
    RateLimitConfig config_;
};

}  // namespace pampero::policy
