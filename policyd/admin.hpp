// admin.hpp - the policy questions of pampero-policyd's admin socket (admin_socket.hpp):
// what `pamperoctl ban list|del` and `pamperoctl ratelimit show` ask.
//
//   "ban list"             -> "ok N\n" then N lines "NET\tUNKNOWN\tSECONDS-LEFT\n": the
//                             bans in force (guard.hpp: NET is the client's network,
//                             UNKNOWN the unknown recipients counted when it was banned)
//   "ban del IP|NET"       -> "ok 1\nNET\tLIFTED\n", LIFTED 1 when a ban was in force and
//                             is lifted, 0 when none was; either way the network's
//                             unknown-recipient count goes
//   "ratelimit show KEY"   -> "ok N\n" then N lines
//                             "IDENTITY\tLIMIT\tCOUNT\tMAX\tSECONDS-LEFT\n", for
//                             messages_per_hour and recipients_per_hour of each identity
//                             KEY may be (rate_limit.hpp): an IP address or network gives
//                             "ip:NET"; anything else "user:KEY" and "sub:KEY" (a SASL
//                             user and a RADIUS subscriber share no counters). COUNT and
//                             SECONDS-LEFT are 0 when no window is open; MAX 0 is no limit.
//                             MAX is the user's own limit when KEY is a directory user
//                             (User::limits), else the site's.
// or, on failure, one line "error temporary|permanent MESSAGE\n".
// recipients_per_message counts per message (Postfix's instance id), not per sender, so
// it has no line.
// Bounds: a ban listing stops at kMaxBansListed; KEY is at most what the socket reads
// (admin_socket.hpp: kMaxQuestion).
// Thread-safety: as the State (answer_policy_admin is otherwise pure).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "pampero/common/config.hpp"
#include "pampero/common/directory.hpp"
#include "pampero/common/state.hpp"

namespace pampero::policyd {

constexpr std::size_t kMaxBansListed = 1000000;

// The answer, or nullopt when the question is not one of these (radius_admin.hpp's).
// `directory` (may be null: site limits only) gives users' own limits; its failure is an
// error line (temporary).
std::optional<std::string> answer_policy_admin(State& state, Directory* directory,
                                               const GuardConfig& guard,
                                               const RateLimitConfig& limits,
                                               std::string_view question);

}  // namespace pampero::policyd
