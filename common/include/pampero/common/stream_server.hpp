// stream_server.hpp - the Asio scaffolding of a daemon that serves stream connections
// (pampero-milter's milter socket, pampero-policyd's policy socket): one listening socket
// (endpoint.hpp's syntax and listen_on(), a unix socket's owner and mode included), `threads`
// io_contexts each run by its own thread, a connection cap, accepting that survives running
// out of descriptors, and a graceful stop. What a connection says is the daemon's: it
// subclasses StreamServer::Connection and hands the server a factory.
//
// Why a loop per thread (milter/server.hpp measured it): a connection lives on one loop
// from accept to close, so its handlers never run concurrently and nothing is handed
// between threads. A new connection goes to the loop with the fewest and stays there.
//
// Bounds on what peers can make the server hold, whatever they send:
//   connections  at most `max_connections` at once (every Connection not yet destroyed
//             counts, closing ones too: they still hold their descriptor). One more is
//             accepted and closed at once, so the MTA applies its default action now
//             instead of waiting in the listen queue. One log line a second at most, with
//             how many were refused since the last one (LogThrottle).
//   descriptors  when accept() fails for want of descriptors (EMFILE, ENFILE), a spare
//             descriptor kept for the purpose is closed, the waiting connection accepted
//             and closed at once (refused as above), the spare reopened: the peer hears no
//             at once, the accepting loop does not spin on the error, and established
//             connections go on (they need no new descriptor). Other accept() failures
//             pause accepting for 100 ms. One log line a second at most for each.
//   time      the connections' own (IdleDeadline below helps them keep one).
// TCP: TCP_NODELAY on every accepted socket (a reply is what the peer waits for).
//
// stop(grace): stops accepting, calls drain() on every connection (on its loop); those
// still open after `grace` get close(), and the server waits up to 5 s more for their
// handlers to end (a handler blocked in a lookup ends when the lookup returns). Then the
// threads end and a unix socket's file is removed.
//
// Errors: listen() returns listen_on()'s error (ErrorKind::config for a malformed spec,
// temporary for a socket that cannot be made), prefixed with "<name> socket". A handler
// that throws (out of memory, most likely) loses its connection; the loop logs it and goes
// on serving the others.
// Thread-safety: listen(), before_fork(), after_fork_in_child(), start() and stop() from
// the main thread, in that order; tcp() and io_context() from any thread. The factory runs
// on the accepting loop's thread; a Connection's start(), drain() and close() on its own
// loop's thread.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "pampero/common/endpoint.hpp"
#include "pampero/common/result.hpp"
#include "pampero/common/socket_access.hpp"

namespace pampero {

struct StreamServerOptions {
    // Names it in log lines: "<name> socket: ...", "<name> thread: ...".
    std::string name;
    // The configuration key of max_connections, named when connections are refused.
    std::string cap_key;
    Endpoint endpoint;
    UnixSocketAccess unix_access;  // a unix socket's owner, group and mode
    int threads = 1;               // event loops, a thread each (at least one)
    int max_connections = 512;     // connections at once; more are refused (see above)
};

class StreamServer {
  public:
    using Socket = asio::generic::stream_protocol::socket;
    struct Loop;
    struct Impl;

    // What a Connection holds while it lives: it counts the connection on its loop and
    // against max_connections, and gives both back when the Connection is destroyed.
    class Slot {
      public:
        Slot(Impl* impl, Loop* loop, std::uint64_t id);
        Slot(Slot&& o) noexcept;
        Slot& operator=(Slot&&) = delete;
        ~Slot();

      private:
        Impl* impl_;
        Loop* loop_;
        std::uint64_t id_;
    };

    // A daemon's connection. Made by the factory, owned by shared_ptr (its pending
    // handlers hold it); the server keeps only a weak reference, for stop().
    class Connection {
      public:
        virtual ~Connection() = default;
        // The executor of the loop the socket was accepted on (socket.get_executor()).
        virtual asio::any_io_executor executor() = 0;
        // On its loop: begin reading.
        virtual void start() = 0;
        // On its loop, at stop(): close now if idle, else finish what is under way.
        virtual void drain() = 0;
        // On its loop, when stop()'s grace is over: close now.
        virtual void close() = 0;

      protected:
        explicit Connection(Slot slot) : slot_(std::move(slot)) {}

      private:
        Slot slot_;  // destroyed last: the socket is closed by then
    };

    // Makes the connection for an accepted socket; `id` is unique in this server. May
    // throw (the socket is then closed and the error logged).
    using Factory =
        std::function<std::shared_ptr<Connection>(Socket socket, std::uint64_t id, Slot slot)>;

    StreamServer(StreamServerOptions options, Factory factory);
    ~StreamServer();  // stop(0) if still running
    StreamServer(const StreamServer&) = delete;
    StreamServer& operator=(const StreamServer&) = delete;

    // Binds and listens (a stale unix socket file is replaced). Call before daemonizing,
    // so the admin sees the error.
    Status listen();
    // Around daemonize()'s fork.
    void before_fork();
    void after_fork_in_child();
    // Starts the threads and accepting.
    void start();
    // See above. Returns when every thread has ended.
    void stop(std::chrono::seconds grace);

    // True for inet/inet6 (valid after listen()).
    bool tcp() const;
    // The first loop's io_context, for other listeners that share the daemon's loops:
    // work posted before start() runs once the loops do. Valid for the server's life.
    asio::io_context& io_context();

  private:
    std::unique_ptr<Impl> impl_;
};

// A connection's deadline: `timeout` after the last touch(), watched by one timer that is
// armed once and not re-armed per packet: it wakes at the deadline it was set for and
// sleeps again when touch() moved it meanwhile. Use on the connection's loop only.
class IdleDeadline {
  public:
    IdleDeadline(const asio::any_io_executor& ex, std::chrono::seconds timeout)
        : timer_(ex), timeout_(timeout) {}

    std::chrono::seconds timeout() const { return timeout_; }
    void touch() { deadline_ = std::chrono::steady_clock::now() + timeout_; }
    // Starts watching (touch() first); `on_expired` is called once, on the loop, when the
    // deadline passes. `owner` (the connection) is kept alive while the timer waits.
    void start(std::shared_ptr<void> owner, std::function<void()> on_expired);
    // No more calls to on_expired; the pending wait ends and drops `owner`.
    void cancel();

  private:
    void arm(std::shared_ptr<void> owner);

    asio::steady_timer timer_;
    std::chrono::seconds timeout_;
    std::chrono::steady_clock::time_point deadline_{};
    std::function<void()> on_expired_;
    bool cancelled_ = false;
};

}  // namespace pampero
