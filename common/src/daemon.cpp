#include "pampero/common/daemon.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "pampero/common/config.hpp"
#include "pampero/common/log.hpp"

namespace pampero {

DaemonOptions parse_daemon_args(int argc, char** argv, const std::string& name,
                                const std::string& description) {
    DaemonOptions o;
    o.config = kDefaultConfigPath;
    CLI::App app(description, name);
    app.add_option("-c,--config", o.config, "configuration file")->capture_default_str();
    app.add_flag("-f,--foreground", o.foreground, "stay in the foreground, log to stderr");
    app.add_flag("-d,--debug", o.debug, "log debug lines too");
    app.add_option("-p,--pid-file", o.pid_file,
                   "write the process id here (locked while running, removed at exit)");
    app.set_version_flag("--version", std::string(name) + " " + PAMPERO_VERSION);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        std::exit(app.exit(e) == 0 ? 0 : EX_USAGE);
    }
    return o;
}

void daemonize() {
    const pid_t pid = fork();
    if (pid < 0) {
        std::perror("fork");
        std::exit(EX_OSERR);
    }
    if (pid > 0) std::_Exit(0);
    setsid();
    if (chdir("/") != 0) std::perror("chdir /");
    const int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2) close(fd);
    }
}

namespace {
sigset_t handled_set() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    return set;
}
}  // namespace

void block_signals() {
    sigset_t set = handled_set();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);
}

int wait_for_signal() {
    sigset_t set = handled_set();
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) == 0) return sig;
    }
}

int wait_for_signal(int timeout_seconds) {
    sigset_t set = handled_set();
    const timespec timeout{timeout_seconds, 0};
    for (;;) {
        const int sig = sigtimedwait(&set, nullptr, &timeout);
        if (sig > 0) return sig;
        if (errno == EAGAIN) return 0;
    }
}

int listen_failure_exit_code(const Error& e) {
    return e.kind == ErrorKind::config ? EX_CONFIG : EX_UNAVAILABLE;
}

void raise_descriptor_limit(const std::string& key, int max_connections, unsigned own) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    const rlim_t want = static_cast<rlim_t>(max_connections) + own;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rlimit raised = rl;
        raised.rlim_cur = rl.rlim_max == RLIM_INFINITY ? want : std::min(want, rl.rlim_max);
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        log::warning(
            "{} is {} but only {} file descriptors are allowed (LimitNOFILE): connections "
            "may be refused for want of descriptors before the cap",
            key, max_connections, static_cast<unsigned long long>(rl.rlim_cur));
    }
}

}  // namespace pampero
