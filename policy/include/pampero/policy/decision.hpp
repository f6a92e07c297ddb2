// decision.hpp - the relay, rate and dictionary-attack decision for one SMTP step, shared by
// pampero-policyd (Postfix policy delegation) and pampero-milter (milter.relay_check).
//
// At RCPT, in this order:
//   1. a banned client network (guard.hpp)                     421 4.7.0, Postfix disconnects
//   2. recipient in a local domain (the directory's domains):
//      unknown user or alias: counted by the guard; 550 5.1.1, or 421 4.7.0 when this one
//      crossed the guard's limit; a known one goes on to 4 (rates) and then DUNNO, the
//      other checks decide
//   3. recipient elsewhere (relaying): allowed only when `sasl_username` is set or the
//      client address has a current RADIUS session (subscriber_lookup.hpp); otherwise
//      554 5.7.1 Relay access denied
//   4. a sender known by SASL or RADIUS is rate-limited (rate_limit.hpp) on its SASL user,
//      its subscriber and its client network: over a limit 450 4.7.1 naming the limit,
//      logged with the user; within them a relayed recipient is permitted (OK) and a local
//      one DUNNO. A directory user's own limits (User::limits) replace the site's. Unauthenticated
//      mail to local users is not rate-limited here (that is the inbound MX path, where the guard
//      and the blocklists apply).
// At END-OF-MESSAGE: the ban, then the message is counted for messages_per_hour of a
// known sender (450 4.7.1 when over: the message is not taken). Other steps (CONNECT,
// HELO, MAIL, DATA...): the ban only. Nothing else ever permits.
// Errors: any State or Directory error is returned as is (temporary): pampero-policyd
// then closes the connection without an answer (Postfix says 451 4.3.5), the milter
// answers 451 4.3.0. A decision is never guessed. With on_state_error: continue
// (GuardConfig::continue_on_state_error) a State error is let through, with a warning,
// where it cannot open relaying: the guard's checks (guard.hpp), the subscriber lookup and
// the rates of a recipient in a local domain, and END-OF-MESSAGE's count (it permits
// nothing); a relayed recipient still gets the error. Directory errors are always errors.
// Thread-safety: decide() may be called from many threads at once (State and Directory are
// thread-safe; the engine holds no mutable state).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pampero/common/config.hpp"
#include "pampero/common/directory.hpp"
#include "pampero/common/result.hpp"
#include "pampero/common/state.hpp"
#include "pampero/policy/guard.hpp"
#include "pampero/policy/rate_limit.hpp"
#include "pampero/policy/subscriber_lookup.hpp"

namespace pampero::policy {

enum class Stage { rcpt, end_of_message, other };

// Postfix's protocol_state ("RCPT", "END-OF-MESSAGE", ...).
Stage stage_from(std::string_view protocol_state);

struct Query {
    Stage stage = Stage::rcpt;
    std::string_view client_address;  // "" for local submission: no ban, no address limit
    std::string_view sasl_username;   // "" when not authenticated
    std::string_view recipient;       // as given (brackets allowed)
    std::string_view instance;        // one id per message (Postfix's `instance`)
    std::string_view id;              // for log lines: queue id or connection id
};

struct Verdict {
    enum class Kind { dunno, permit, reject, defer, disconnect } kind = Kind::dunno;
    std::string code;   // "554"; empty for dunno/permit
    std::string xcode;  // "5.7.1"
    std::string text;

    // As access(5) writes it: "DUNNO", "OK", "554 5.7.1 Relay access denied".
    std::string action() const;
};

class Engine {
  public:
    Engine(State& state, Directory& directory, SubscriberLookup& subscribers,
           const GuardConfig& guard, const RateLimitConfig& limits)
        : guard_(state, guard), limits_(state, limits), dir_(directory), subs_(subscribers) {}

    Result<Verdict> decide(const Query& q);
    // Steps 3 and 4 of RCPT only (relay and rates), for pampero-milter's relay_check: the
    // milter runs its own guard (ban, unknown users) before, on the same keys.
    Result<Verdict> relay(const Query& q);

  private:
    Result<Verdict> rcpt(const Query& q);
    Result<Verdict> relay_and_rates(const Query& q, const std::string& address, bool local);
    Result<Verdict> end_of_message(const Query& q);
    // The identities a request carries (rate_limit.hpp), with the name to log, and the
    // limits of the directory user it is (the SASL user, or else the subscriber when the
    // subscriber's name is a directory user's address).
    struct Sender {
        std::vector<std::string> ids;
        UserLimits own;
    };
    // may_continue: on_state_error: continue may treat a failing subscriber lookup as none.
    Result<Sender> identities(const Query& q, bool may_continue);

    Guard guard_;
    RateLimiter limits_;
    Directory& dir_;
    SubscriberLookup& subs_;
};

}  // namespace pampero::policy
