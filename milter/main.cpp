// pampero-milter: the in-session filter. See session.hpp for what it decides.
#include <signal.h>
#include <sys/resource.h>
#include <sysexits.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "milter_metrics.hpp"
#include "pampero/classifier/model_set.hpp"
#include "pampero/classifier/scan_classifier.hpp"
#include "pampero/common/config.hpp"
#include "pampero/common/daemon.hpp"
#include "pampero/common/log.hpp"
#include "pampero/common/metrics_http.hpp"
#include "pampero/common/pid_file.hpp"
#include "pampero/common/privileges.hpp"
#include "pampero/common/state.hpp"
#include "pampero/lists/blocklists.hpp"
#include "pampero/policy/decision.hpp"
#include "pampero/verdict/verdict_signature.hpp"
#include "server.hpp"

using namespace pampero;

namespace {

constexpr int kMirrorCheck = 10;  // seconds between looks at the mirror files
// SIGTERM: how long a connection inside a transaction may take to finish it.
constexpr std::chrono::seconds kStopGrace{30};
// Descriptors the milter holds besides its MTA connections: stdio, the listening socket,
// each loop's epoll/eventfd/timerfd, SQLite's files, mirror files while reloading,
// libclamav's temporary files (one per scan in flight), the spare (server.hpp).
constexpr rlim_t kOwnDescriptors = 128;

// The key file signing the verdict; none configured: nullptr (verdicts unsigned).
Result<std::shared_ptr<const scan::VerdictKeys>> load_verdict_keys(const Config& cfg) {
    if (cfg.verdict_keys.empty()) return std::shared_ptr<const scan::VerdictKeys>();
    return scan::VerdictKeys::load(cfg.verdict_keys);
}

std::string describe_keys(const scan::VerdictKeys* keys) {
    if (!keys) return "verdicts unsigned (no verdict_keys)";
    return fmt::format("verdicts signed with key '{}' of {}", keys->signing().id, keys->origin());
}

void reload(const std::string& path, const Config& running, scan::EngineHolder& holder,
            Snapshot<scan::Blocklists>& lists, Snapshot<const scan::VerdictKeys>& keys) {
    auto cfg = load_config(path);
    if (!cfg) {
        log::error("reload refused, keeping the running configuration: {}", cfg.error().message);
        return;
    }
    auto new_keys = load_verdict_keys(*cfg);
    if (!new_keys) {
        log::error("reload refused, keeping the running keys: {}", new_keys.error().message);
        return;
    }
    auto engine = scan::load_engine(*cfg);
    if (!engine) {
        log::error("reload refused, keeping the running rules: {}", engine.error().message);
        return;
    }
    auto bl = scan::Blocklists::create(cfg->blocklists);
    if (!bl) {
        log::error("reload refused, keeping the running configuration: {}", bl.error().message);
        return;
    }
    holder.set(*engine);
    lists.set(*bl);
    keys.set(*new_keys);
    log::notice("reloaded: {} rules, {} levels, {} blocklists, {}", (*engine)->rule_count(),
                (*engine)->levels().levels.size(), (*bl)->lists().size(),
                describe_keys(new_keys->get()));
    if (cfg->directory != running.directory || !same_state_settings(*cfg, running) ||
        cfg->milter.socket != running.milter.socket ||
        cfg->milter.threads != running.milter.threads ||
        cfg->milter.timeout != running.milter.timeout ||
        cfg->milter.max_connections != running.milter.max_connections ||
        cfg->milter.metrics != running.milter.metrics || cfg->user != running.user ||
        cfg->group != running.group) {
        log::warning(
            "directory, state, socket, threads, timeout, max_connections, metrics, user and "
            "group changes take effect at restart");
    }
}

// New or changed signatures: a new engine is built beside the serving one, then swapped.
void refresh_antivirus(scan::AntivirusWatcher& av) {
    const auto before = av.get();
    if (auto st = av.refresh(); !st && st.error().kind == ErrorKind::temporary) {
        log::warning("{}", st.error().message);  // the folder is gone: said once
    } else if (!st) {
        log::error("new virus signatures refused, keeping the running ones: {}",
                   st.error().message);
    } else if (av.get() != before) {
        log::notice("virus signatures reloaded: {} signatures", av.get()->signatures());
    }
}

}  // namespace

