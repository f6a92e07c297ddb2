// pampero-policyd: the RADIUS accounting listener (radius_listener.hpp). The Postfix
// policy server joins it here; this main stays small: the RADIUS part is started by
// radius::start_listener() on the daemon's io_context and reloaded on SIGHUP.
#include <signal.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <cstdio>
#include <optional>
#include <thread>

#include "pampero/common/config.hpp"
#include "pampero/common/daemon.hpp"
#include "pampero/common/log.hpp"
#include "pampero/common/pid_file.hpp"
#include "pampero/common/privileges.hpp"
#include "pampero/common/state.hpp"
#include "radius_listener.hpp"

using namespace pampero;

namespace {
constexpr int kExitConfig = 78;    // EX_CONFIG
constexpr int kExitSoftware = 70;  // EX_SOFTWARE
}  // namespace

int main(int argc, char** argv) {
    const DaemonOptions opt = parse_daemon_args(
        argc, argv, "pampero-policyd", "pampero's policy server and RADIUS accounting listener");
    log::open("pampero-policyd", opt.foreground, opt.debug);
    auto cfg = load_config(opt.config);
    if (!cfg) {
        std::fprintf(stderr, "pampero-policyd: %s\n", cfg.error().message.c_str());
        return kExitConfig;
    }
    auto run_as = resolve_run_as(cfg->user, cfg->group);
    if (!run_as) {
        std::fprintf(stderr, "pampero-policyd: %s\n", run_as.error().message.c_str());
        return kExitConfig;
    }
    auto state = open_state(cfg->state, cfg->guard.max_tracked);
    if (!state) {
        std::fprintf(stderr, "pampero-policyd: %s\n", state.error().message.c_str());
        return kExitConfig;
    }
    std::optional<PidFile> pid_file;
    if (!opt.pid_file.empty()) {
        auto p = PidFile::create(opt.pid_file);
        if (!p) {
            std::fprintf(stderr, "pampero-policyd: %s\n", p.error().message.c_str());
            return kExitConfig;
        }
        pid_file.emplace(std::move(*p));
    }
    asio::io_context io;
    auto radius = radius::start_listener(io, **state, cfg->radius);
    if (!radius) {
        std::fprintf(stderr, "pampero-policyd: %s\n", radius.error().message.c_str());
        return radius.error().kind == ErrorKind::config ? kExitConfig : kExitSoftware;
    }
    if (!opt.foreground) {
        io.notify_fork(asio::io_context::fork_prepare);
        daemonize();
        io.notify_fork(asio::io_context::fork_child);
        if (pid_file) (void)pid_file->update();
    }
    if (auto st = drop_privileges(*run_as, "pampero-policyd"); !st) {
        log::error("{}", st.error().message);
        return kExitConfig;
    }
    block_signals();  // before any thread: they inherit the mask, main alone gets signals
    auto work = asio::make_work_guard(io);
    std::thread loop([&io] { io.run(); });
    log::notice("starting: state {}", cfg->state);
    for (;;) {
        const int sig = wait_for_signal();
        if (sig == SIGHUP) {
            auto next = load_config(opt.config);
            if (!next) {
                log::error("reload refused, keeping the running configuration: {}",
                           next.error().message);
                continue;
            }
            if (*radius) (*radius)->reload(next->radius);
            continue;
        }
        log::notice("stopping on signal {}", sig);
        break;
    }
    if (*radius) (*radius)->stop();
    work.reset();
    io.stop();
    loop.join();
    return 0;
}
