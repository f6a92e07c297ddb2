// pampero-policyd: Postfix policy delegation (server.hpp) serving the relay, rate-limit and
// dictionary-attack decisions of libpampero-policy (policy/decision.hpp), and the RADIUS
// accounting listener that tells which customer holds which address.
#include <signal.h>
#include <sys/resource.h>
#include <sysexits.h>

#include <cstdio>
#include <optional>

#include "admin.hpp"
#include "admin_socket.hpp"
#include "pampero/common/config.hpp"
#include "pampero/common/daemon.hpp"
#include "pampero/common/directory.hpp"
#include "pampero/common/log.hpp"
#include "pampero/common/metrics_http.hpp"
#include "pampero/common/pid_file.hpp"
#include "pampero/common/privileges.hpp"
#include "pampero/common/state.hpp"
#include "pampero/policy/decision.hpp"
#include "policyd_metrics.hpp"
#include "radius_admin.hpp"
#include "radius_listener.hpp"
#include "server.hpp"

using namespace pampero;

namespace {

constexpr auto kStopGrace = std::chrono::seconds(10);
constexpr rlim_t kOwnDescriptors = 64;  // listeners, epoll, logs, the directory

// Everything a decision needs that outlives a reload.
struct Deps {
    State& state;
    Directory& directory;
    policy::SubscriberLookup& subscribers;
};

std::shared_ptr<policy::Engine> make_engine(const Deps& d, const Config& c) {
    return std::make_shared<policy::Engine>(d.state, d.directory, d.subscribers, c.guard,
                                            c.ratelimit);
}

std::string describe(const Config& c) {
    return fmt::format(
        "limits per hour {} messages, {} recipients, {} recipients a message (0: none); "
        "guard {} unknown in {} s bans for {} s",
        c.ratelimit.messages_per_hour, c.ratelimit.recipients_per_hour,
        c.ratelimit.recipients_per_message, c.guard.unknown_limit, c.guard.window, c.guard.ban);
}

// SIGHUP: limits and the guard's numbers change now; sockets, state, directory, threads
// and user at restart. A file that does not load keeps the running configuration.
void reload(const std::string& path, const Config& running, const Deps& deps,
            Snapshot<policy::Engine>& engine, Snapshot<const Config>& current,
            radius::Listener* radius) {
    auto cfg = load_config(path);
    if (!cfg) {
        log::error("reload refused, keeping the running configuration: {}", cfg.error().message);
        return;
    }
    engine.set(make_engine(deps, *cfg));
    current.set(std::make_shared<const Config>(*cfg));
    log::notice("reloaded: {}", describe(*cfg));
    if (radius) radius->reload(cfg->radius);
    if (cfg->policyd.socket != running.policyd.socket || !same_state_settings(*cfg, running) ||
        cfg->directory != running.directory || cfg->policyd.threads != running.policyd.threads ||
        cfg->user != running.user || cfg->group != running.group ||
        cfg->policyd.admin_socket != running.policyd.admin_socket) {
        log::warning(
            "socket, admin socket, state, directory, threads, user and group changes take "
            "effect at restart");
    }
}

}  // namespace