int main(int argc, char** argv) {
    const DaemonOptions opt = parse_daemon_args(argc, argv, "pampero-milter",
                                                "pampero's in-session mail filter (milter)");
    log::open("pampero-milter", opt.foreground, opt.debug);

    auto cfg = load_config(opt.config);
    if (!cfg) {
        std::fprintf(stderr, "pampero-milter: %s\n", cfg.error().message.c_str());
        return EX_CONFIG;
    }
    auto run_as = resolve_run_as(cfg->user, cfg->group);
    if (!run_as) {
        std::fprintf(stderr, "pampero-milter: %s\n", run_as.error().message.c_str());
        return EX_CONFIG;
    }
    auto engine = scan::load_engine(*cfg);
    if (!engine) {
        std::fprintf(stderr, "pampero-milter: %s\n", engine.error().message.c_str());
        return EX_CONFIG;
    }
    auto dir = open_directory(cfg->directory, OpenMode::read_only);
    if (!dir) {
        std::fprintf(stderr, "pampero-milter: %s\n", dir.error().message.c_str());
        return EX_CONFIG;
    }
    auto directory = make_cached_directory(std::move(dir).value(),
                                           std::chrono::seconds(cfg->directory_cache_ttl));
    auto state = open_state(*cfg);
    if (!state) {
        std::fprintf(stderr, "pampero-milter: %s\n", state.error().message.c_str());
        return EX_CONFIG;
    }
    milter::Guard guard(**state, cfg->guard);
    scan::EngineHolder holder(*engine);
    std::unique_ptr<scan::AntivirusWatcher> antivirus;
    if (cfg->antivirus.enabled) {
        auto av = scan::Antivirus::load(cfg->antivirus.signatures, cfg->antivirus.max_size,
                                        cfg->antivirus.tmpdir);
        if (!av) {
            std::fprintf(stderr, "pampero-milter: %s\n", av.error().message.c_str());
            return EX_CONFIG;
        }
        antivirus = std::make_unique<scan::AntivirusWatcher>(
            cfg->antivirus.signatures, cfg->antivirus.max_size, *av, cfg->antivirus.tmpdir);
    }
    auto bl = scan::Blocklists::create(cfg->blocklists);
    if (!bl) {
        std::fprintf(stderr, "pampero-milter: %s\n", bl.error().message.c_str());
        return EX_CONFIG;
    }
    Snapshot<scan::Blocklists> lists(*bl);
    auto verdict_keys = load_verdict_keys(*cfg);
    if (!verdict_keys) {
        std::fprintf(stderr, "pampero-milter: %s\n", verdict_keys.error().message.c_str());
        return EX_CONFIG;
    }
    Snapshot<const scan::VerdictKeys> keys(*verdict_keys);
    std::shared_ptr<classifier::ScanClassifier> bayes;
    if (cfg->classifier.enabled) {
        auto c = classifier::ScanClassifier::open(cfg->classifier.store,
                                                  classifier::options_of(cfg->classifier));
        if (!c) {  // corrupt: refuse to start, naming the file (a missing store abstains)
            std::fprintf(stderr, "pampero-milter: %s\n", c.error().message.c_str());
            return EX_CONFIG;
        }
        bayes = *c;
    }
    // classifier.model domain or user: each recipient's model, the site's as fallback.
    // Its models are opened as mail comes (a corrupt one abstains, model_set.hpp).
    const auto models = classifier::make_model_set(cfg->classifier, bayes);
    metrics::Registry registry;
    milter::MilterMetrics counters(registry);
    milter::Services services{*directory,     guard,  holder, antivirus.get(),
                              cfg->antivirus, &lists, &keys,  &counters};
    // milter.relay_check: the policy daemon's relay and rate decisions (same state keys).
    // Its limits are read at start (a SIGHUP does not change them in the milter).
    policy::StateSubscriberLookup subscribers(**state);
    std::unique_ptr<policy::Engine> relay;
    if (cfg->milter.relay_check) {
        relay = std::make_unique<policy::Engine>(**state, *directory, subscribers, cfg->guard,
                                                 cfg->ratelimit);
        services.relay = relay.get();
    }
    services.classifier = bayes.get();
    services.models = models.get();

    // Each open SQLite model holds its file, -wal and -shm open (model_set.hpp).
    const auto model_descriptors =
        models
            ? static_cast<rlim_t>(classifier::kModelDescriptors * models->options().max_open_models)
            : 0;
    raise_descriptor_limit("milter.max_connections", cfg->milter.max_connections,
                           static_cast<unsigned>(kOwnDescriptors + model_descriptors));
    milter::Server server(
        services, {cfg->milter.socket,
                   cfg->milter.threads,
                   cfg->milter.timeout,
                   cfg->milter.max_connections,
                   {cfg->milter.socket_owner, cfg->milter.socket_group, cfg->milter.socket_mode}});
    // Before binding: a second instance is told it is one, not that the port is taken.
    auto pid_file = PidFile::create_if_asked(opt.pid_file);
    if (!pid_file) {
        std::fprintf(stderr, "pampero-milter: %s\n", pid_file.error().message.c_str());
        return EX_CONFIG;
    }
    if (auto st = server.listen(); !st) {
        std::fprintf(stderr, "pampero-milter: %s\n", st.error().message.c_str());
        return listen_failure_exit_code(st.error());
    }
    std::unique_ptr<metrics::HttpServer> metrics_server;
    if (!cfg->milter.metrics.empty()) {
        // A unix: endpoint gets the milter socket's owner, group and mode (milter.socket_*).
        auto m = metrics::open_http_server(
            registry, "milter.metrics", cfg->milter.metrics,
            {cfg->milter.socket_owner, cfg->milter.socket_group, cfg->milter.socket_mode});
        if (!m) {
            std::fprintf(stderr, "pampero-milter: %s\n", m.error().message.c_str());
            return listen_failure_exit_code(m.error());
        }
        metrics_server = std::move(*m);
    }
    if (!opt.foreground) {
        server.before_fork();
        daemonize();
        server.after_fork_in_child();
        if (*pid_file) (void)(*pid_file)->update();
    }
    // Sockets are bound and files opened: leave root before any thread starts. The
    // directory opens lazily, as this user (it needs the file readable, -shm writable).
    if (auto st = drop_privileges(*run_as, "pampero-milter"); !st) {
        log::error("{}", st.error().message);
        return EX_CONFIG;
    }
    block_signals();  // before any thread: they inherit the mask, main alone gets signals
    log::notice("starting on {} ({} threads): {} rules, {} levels, directory {}, state {}, {}, {}",
                cfg->milter.socket, cfg->milter.threads, (*engine)->rule_count(),
                (*engine)->levels().levels.size(), directory_display(cfg->directory), cfg->state,
                antivirus ? fmt::format("{} virus signatures", antivirus->get()->signatures())
                          : std::string("no virus scanning"),
                describe_keys(verdict_keys->get()));
    if (metrics_server) log::notice("metrics on {}", cfg->milter.metrics);

    server.start();
    if (metrics_server) metrics_server->start();  // a thread: after fork and privileges
    // Mirror files and virus signatures change under us (sync jobs, freshclam): look
    // for new ones every few seconds; rules and levels wait for SIGHUP.
    const int check_every =
        antivirus ? std::min(cfg->antivirus.reload_check, kMirrorCheck) : kMirrorCheck;
    for (;;) {
        const int sig = wait_for_signal(check_every);
        if (sig == 0 || sig == SIGHUP) {
            if (sig == SIGHUP) reload(opt.config, *cfg, holder, lists, keys);
            if (auto l = lists.get(); l && l->reload_changed() > 0)
                log::notice("blocklist mirrors reloaded");
            if (antivirus) refresh_antivirus(*antivirus);
            continue;
        }
        log::notice("stopping on signal {}", sig);
        server.stop(kStopGrace);
        if (metrics_server) metrics_server->stop();
        break;
    }
    return 0;
}
