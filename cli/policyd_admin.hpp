// policyd_admin.hpp - how pamperoctl asks pampero-policyd on its admin socket
// (policyd/admin_socket.hpp): `sessions`, `ban`, `ratelimit show`. With the memory state
// backend the bans, counters and sessions exist only in the daemon's memory.
// Errors: EX_CONFIG-kind when policyd.admin_socket is not set, temporary when the daemon
// cannot be reached, does not answer within 30 s, or answers something unexpected; the
// daemon's own "error" lines keep their kind.
// Bounds: an answer is read up to 1 GiB (a full listing), then refused.
#pragma once

#include <string>
#include <vector>

#include "commands.hpp"

namespace pampero::cli {

// Asks `question`; the answer's lines ("ok N" then N lines), each split on tabs into
// exactly `fields` fields.
Result<std::vector<std::vector<std::string>>> ask_policyd(Context& c, const std::string& question,
                                                          std::size_t fields);

}  // namespace pampero::cli
