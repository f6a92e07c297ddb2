// server.hpp - pampero-policyd's policy delegation server: Postfix's check_policy_service
// connects, sends requests (policy_codec.hpp), and gets one `action=` reply for each.
//
// Shape: as pampero-milter's, from the same common/stream_server.hpp (milter/server.hpp
// says why): `threads` Asio io_contexts, each run by one thread; a connection lives on one
// loop from accept to close, so its handlers never run concurrently. A decision is a few
// State and (cached) directory lookups, so one loop per core is enough.
//
// Per request: the decoder's result is decided (policy/decision.hpp) and answered; many
// requests per connection, in order. A malformed request (policy_codec.hpp) is answered
// DEFER_IF_PERMIT naming the problem and the connection goes on.
// When a decision cannot be made (State or directory down: ErrorKind::temporary), the
// connection is logged and closed WITHOUT an answer, as SMTPD_POLICY_README asks of a
// policy server in trouble: Postfix then answers the client 451 4.3.5 and tries again
// later. Nothing is ever permitted by default.
//
// Bounds on what a peer can make us hold:
//   connections  at most `max_connections` at once; one more is accepted and closed at
//             once (Postfix logs it and answers 451 4.3.5). One log line a second at most.
//             Out of descriptors, the same (stream_server.hpp's spare descriptor).
//   memory    the decoder's bounds (policy_codec.hpp: one line of kMaxLine octets,
//             kMaxAttributes attributes); replies of one read are written at once, and
//             reading stops until they are written, so a peer that does not read its
//             replies holds at most one read's worth (kReadSize octets of requests).
//   time      a request must arrive whole within `timeout` seconds of the previous reply
//             (or of connecting), and a reply must be taken within `timeout` seconds;
//             otherwise the connection is closed. Postfix itself closes an idle policy
//             connection after smtpd_policy_service_max_idle (300 s).
// stop(): stops accepting; connections between requests close at once, one inside a
// request may finish it within `grace`.
// Thread-safety: listen(), start() and stop() from the main thread, in that order.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "pampero/common/endpoint.hpp"
#include "pampero/common/result.hpp"
#include "pampero/common/snapshot.hpp"
#include "pampero/common/socket_access.hpp"
#include "pampero/policy/decision.hpp"
#include "policyd_metrics.hpp"

namespace pampero::policyd {

struct ServerOptions {
    Endpoint endpoint;
    int threads = 2;
    int timeout = 300;
    int max_connections = 1024;
    UnixSocketAccess unix_access;
    PolicydMetrics* metrics = nullptr;  // nullptr: nothing counted (tests)
};

class Server {
  public:
    // `engine` is swapped on reload; each request uses the snapshot current when it came.
    Server(Snapshot<policy::Engine>& engine, ServerOptions options);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    Status listen();  // before daemonizing, so the admin sees the error
    void before_fork();
    void after_fork_in_child();
    void start();
    void stop(std::chrono::seconds grace);

    // The io_context of the first loop, for listeners that share the daemon's loops
    // (the RADIUS accounting socket): work posted there before start() runs once the
    // loops do. Valid from construction to destruction.
    asio::io_context& io_context();

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace pampero::policyd
