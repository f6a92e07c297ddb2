// pampero-milter: the in-session filter. See session.hpp for what it decides.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "milter_glue.hpp"
#include "pampero/common/config.hpp"
#include "pampero/common/daemon.hpp"
#include "pampero/common/log.hpp"
#include "pampero/common/state.hpp"

using namespace pampero;

namespace {

constexpr int kExitConfig = 78;    // EX_CONFIG
constexpr int kExitSoftware = 70;  // EX_SOFTWARE

void reload(const std::string& path, const Config& running, scan::EngineHolder& holder) {
    auto cfg = load_config(path);
    if (!cfg) {
        log::error("reload refused, keeping the running configuration: {}", cfg.error().message);
        return;
    }
    auto engine = scan::load_engine(*cfg);
    if (!engine) {
        log::error("reload refused, keeping the running rules: {}", engine.error().message);
        return;
    }
    holder.set(*engine);
    log::notice("reloaded: {} rules, {} levels", (*engine)->rule_count(), (*engine)->levels().levels.size());
    if (cfg->directory != running.directory || cfg->state != running.state ||
        cfg->milter.socket != running.milter.socket) {
        log::warning("directory, state and socket changes take effect at restart");
    }
}

}  // namespace

int main(int argc, char** argv) {
    const DaemonOptions opt =
        parse_daemon_args(argc, argv, "pampero-milter", "pampero's in-session mail filter (milter)");
    log::open("pampero-milter", opt.foreground, opt.debug);

    auto cfg = load_config(opt.config);
    if (!cfg) {
        std::fprintf(stderr, "pampero-milter: %s\n", cfg.error().message.c_str());
        return kExitConfig;
    }
    auto engine = scan::load_engine(*cfg);
    if (!engine) {
        std::fprintf(stderr, "pampero-milter: %s\n", engine.error().message.c_str());
        return kExitConfig;
    }
    auto dir = open_directory(cfg->directory, OpenMode::read_only);
    if (!dir) {
        std::fprintf(stderr, "pampero-milter: %s\n", dir.error().message.c_str());
        return kExitConfig;
    }
    auto directory = make_cached_directory(std::move(dir).value(),
                                           std::chrono::seconds(cfg->directory_cache_ttl));
    auto state = open_state(cfg->state);
    if (!state) {
        std::fprintf(stderr, "pampero-milter: %s\n", state.error().message.c_str());
        return kExitConfig;
    }
    milter::Guard guard(**state, cfg->guard);
    scan::EngineHolder holder(*engine);
    milter::Services services{*directory, guard, holder};

    if (!milter::register_milter(services, cfg->milter.socket, cfg->milter.timeout)) {
        std::fprintf(stderr, "pampero-milter: cannot listen on %s\n", cfg->milter.socket.c_str());
        return kExitSoftware;
    }
    if (!opt.foreground) daemonize();
    block_signals();
    log::notice("starting on {}: {} rules, {} levels, directory {}, state {}", cfg->milter.socket,
                (*engine)->rule_count(), (*engine)->levels().levels.size(), cfg->directory, cfg->state);

    std::thread loop([] {
        if (!milter::run()) log::error("milter loop ended with an error");
        kill(getpid(), SIGTERM);  // wake the main thread if the loop ended on its own
    });
    for (;;) {
        const int sig = wait_for_signal();
        if (sig == SIGHUP) {
            reload(opt.config, *cfg, holder);
            continue;
        }
        log::notice("stopping on signal {}", sig);
        milter::stop();
        break;
    }
    loop.join();
    return 0;
}
