// pampero-store: the store agent. LMTP delivery into Maildir++ (store.hpp says what it
// decides), and the socketmap server that tells Postfix where mailboxes live.
#include <fmt/format.h>
#include <signal.h>
#include <sysexits.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>

#include "pampero/common/config.hpp"
#include "pampero/common/daemon.hpp"
#include "pampero/common/directory.hpp"
#include "pampero/common/log.hpp"
#include "pampero/common/metrics_http.hpp"
#include "pampero/common/pid_file.hpp"
#include "pampero/common/privileges.hpp"
#include "server.hpp"
#include "socketmap.hpp"
#include "store.hpp"

using namespace pampero;

namespace {

// The verdict keys are part of the snapshot: a key file that fails to load refuses the
// reload, and the running keys keep verifying.
std::string describe_keys(const store::Snapshot& s) {
    if (!s.verdict_keys) return "no verdict_keys (every verdict unsigned)";
    return fmt::format("{} verdict key(s) from {}", s.verdict_keys->keys().size(),
                       s.verdict_keys->origin());
}

void reload(const std::string& path, store::SnapshotHolder& holder) {
    auto next = store::load_snapshot(path);
    if (!next) {
        log::error("reload refused, keeping the running configuration: {}", next.error().message);
        return;
    }
    const auto running = holder.get();
    if ((*next)->config.directory != running->config.directory ||
        (*next)->config.store.lmtp != running->config.store.lmtp ||
        (*next)->config.store.socketmap != running->config.store.socketmap ||
        (*next)->config.store.metrics != running->config.store.metrics ||
        (*next)->config.user != running->config.user ||
        (*next)->config.group != running->config.group) {
        log::warning("directory, socket, metrics, user and group changes take effect at restart");
    }
    holder.set(*next);
    log::notice("reloaded: node {}, mail_root {}, {} levels, {} node(s), {}",
                (*next)->config.store.node, (*next)->config.store.mail_root,
                (*next)->levels.levels.size(), (*next)->nodes.size(), describe_keys(**next));
}

}  // namespace

int main(int argc, char** argv) {
    const DaemonOptions opt =
        parse_daemon_args(argc, argv, "pampero-store",
                          "pampero's store agent: LMTP delivery into Maildir, socketmap");
    log::open("pampero-store", opt.foreground, opt.debug);

    auto snap = store::load_snapshot(opt.config);
    if (!snap) {
        std::fprintf(stderr, "pampero-store: %s\n", snap.error().message.c_str());
        return EX_CONFIG;
    }
    const auto& cfg = (*snap)->config;
    auto run_as = resolve_run_as(cfg.user, cfg.group);
    if (!run_as) {
        std::fprintf(stderr, "pampero-store: %s\n", run_as.error().message.c_str());
        return EX_CONFIG;
    }
    auto dir = open_directory(cfg.directory, OpenMode::read_only);
    if (!dir) {
        std::fprintf(stderr, "pampero-store: %s\n", dir.error().message.c_str());
        return EX_CONFIG;
    }
    auto directory = make_cached_directory(std::move(dir).value(),
                                           std::chrono::seconds(cfg.directory_cache_ttl));

    store::SnapshotHolder holder(*snap);
    metrics::Registry registry;
    store::StoreMetrics counters(registry);
    store::Store st(*directory, holder, &counters);
    store::SocketmapService maps(*directory, holder);
    store::Server server(st, maps, holder);
    // Before binding: a second instance is told it is one, not that the port is taken.
    auto pid_file = PidFile::create_if_asked(opt.pid_file);
    if (!pid_file) {
        std::fprintf(stderr, "pampero-store: %s\n", pid_file.error().message.c_str());
        return EX_CONFIG;
    }
    if (auto s = server.listen((*snap)->lmtp, (*snap)->socketmap); !s) {
        std::fprintf(stderr, "pampero-store: cannot listen: %s\n", s.error().message.c_str());
        return listen_failure_exit_code(s.error());
    }
    std::unique_ptr<metrics::HttpServer> metrics_server;
    if (!cfg.store.metrics.empty()) {
        // A unix: endpoint gets the store's socket owner, group and mode (store.socket_*).
        auto m = metrics::open_http_server(
            registry, "store.metrics", cfg.store.metrics,
            {cfg.store.socket_owner, cfg.store.socket_group, cfg.store.socket_mode});
        if (!m) {
            std::fprintf(stderr, "pampero-store: %s\n", m.error().message.c_str());
            return listen_failure_exit_code(m.error());
        }
        metrics_server = std::move(*m);
    }
    if (!opt.foreground) {
        daemonize();
        if (*pid_file) (void)(*pid_file)->update();
    }
    // Sockets are bound (port 24 may need root): leave root before any thread starts.
    if (auto st = drop_privileges(*run_as, "pampero-store"); !st) {
        log::error("{}", st.error().message);
        return EX_CONFIG;
    }
    block_signals();
    server.start();
    if (metrics_server) metrics_server->start();  // a thread: after fork and privileges
    log::notice("starting: node {}, lmtp {}, socketmap {}, mail_root {}, directory {}, {}",
                cfg.store.node, (*snap)->lmtp.str(), (*snap)->socketmap.str(), cfg.store.mail_root,
                directory_display(cfg.directory), describe_keys(**snap));
    if (metrics_server) log::notice("metrics on {}", cfg.store.metrics);
    for (;;) {
        const int sig = wait_for_signal();
        if (sig == SIGHUP) {
            reload(opt.config, holder);
            continue;
        }
        log::notice("stopping on signal {}", sig);
        break;
    }
    if (metrics_server) metrics_server->stop();
    if (!server.stop(std::chrono::seconds(30))) {
        // Sessions still hold references to the store: leave without destructors. Nothing
        // they were doing was acknowledged; at most a file is left in tmp/.
        log::notice("stopped (forced)");
        std::_Exit(0);
    }
    log::notice("stopped");
    return 0;
}
