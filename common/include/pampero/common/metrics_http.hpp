// metrics_http.hpp - the HTTP endpoint Prometheus scrapes: GET /metrics, nothing else.
//
// One thread, poll() over the listening socket and the open connections, non-blocking
// I/O: a slow or silent peer costs a slot, never the thread. Each connection carries one
// request and is closed after the answer (Connection: close):
//   GET /metrics (query string ignored)          200, the registry's page (text/plain;
//                                                version=0.0.4)
//   GET of any other path                        404
//   a well-formed request with another method    405
//   anything that is not an HTTP/1.x request     400
// Bounds, whatever a peer sends: a request head of at most kMaxRequest bytes (past it:
// 400 and close); at most kMaxConnections connections at once (one more is closed at
// once, unanswered); kRequestTimeout for the request to arrive, the answer to leave and
// the peer to close (after the answer, what it still sends is read and dropped, so the
// close does not reset the connection under an answer not yet read); then the
// connection is closed. The listener keeps serving through all of these.
// The socket comes bound and listening from the daemon (it binds before dropping root and
// before fork: the thread starts later, in start()). Access is the socket's: bind it to
// loopback or a unix: path; the page holds counts, no addresses and no user names.
// Thread-safety: start() and stop() from one thread; the registry is read concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "pampero/common/metrics.hpp"
#include "pampero/common/result.hpp"
#include "pampero/common/socket_access.hpp"

namespace pampero::metrics {

constexpr std::size_t kMaxRequest = 8192;
constexpr std::size_t kMaxConnections = 16;
constexpr std::chrono::seconds kRequestTimeout{10};

class HttpServer {
  public:
    // Takes ownership of `listen_fd` (a listening stream socket).
    HttpServer(const Registry& registry, int listen_fd);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    void start();
    void stop();  // returns once the thread has ended and every socket is closed

  private:
    void run();

    const Registry& registry_;
    int fd_;
    int wake_[2] = {-1, -1};  // a pipe: stop() writes, poll() wakes
    std::thread thread_;
};

// The endpoint a daemon's `metrics:` key names (`key`, e.g. "milter.metrics", names it in
// errors), bound and listening, not started: a malformed socket is ErrorKind::config (the
// daemon refuses to start), a socket that cannot be made ErrorKind::temporary. A unix:
// socket gets `access` (owner, group, mode) before it listens, as the daemon's other unix
// sockets do (socket_access.hpp; a daemon passes its own socket_* keys): never the
// umask's mode. An owner or group that cannot be applied is ErrorKind::config.
Result<std::unique_ptr<HttpServer>> open_http_server(const Registry& registry, std::string_view key,
                                                     const std::string& spec,
                                                     const UnixSocketAccess& access = {});

// What the server answers to one request head, exposed for tests. `head` is everything
// up to and including the blank line (or what arrived, when `complete` is false because
// it grew past kMaxRequest).
std::string http_response(const Registry& registry, std::string_view head, bool complete = true);

}  // namespace pampero::metrics