int main(int argc, char** argv) {
    const DaemonOptions opt = parse_daemon_args(
        argc, argv, "pampero-policyd",
        "pampero's Postfix policy server (relay, rate limits, dictionary-attack bans) and "
        "RADIUS accounting listener");
    log::open("pampero-policyd", opt.foreground, opt.debug);
    auto fail = [](const std::string& msg, int code) {
        std::fprintf(stderr, "pampero-policyd: %s\n", msg.c_str());
        return code;
    };

    auto cfg = load_config(opt.config);
    if (!cfg) return fail(cfg.error().message, EX_CONFIG);
    auto run_as = resolve_run_as(cfg->user, cfg->group);
    if (!run_as) return fail(run_as.error().message, EX_CONFIG);
    auto endpoint = parse_endpoint(cfg->policyd.socket);
    if (!endpoint) return fail("policyd.socket: " + endpoint.error().message, EX_CONFIG);
    auto dir = open_directory(cfg->directory, OpenMode::read_only);
    if (!dir) return fail(dir.error().message, EX_CONFIG);
    auto directory = make_cached_directory(std::move(dir).value(),
                                           std::chrono::seconds(cfg->directory_cache_ttl));
    auto state = open_state(*cfg);
    if (!state) return fail(state.error().message, EX_CONFIG);
    policy::StateSubscriberLookup subscribers(**state);
    const Deps deps{**state, *directory, subscribers};
    Snapshot<policy::Engine> engine(make_engine(deps, *cfg));

    raise_descriptor_limit("policyd.max_connections", cfg->policyd.max_connections,
                           kOwnDescriptors);
    metrics::Registry registry;
    policyd::PolicydMetrics counters(registry, **state);
    const UnixSocketAccess socket_access{cfg->policyd.socket_owner, cfg->policyd.socket_group,
                                         cfg->policyd.socket_mode};
    policyd::Server server(engine, {*endpoint, cfg->policyd.threads, cfg->policyd.timeout,
                                    cfg->policyd.max_connections, socket_access, &counters});
    // Before binding: a second instance is told it is one, not that the port is taken.
    std::optional<PidFile> pid_file;
    if (!opt.pid_file.empty()) {
        auto p = PidFile::create(opt.pid_file);
        if (!p) return fail(p.error().message, EX_CONFIG);
        pid_file.emplace(std::move(*p));
    }
    if (auto st = server.listen(); !st) {
        return fail("cannot listen: " + st.error().message, listen_failure_exit_code(st.error()));
    }
    // RADIUS accounting (radius_listener.hpp): binds now, runs on the server's first loop
    // (its workers start once the loops run: after the fork, signals blocked).
    auto radius = radius::start_listener(
        server.io_context(), **state, cfg->radius,
        [&counters](std::string_view outcome) { counters.radius_packets.get({outcome}).inc(); });
    if (!radius) {
        return fail(radius.error().message, listen_failure_exit_code(radius.error()));
    }
    std::unique_ptr<metrics::HttpServer> metrics_server;
    if (!cfg->policyd.metrics.empty()) {
        // A unix: endpoint gets what the policy socket gets (policyd.socket_*).
        auto m = metrics::open_http_server(registry, "policyd.metrics", cfg->policyd.metrics,
                                           socket_access);
        if (!m) return fail(m.error().message, listen_failure_exit_code(m.error()));
        metrics_server = std::move(*m);
    }
    // The admin socket (admin_socket.hpp): bound now, as root and before any thread (it
    // sets the umask for the bind); answers with the configuration of the last reload.
    Snapshot<const Config> current(std::make_shared<const Config>(*cfg));
    std::unique_ptr<policyd::AdminSocket> admin;
    if (!cfg->policyd.admin_socket.empty()) {
        radius::Listener* rl = radius->get();
        auto a = policyd::open_admin_socket(
            server.io_context(), cfg->policyd.admin_socket,
            [&state = **state, &dir = *directory, &current, rl](std::string_view q) -> std::string {
                const auto c = current.get();
                if (auto a = policyd::answer_policy_admin(state, &dir, c->guard, c->ratelimit, q))
                    return *a;
                if (rl) return rl->answer_admin(q);
                if (q.substr(0, 7) == "session")
                    return "error permanent RADIUS accounting is not enabled (no radius: "
                           "section)\n";
                return "error permanent unknown question (expected: ban list | ban del IP | "
                       "ratelimit show KEY | sessions | session IP)\n";
            });
        if (!a)
            return fail("policyd.admin_socket: " + a.error().message,
                        listen_failure_exit_code(a.error()));
        admin = std::move(*a);
    }
    if (!opt.foreground) {
        server.before_fork();
        daemonize();
        server.after_fork_in_child();
        if (pid_file) (void)pid_file->update();
    }
    if (auto st = drop_privileges(*run_as, "pampero-policyd"); !st) {
        log::error("{}", st.error().message);
        return EX_CONFIG;
    }
    block_signals();  // before any thread: they inherit the mask, main alone gets signals
    server.start();
    if (admin) admin->start();
    if (metrics_server) metrics_server->start();  // a thread: after fork and privileges
    log::notice("starting on {} ({} threads): directory {}, state {}; {}", endpoint->str(),
                cfg->policyd.threads, cfg->directory, cfg->state, describe(*cfg));
    for (;;) {
        const int sig = wait_for_signal();
        if (sig == SIGHUP) {
            reload(opt.config, *cfg, deps, engine, current, radius->get());
            continue;
        }
        log::notice("stopping on signal {}", sig);
        break;
    }
    if (admin) admin->stop();
    if (*radius) (*radius)->stop();
    server.stop(kStopGrace);
    if (metrics_server) metrics_server->stop();
    log::notice("stopped");
    return 0;
}
