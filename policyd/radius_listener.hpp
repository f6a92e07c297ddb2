// radius_listener.hpp - pampero-policyd's RADIUS accounting listener: UDP sockets read by
// workers it starts from the daemon's standalone-Asio io_context, feeding
// radius_accounting.hpp; it answers the RADIUS questions of the daemon's admin socket
// (admin_socket.hpp, radius_admin.hpp).
//
// Use (the daemon's main):
//   auto radius = radius::start_listener(io, state, cfg->radius);   // binds now
//   ... io.run() on the daemon's threads ...
//   on SIGHUP: radius->reload(new_cfg->radius);  // clients, secrets, TTLs; not `listen`
//   on SIGTERM: radius->stop(); then stop the io_context and destroy the listener.
// start_listener() is called at start-up, before the daemon starts threads of its own (it
// binds every `radius.listen` address (IPv4 "IP:PORT", IPv6
// "[IP]:PORT", IPv6 sockets v6-only) before it returns, so a port in
// use fails the start (ErrorKind::temporary: daemon.hpp's listen_failure_exit_code, 69) instead
// of a later surprise; a malformed address is ErrorKind::config.
// A datagram from an address in no `radius.clients` entry is dropped unanswered; the
// first entry whose CIDR holds the source decides the secret.
// Threads: the UDP sockets are read by `radius.threads` workers of the listener's own
// (poll, then recvmmsg of up to 8 datagrams into 4096-octet buffers - the RFC 2865
// maximum, more is padding - each handled in turn, the answers sent with one sendmmsg).
// Accounting is CPU-bound (two MD5s and a handful of state operations a packet), so one
// event-loop thread would cap it at one core; FreeRADIUS uses a thread pool for the same
// reason. The workers start from a handler posted to `io`, i.e. once the daemon runs its
// io_context: after it forked (threads do not survive fork) and blocked its signals.
// Drops (unknown client, malformed, bad authenticator, state failure, answer not sent)
// are logged at most once a second per kind, with a count, so a flood costs a line a
// second.
// Thread-safety: reload() and stop() may be called from any thread (the main thread
// handling signals), answer_admin() from any; the UDP sockets are read by the workers
// only. Destroy the Listener before the io_context.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "pampero/common/config.hpp"
#include "pampero/common/result.hpp"
#include "pampero/common/state.hpp"

namespace asio {
class io_context;
}

namespace pampero::radius {

class Listener {
  public:
    virtual ~Listener() = default;
    // Swaps in new clients, secrets and session settings (validated by load_config);
    // `listen` changes are logged as taking effect at restart.
    virtual void reload(const RadiusConfig& cfg) = 0;
    // Stops the workers (each finishes the batch in hand). Destroying the Listener stops
    // and joins the workers.
    virtual void stop() = 0;
    // The answer to a RADIUS question of the daemon's admin socket (radius_admin.hpp:
    // "sessions", "session IP"); thread-safe.
    virtual std::string answer_admin(std::string_view question) = 0;
};

// Told what became of every datagram, on the worker threads: "recorded", "retransmission",
// "malformed", "not_accounting", "bad_authenticator", "state_failed" or "unknown_client"
// (the daemon's metrics). Must be cheap and thread-safe; empty: nothing is told.
using OutcomeHook = std::function<void(std::string_view outcome)>;

// Nothing to start when cfg.enabled is false: returns nullptr.
Result<std::unique_ptr<Listener>> start_listener(asio::io_context& io, State& state,
                                                 const RadiusConfig& cfg,
                                                 OutcomeHook on_outcome = {});

}  // namespace pampero::radius
