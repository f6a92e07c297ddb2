#include <cstdio>
#include <cstdlib>

#include "commands.hpp"
#include "pampero/common/privileges.hpp"

namespace pampero::cli {

int fail(const std::string& msg, int code) {
    std::fprintf(stderr, "pamperoctl: %s\n", msg.c_str());
    return code;
}

int fail(const Error& e) {
    switch (e.kind) {
        case ErrorKind::temporary:
            return fail(e.message, EX_TEMPFAIL);
        case ErrorKind::config:
            return fail(e.message, EX_CONFIG);
        case ErrorKind::permanent:
            return fail(e.message, EXIT_FAILURE);
    }
    return fail(e.message);
}

const Config& Context::config() {
    if (!config_) {
        auto c = load_config(path_);
        if (!c) std::exit(fail(c.error()));
        config_ = std::move(c).value();
    }
    return *config_;
}

DirectoryAdmin& Context::directory() {
    if (!directory_) {
        // A new database file gets the daemons' group (user:/group:), else its folder's.
        auto run_as = resolve_run_as(config().user, config().group);
        if (!run_as) std::exit(fail(run_as.error()));
        std::optional<unsigned> group;
        if (*run_as) group = (*run_as)->gid;
        auto d = open_directory(config().directory, OpenMode::read_write, group);
        if (!d) std::exit(fail(d.error()));
        directory_ = std::move(d).value();
    }
    return *directory_;
}

const scan::Levels& Context::levels() {
    if (!levels_) {
        auto l = scan::load_levels(config().levels);
        if (!l) std::exit(fail(l.error()));
        levels_ = std::move(l).value();
    }
    return *levels_;
}

}  // namespace pampero::cli
