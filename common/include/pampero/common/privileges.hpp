// privileges.hpp - the daemons' switch from root to their own user, as OpenDKIM's UserID.
//
// A daemon started as root binds its sockets (port 24, /run sockets) and opens what needs
// root, then calls drop_privileges() with the configuration's `user:` (and optional
// `group:`, default the user's primary group): initgroups, setgid, setuid, and a check that
// root cannot be regained. Started as root with no `user:` it keeps running as root and
// says so (a warning at every start). Started as that user already (systemd User=), it
// does nothing. Started as another non-root user, it cannot switch: a config error.
// Must be called before any thread starts (setuid in a threaded process is a hazard).
// Errors: unknown user or group, or a failed switch: ErrorKind::config (refuse to start).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "pampero/common/result.hpp"

namespace pampero {

struct RunAs {
    std::string user;
    uid_t uid = 0;
    gid_t gid = 0;  // `group:`, or the user's primary group
};

// nullopt when `user` is empty (and `group` too; a group alone is a config error).
Result<std::optional<RunAs>> resolve_run_as(const std::string& user, const std::string& group);

Status drop_privileges(const std::optional<RunAs>& run_as, const std::string& daemon);

}  // namespace pampero
