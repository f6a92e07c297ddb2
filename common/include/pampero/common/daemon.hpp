// daemon.hpp - what every pampero daemon does the same way: its command line
// (-c FILE, -f, -d, -p FILE, --version, --help), going to the background, and waiting for signals.
//
// Signals: SIGHUP reloads, SIGTERM and SIGINT stop gracefully. wait_for_signal() must be
// called from the main thread after block_signals() and before other threads exist, so
// every thread inherits the blocked mask and the main thread alone receives them.
#pragma once

#include <string>

#include "pampero/common/result.hpp"

namespace pampero {

struct DaemonOptions {
    std::string config;
    bool foreground = false;
    bool debug = false;
    std::string pid_file;  // -p: written after going to the background (pid_file.hpp)
};

// Exits the process for --help, --version and bad arguments (exit code 64, EX_USAGE).
DaemonOptions parse_daemon_args(int argc, char** argv, const std::string& name,
                                const std::string& description);

// fork, setsid, chdir("/"), stdio to /dev/null. Call before any thread starts.
void daemonize();

// Raises RLIMIT_NOFILE's soft limit towards max_connections + own (the daemon's own
// listeners, logs and files), never above the hard limit (systemd's soft default is 1024,
// its hard one far higher). Short of it, logs a warning naming `key` (e.g.
// "milter.max_connections"): connections would be refused for want of descriptors.
void raise_descriptor_limit(const std::string& key, int max_connections, unsigned own);

// The exit code when a socket (a daemon's own, its metrics, admin or RADIUS one) cannot be
// opened, the same in every daemon: a setting that is malformed or cannot be used as
// written (ErrorKind::config: a bad socket spec, an unknown socket_owner) is EX_CONFIG (78),
// which the systemd units do not restart on; a well-formed socket that cannot be bound now
// (address in use, often the previous instance still draining; address not there yet;
// no permission) is EX_UNAVAILABLE (69), and Restart=on-failure tries again. Not
// EX_SOFTWARE (70): nothing is wrong in the program.
int listen_failure_exit_code(const Error& e);

void block_signals();
// Returns SIGHUP, SIGTERM or SIGINT.
int wait_for_signal();
// The same, or 0 after timeout_seconds without a signal (for periodic checks).
int wait_for_signal(int timeout_seconds);

}  // namespace pampero
