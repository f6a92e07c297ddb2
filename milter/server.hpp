// server.hpp - pampero-milter's milter protocol server: one listening socket, one
// Connection (and one Session) per MTA connection, event-driven on `threads` Asio
// io_contexts, each run by its own thread. A new connection goes to the loop with the
// fewest and stays there. The socket, the loops, the connection cap, the descriptor
// reserve and the graceful stop are common/stream_server.hpp's (pampero-policyd has the
// same); what a connection says is here.
//
// Why a loop per thread rather than one io_context run by all threads: with one shared
// loop, completions were handed between threads (futex wake-ups, and epoll_ctl to
// interrupt epoll_wait): strace -c over 500 messages of a bench/smtp-pipeline run counted
// 9.4 futex and 11.7 epoll_ctl calls a message, 2.2 and 2.8 with a loop per thread and
// reads queued with async_read_some (async_wait re-armed epoll on every read). The
// milter's CPU per message fell by about a fifth (see the commit). A loop with one thread
// never locks or wakes anyone; the price is that a long scan delays the other connections
// of its loop (not of the others), which is why the loops are many and new connections go
// to the quietest.
//
// Why not libmilter: its thread per connection and its poll() before every read took
// about half of the milter's CPU under load (the scan itself 3-5%), so a Postfix with
// pampero kept 0.41-0.62 of its throughput alone. Here one read takes every packet the
// MTA pipelined, and every reply of one step leaves in one write.
//
// The milter protocol itself (macros, which step owes a reply, what is negotiated and
// why: four round trips a message) is the Dialog's (dialog.hpp): a Connection here reads,
// frames packets, feeds them to its Dialog and writes what it returns.
// TCP: TCP_NODELAY on every accepted socket (a reply never waits for an ACK), and
// TCP_QUICKACK after a read that gets no reply (macros, headers under NR_HDR): the MTA's
// next small write does not wait under Nagle for our delayed ACK. Measured with
// bench/milter-latency: TCP now costs what a unix socket does.
//
// Errors: a protocol error (protocol.hpp) or an unexpected command gets 't' (tempfail)
// if the MTA waits for a reply, one log line with the connection id (dialog.hpp), and
// that connection is closed; the others go on.
//
// Bounds on what a peer can make us hold, whatever it sends (issue 8):
//   connections  at most `max_connections` at once. One more is accepted and closed at
//             once: the MTA applies its milter_default_action at the first try (tempfail
//             in conf/postfix: the client retries, nothing is lost), where leaving it in
//             the listen queue would hold an smtpd process for milter_connect_timeout
//             and answer the same in the end. One log line a second at most, with how
//             many were refused since the last one.
//   descriptors  when accept() fails for want of descriptors (EMFILE, ENFILE), a spare
//             descriptor kept for the purpose is closed, the waiting connection accepted
//             and closed at once (refused as above), the spare reopened: the MTA hears
//             no at once instead of waiting in the queue, the accepting loop does not
//             spin on the error, and established connections are served as before (they
//             need no new descriptor). One log line a second at most. `LimitNOFILE` in
//             the systemd unit keeps this for accidents: it is well above max_connections.
//   memory    a connection's input buffer follows the octets received, not the length a
//             packet announces (input_buffer.hpp), and shrinks back once a large packet is
//             handled; before option negotiation a packet may announce at most
//             proto::kMaxNegotiationLength octets. A packet is at most
//             proto::kMaxPacketLength; total header bytes per message are the Session's.
//   time      every packet must arrive whole within `timeout` seconds of the previous one
//             (or of our last reply): the deadline moves when a packet is complete, not on
//             every read, so a peer dripping a packet an octet at a time is closed after
//             `timeout` seconds. A reply the MTA does not take within `timeout` seconds
//             closes the connection too.
// Session calls run inline on the loop threads and may block (SQLite, ClamAV, DNS): that
// is why there are several loops. One connection's handlers never run concurrently (they
// all run on its loop's one thread).
//
// Thread-safety: listen(), start() and stop() from the main thread, in that order.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "pampero/common/endpoint.hpp"
#include "pampero/common/result.hpp"
#include "pampero/common/socket_access.hpp"
#include "session.hpp"

namespace pampero::milter {

struct ServerOptions {
    std::string socket = "inet:10025@127.0.0.1";  // endpoint.hpp's syntax
    int threads = 8;                              // event loops, a thread each
    int timeout = 300;  // seconds a packet may take to arrive whole (or the MTA to take our reply)
    int max_connections = 512;     // connections served at once; more are refused (see above)
    UnixSocketAccess unix_access;  // a unix: socket's owner/group/mode (milter.socket_*)
};

class Server {
  public:
    Server(Services& services, ServerOptions options);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds (a stale UNIX socket file is removed first, as libmilter did). Call before
    // daemonizing, so the admin sees the error.
    Status listen();
    // Around daemonize()'s fork, when the process goes to the background.
    void before_fork();
    void after_fork_in_child();
    // Starts the threads and accepting.
    void start();
    // Stops accepting; idle connections are closed at once, those inside a transaction
    // (MAIL seen, no end of message or abort yet) may finish it within `grace`, then are
    // closed too. A connection with bytes not yet handled (half a packet buffered, or
    // data waiting in its socket, as a MAIL sent just before the signal) counts as busy.
    // Returns when every thread has ended.
    void stop(std::chrono::seconds grace);

    struct Impl;  // server.cpp

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace pampero::milter
