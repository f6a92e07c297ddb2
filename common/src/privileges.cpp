#include "pampero/common/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "pampero/common/log.hpp"

namespace pampero {
namespace {

std::string errno_text() {
    return std::strerror(errno);
}

}  // namespace

Result<std::optional<RunAs>> resolve_run_as(const std::string& user, const std::string& group) {
    if (user.empty()) {
        if (!group.empty()) return Error::config("group: needs user: as well");
        return std::optional<RunAs>{};
    }
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* found = nullptr;
    if (getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found) {
        return Error::config(fmt::format("user: no such user '{}'", user));
    }
    RunAs r{user, pw.pw_uid, pw.pw_gid};
    if (!group.empty()) {
        struct group gr {};
        struct group* g = nullptr;
        std::vector<char> gbuf(16384);
        if (getgrnam_r(group.c_str(), &gr, gbuf.data(), gbuf.size(), &g) != 0 || !g) {
            return Error::config(fmt::format("group: no such group '{}'", group));
        }
        r.gid = gr.gr_gid;
    }
    return std::optional<RunAs>{r};
}

Status drop_privileges(const std::optional<RunAs>& run_as, const std::string& daemon) {
    const uid_t euid = geteuid();
    if (!run_as) {
        if (euid == 0) {
            log::warning("{} runs as root: set user: in the configuration to drop to its own user",
                         daemon);
        }
        return ok_status();
    }
    if (euid != 0) {
        if (euid == run_as->uid && getegid() == run_as->gid) return ok_status();
        return Error::config(
            fmt::format("cannot switch to user {}: not started as root (running as uid {})",
                        run_as->user, euid));
    }
    if (initgroups(run_as->user.c_str(), run_as->gid) != 0) {
        return Error::config(fmt::format("initgroups({}): {}", run_as->user, errno_text()));
    }
    if (setgid(run_as->gid) != 0) {
        return Error::config(fmt::format("setgid({}): {}", run_as->gid, errno_text()));
    }
    if (setuid(run_as->uid) != 0) {
        return Error::config(fmt::format("setuid({}): {}", run_as->uid, errno_text()));
    }
    // setuid() from root drops the saved uid too; make sure nothing can take root back.
    if (run_as->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        return Error::config("root privileges could be regained after the switch; refusing to run");
    }
    log::notice("{} running as user {} (uid {}, gid {})", daemon, run_as->user, run_as->uid,
                run_as->gid);
    return ok_status();
}

}  // namespace pampero
