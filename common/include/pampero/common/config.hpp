// config.hpp - pampero.yaml, the one configuration file of every daemon and the CLI.
//
// load_config() validates the whole file: unknown keys, wrong types and out-of-range
// values refuse to load with "FILE:LINE: message". Relative paths in the file are taken
// relative to the file's own folder, so a test or demo tree can be moved as a whole.
// The Config is a plain immutable value; a reload builds a new one and swaps it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pampero/common/blocklist_config.hpp"
#include "pampero/common/result.hpp"

namespace pampero {

constexpr const char* kDefaultConfigPath = "/etc/pampero/pampero.yaml";

struct MilterConfig {
    std::string socket = "inet:10025@127.0.0.1";  // Postfix/Sendmail syntax
    std::uint64_t scan_limit = 2 * 1024 * 1024;   // bytes of a message the rules see
    int timeout = 300;                            // seconds a packet may take to arrive whole
    int threads = 8;  // threads serving the MTA's connections (scans block: SQLite, ClamAV, DNS)
    // A unix: socket's access (socket_access.hpp): the MTA's user must be able to connect.
    std::string socket_owner;              // "": the daemon's own user
    std::string socket_group = "postfix";  // the default is skipped (warned) when absent
    unsigned socket_mode = 0660;
    // MTA connections served at once; one more is closed at once (the MTA's
    // milter_default_action applies). 512: a Postfix at default_process_limit 100 holds
    // one per smtpd, with room for a second instance (submission) and for raised limits.
    int max_connections = 512;
    // Bounds on one message (milter/session.hpp): over either header bound it is refused
    // 552 5.3.4, under them every header is kept and scanned; the milter keeps at most
    // max(max_message_memory, scan_limit) bytes of it to find its later MIME parts.
    int max_headers = 10000;                       // header fields
    std::uint64_t max_header_bytes = 1024 * 1024;  // bytes of the header section
    std::uint64_t max_message_memory = 10 * 1024 * 1024;
    // Prometheus endpoint (common/metrics_http.hpp), in the socket syntax; "": none.
    std::string metrics;
    // The relay and rate decisions of pampero-policyd at RCPT (policy/decision.hpp), for
    // sites whose MTA has no policy delegation (Sendmail).
    bool relay_check = false;
};

struct GuardConfig {
    int unknown_limit = 5;  // unknown recipients per client IP ...
    int window = 600;       // ... within this many seconds ...
    int ban = 3600;         // ... ban the IP for this long
    // A client is its network: IPv6 rotates within an allocation (see ip_prefix.hpp).
    int ipv4_prefix = 32;  // 16..32
    int ipv6_prefix = 64;  // 32..128
    // Memory state: counters and bans each hold at most this many clients (state.hpp).
    std::size_t max_tracked = 100000;
    // on_state_error (a top-level key, read with `state`): false = tempfail (4xx, the
    // default); true = continue: a State failure turns the guard off for that call and
    // skips the rates of mail to local users, with a warning; relaying never (decision.hpp).
    bool continue_on_state_error = false;
};

// pampero-policyd: Postfix policy delegation (policyd/server.hpp).
struct PolicydConfig {
    std::string socket = "inet:10031@127.0.0.1";  // Postfix syntax (endpoint.hpp)
    int threads = 2;                              // event loops, a thread each
    int timeout = 300;           // seconds a request may take to arrive whole (Postfix idles 300 s)
    int max_connections = 1024;  // Postfix holds one per smtpd process
    // Prometheus endpoint (common/metrics_http.hpp), in the socket syntax; "": none.
    std::string metrics;
    // Unix socket pamperoctl asks (bans, rate counters, RADIUS sessions: policyd/
    // admin_socket.hpp); "": none. radius.admin_socket is its older name, still read.
    std::string admin_socket;
    // A unix: policy (and metrics) socket's owner, group and mode, as milter.socket_*.
    std::string socket_owner;              // "": the daemon's own user
    std::string socket_group = "postfix";  // the default is skipped (warned) when absent
    unsigned socket_mode = 0660;
};

// Outbound rates of authenticated users and RADIUS customers (policy/rate_limit.hpp):
// fixed windows of one hour in the state backend; 0: no limit.
struct RateLimitConfig {
    int messages_per_hour = 200;
    int recipients_per_hour = 1000;
    int recipients_per_message = 100;
};

// What pampero-store does with a message whose verdict it cannot trust (see
// pampero/verdict/verdict_signature.hpp): file it as unscored into the
// Inbox, into the spam folder, or answer 451 so the MTA keeps it queued.
enum class UnverifiedRule { inbox, spam, tempfail };

struct StoreConfig {
    std::string lmtp = "inet:24@127.0.0.1";
    std::string socketmap = "inet:10026@127.0.0.1";
    std::string node = "local";
    std::string mail_root = "/var/mail/pampero";
    std::string spam_folder = "Spam";
    std::uint64_t default_quota = 300ull * 1024 * 1024;
    bool over_quota_tempfail = false;                        // 452 4.2.2 instead of 552 5.2.2
    std::uint64_t message_size_limit = 64ull * 1024 * 1024;  // LMTP SIZE; larger: 552 5.3.4
    // Storage nodes by the name the directory's users carry, each with its LMTP socket
    // (same syntax as `lmtp`): where mail for a user held elsewhere is forwarded, and
    // what the socketmap's `transport` map tells Postfix.
    std::map<std::string, std::string> nodes;
    // Hardening of the listeners and sessions (socket_access.hpp, server.hpp).
    std::string socket_owner;              // unix: sockets; "": the daemon's own user
    std::string socket_group = "postfix";  // the default is skipped (warned) when absent
    unsigned socket_mode = 0660;
    std::vector<std::string> lmtp_clients = {"127.0.0.0/8", "::1/128"};       // TCP peers allowed
    std::vector<std::string> socketmap_clients = {"127.0.0.0/8", "::1/128"};  // (CIDRs)
    int socketmap_sessions = 512;  // concurrent socketmap connections (Postfix: one per process)
    int write_timeout = 300;       // seconds a reply may wait for the client to read
    std::uint64_t spool_threshold = 1024 * 1024;  // DATA above this goes to a file, not memory
    // The signed verdict: X-Spam-Score counts only with a valid X-Spam-Signature.
    UnverifiedRule unsigned_rule = UnverifiedRule::inbox;      // `unsigned`: no signature
    UnverifiedRule bad_signature_rule = UnverifiedRule::spam;  // `bad_signature`: one that fails
    int verdict_max_age = 7 * 86400;  // seconds a signature stays good (0: no limit)
    // Prometheus endpoint (common/metrics_http.hpp), in the socket syntax; "": none.
    std::string metrics;
};

// libclamav in-process. Absent from the file: no virus scanning.
struct AntivirusConfig {
    bool enabled = false;
    std::string signatures = "/var/lib/clamav";    // cvd/cld and custom .ndb/.hdb/.ldb
    std::uint64_t max_size = 25ull * 1024 * 1024;  // larger messages are not scanned (logged)
    bool tempfail_on_error = true;                 // on_error: tempfail | accept
    int reload_check = 60;                         // seconds between signature checks
    std::string tmpdir;  // where libclamav unpacks mail parts; empty: $TMPDIR or /tmp
};

// RADIUS accounting in pampero-policyd (policyd/radius_listener.hpp). Absent: no listener.
struct RadiusClient {
    std::string address;  // the NAS's source address, or a CIDR of them
    std::string secret;   // its shared secret (non-empty)
};
struct RadiusConfig {
    bool enabled = false;                                  // a `radius:` section is present
    std::vector<std::string> listen = {"127.0.0.1:1813"};  // UDP "IP:PORT" / "[IPv6]:PORT"
    std::vector<RadiusClient> clients;
    int session_ttl = 86400;    // seconds a session lives without Acct-Interim-Interval
    int interim_factor = 3;     // with one: this many intervals (+ 60 s) without news
    int duplicate_window = 30;  // seconds a retransmission is recognised as one
    std::string admin_socket;   // older name of policyd.admin_socket (load_config copies it)
    int threads = 2;            // workers reading the UDP sockets (CPU-bound: MD5, state)
    std::size_t max_sessions = 100000;  // state: memory holds at most this many sessions
};

// The statistical classifier (scanners/classifier, issue 11). On by default: it abstains
// until its store exists and holds enough learned mail.
struct ClassifierConfig {
    bool enabled = true;
    std::string store = "sqlite:/var/lib/pampero/bayes.db";  // sqlite:PATH or redis://...
    std::int64_t min_spam = 200;  // spam messages learned before it votes
    std::int64_t min_ham = 200;   // ham messages likewise
    // Per-domain / per-user models (scanners/classifier/.../model_set.hpp). `model`: site
    // (one model, `store`), domain or user (each recipient's model, `model_store` with %m
    // its key; a model that abstains falls back to `store`). The two bounds keep a
    // spammer's thousand recipients from opening a thousand files.
    std::string model = "site";               // site | domain | user
    std::string model_store;                  // required unless model is site; contains %m
    std::int64_t max_open_models = 256;       // models kept open per process (LRU)
    std::int64_t max_models_per_message = 8;  // distinct models one message consults
};

struct Config {
    std::string file;  // the file this came from, for messages
    std::string directory = "sqlite:/var/lib/pampero/directory.db";
    int directory_cache_ttl = 30;  // seconds a directory answer is reused
    std::string state = "memory";
    // Redis state (redis_state.hpp): its password from a file (one line, kept out of this
    // file), the time one call may take, connections per process, a prefix for every key.
    std::string state_password_file;
    int state_timeout_ms = 500;
    int state_pool = 16;
    std::string state_prefix;
    std::string rules_dir = "/etc/pampero/rules.d";
    std::string levels = "/etc/pampero/levels.yaml";
    std::string verdict_keys;  // key file signing the spam verdict; "": unsigned
    // The user (and group; default its primary group) every daemon started as root
    // switches to after binding its sockets (privileges.hpp). Empty: stays root, warned.
    std::string user;
    std::string group;
    MilterConfig milter;
    GuardConfig guard;
    StoreConfig store;
    std::vector<BlocklistConfig> blocklists;  // DNSBL/URIBL, see blocklist_config.hpp
    AntivirusConfig antivirus;
    PolicydConfig policyd;
    RateLimitConfig ratelimit;
    RadiusConfig radius;
    ClassifierConfig classifier;
};

// "127.0.0.1:1813" / "[::1]:1813" -> address and port; nullopt when malformed.
struct UdpEndpoint {
    std::string address;
    std::uint16_t port = 0;
};
std::optional<UdpEndpoint> parse_udp_endpoint(const std::string& text);

Result<Config> load_config(const std::string& path);

const char* to_string(UnverifiedRule rule);

// Resolves `path` against the folder of `relative_to_file` unless it is absolute.
std::string resolve_path(const std::string& relative_to_file, const std::string& path);

}  // namespace pampero
