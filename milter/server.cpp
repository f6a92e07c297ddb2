#include "server.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <asio.hpp>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "dialog.hpp"
#include "input_buffer.hpp"
#include "log_throttle.hpp"
#include "pampero/common/log.hpp"
#include "protocol.hpp"

namespace pampero::milter {

namespace {

using Socket = asio::generic::stream_protocol::socket;
using Clock = std::chrono::steady_clock;

// The read buffer (input_buffer.hpp): what a new connection holds (an option negotiation
// is 17 octets, the macros and commands of one step a few hundred); room for at least
// kMinRead octets per read; kept between packets up to kKeepBuffer (a Postfix body chunk,
// 65535 octets, and what was pipelined behind it: a message of normal size never
// reallocates), released back to kInitialBuffer after a larger packet; never more than
// one packet of kMaxPacketLength, its length field and room for a read.
constexpr std::size_t kInitialBuffer = 4 * 1024;
constexpr std::size_t kMinRead = 1024;
constexpr std::size_t kKeepBuffer = 128 * 1024;
constexpr std::size_t kMaxBuffer = proto::kMaxPacketLength + 4 + kMinRead;

}  // namespace

class Connection;

// One event loop and the thread that runs it. A connection lives on one loop from accept
// to close, so its handlers never run concurrently and nothing is handed between threads
// (see server.hpp for why).
// Members in this order: the io_context's destructor destroys pending handlers and with
// them Connections, which count themselves out of `live`.
struct Loop {
    std::atomic<unsigned> live{0};  // connections on this loop, for placing new ones
    asio::io_context io{1};         // concurrency hint: one thread runs it
    // Made with the loop, not at its first connection: a timer brings up the loop's epoll
    // reactor and its three descriptors now. Out of descriptors later, a loop without its
    // reactor could not take a connection (async_accept would throw) and accepting
    // would stop.
    asio::steady_timer reactor{io};
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::thread thread;
};

struct Server::Impl {
    Impl(Services& s, ServerOptions o) : services(s), options(std::move(o)) {}
    static std::vector<std::unique_ptr<Loop>> make_loops(int n) {
        std::vector<std::unique_ptr<Loop>> v;
        for (int i = 0; i < std::max(1, n); ++i) v.push_back(std::make_unique<Loop>());
        return v;
    }

    Services& services;
    ServerOptions options;
    Endpoint spec;
    bool tcp = false;
    std::atomic<unsigned long> sessions{0};  // "conn-N" names, as the logs always had
    std::atomic<bool> stopping{false};

    // Live connections, for stop(). Declared before the loops so they outlive them:
    // destroying a loop destroys its pending handlers, and with them the last Connection
    // references.
    std::mutex mu;
    std::condition_variable cv;
    std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> connections;
    std::uint64_t next_connection = 0;

    std::vector<std::unique_ptr<Loop>> loops = make_loops(options.threads);  // [0] also accepts
    asio::basic_socket_acceptor<asio::generic::stream_protocol> acceptor{loops.front()->io};
    asio::steady_timer accept_retry{loops.front()->io};
    bool running = false;

    // The connection cap and the descriptor reserve (server.hpp, "connections" and
    // "descriptors"). Used on loop 0's thread only, where accepting happens.
    int spare_fd = -1;         // closed to make room for accept() when out of descriptors
    LogThrottle over_cap_log;  // connections refused at max_connections
    LogThrottle no_fd_log;     // connections refused for want of a descriptor
    LogThrottle accept_log;    // other accept() failures
    std::error_code last_accept_error;
    asio::steady_timer log_flush{loops.front()->io};
    bool log_flush_armed = false;

    // The loop with the fewest connections (a scan blocks its loop's other connections
    // while it runs, so they are spread evenly).
    Loop& quietest_loop() {
        Loop* best = loops.front().get();
        for (auto& l : loops) {
            if (l->live.load(std::memory_order_relaxed) <
                best->live.load(std::memory_order_relaxed))
                best = l.get();
        }
        return *best;
    }
    void accept();
    void accepted(Loop& loop, Socket s);
    void accept_failed(std::error_code ec);
    void refuse(LogThrottle& throttle);
    void log_refusals(LogThrottle& throttle, std::uint64_t n);
    void flush_refusals();
    void forget(std::uint64_t id) {
        std::lock_guard lock(mu);
        connections.erase(id);
        cv.notify_all();
    }
    std::string new_session_name() { return fmt::format("conn-{:x}", ++sessions); }
};

class Connection : public std::enable_shared_from_this<Connection> {
  public:
    Connection(Server::Impl& server, Loop& loop, Socket socket, std::uint64_t id)
        : srv_(server),
          loop_(loop),
          socket_(std::move(socket)),
          timer_(socket_.get_executor()),
          id_(id),
          in_(kInitialBuffer, kMinRead, kKeepBuffer, kMaxBuffer),
          dialog_(server.services, [&server] { return server.new_session_name(); }) {
        ++loop_.live;
    }
    ~Connection() {
        --loop_.live;
        srv_.forget(id_);
    }

    asio::any_io_executor executor() { return socket_.get_executor(); }
    void set_no_delay(std::error_code& ec) {
        socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    }

    // On the connection's loop, all of them.
    void start() {
        touch();
        timer_.expires_at(deadline_);
        timer_.async_wait([self = shared_from_this()](std::error_code ec) { self->on_timer(ec); });
        read();
    }
    void drain() {
        draining_ = true;
        // Idle: close, nothing to finish. Cancel the pending read rather than close the
        // socket: the reactor may already have read bytes on_read has not seen yet (a
        // MAIL under NR_MAIL gets no reply, so the MTA can have sent one just before the
        // signal), and on_read then goes on with them.
        if (reading_ && idle()) {
            std::error_code ec;
            socket_.cancel(ec);
        }
    }
    void close() {
        if (closed_) return;
        closed_ = true;
        std::error_code ec;
        socket_.shutdown(asio::socket_base::shutdown_both, ec);
        socket_.close(ec);
        timer_.cancel();
    }

  private:
    // The deadline for the next whole packet (or for the MTA to take our reply). Moved
    // only when the connection starts, a packet is complete or a reply has been written:
    // never by a read that brings part of a packet (see server.hpp, "time").
    void touch() { deadline_ = Clock::now() + std::chrono::seconds(srv_.options.timeout); }

    void on_timer(std::error_code ec) {
        if (ec == asio::error::operation_aborted || closed_) return;
        if (Clock::now() < deadline_) {  // there was traffic since: wait for the new deadline
            timer_.expires_at(deadline_);
            timer_.async_wait(
                [self = shared_from_this()](std::error_code e) { self->on_timer(e); });
            return;
        }
        if (in_.empty()) {
            log::info("{}: no word from the MTA for {} s; closing the connection", dialog_.name(),
                      srv_.options.timeout);
        } else {
            log::info(
                "{}: no whole packet from the MTA in {} s ({} octets of one buffered); "
                "closing the connection",
                dialog_.name(), srv_.options.timeout, in_.data().size());
        }
        close();
    }

    // Nothing to finish: outside a transaction, no half packet buffered and nothing
    // waiting in the socket.
    bool idle() {
        if (dialog_.in_transaction() || !in_.empty()) return false;
        std::error_code ec;
        const std::size_t waiting = socket_.available(ec);
        return ec || waiting == 0;
    }

    void read() {
        if (closed_) return;
        if (draining_ && idle()) {
            close();
            return;
        }
        // Grows only when the octets already received fill it (input_buffer.hpp): a
        // length field alone costs nothing. next_packet() has refused any length above
        // kMaxPacketLength, so a packet being read always fits in kMaxBuffer.
        const std::span<char> room = in_.prepare();
        reading_ = true;
        // async_read_some, not async_wait + read_some: Asio registers the socket once
        // (edge-triggered) and queues a read without a system call when the last read
        // emptied the socket; async_wait re-arms epoll (epoll_ctl) on every call, which
        // was 8 system calls a message.
        socket_.async_read_some(asio::buffer(room.data(), room.size()),
                                [self = shared_from_this()](std::error_code ec, std::size_t n) {
                                    self->on_read(ec, n);
                                });
    }

    void on_read(std::error_code ec, std::size_t n) {
        reading_ = false;
        if (ec == asio::error::operation_aborted && draining_ && !closed_) {
            read();  // cancelled by drain(): closes unless bytes came in meanwhile
            return;
        }
        if (ec) {
            if (ec != asio::error::eof && ec != asio::error::operation_aborted && !closed_) {
                log::debug("{}: read: {}", dialog_.name(), ec.message());
            }
            close();
            return;
        }
        in_.commit(n);
        const bool keep = handle_buffered();
        if (srv_.tcp && out_.empty()) {
            // Nothing to answer (macros, a header under NR_HDR, half a packet): ACK now,
            // or the MTA's next small write waits under Nagle for our delayed ACK. A
            // reply carries the ACK itself.
            const int one = 1;
            ::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
        }
        if (!out_.empty()) {
            write(keep);
        } else if (keep) {
            read();
        } else {
            close();
        }
    }

    void write(bool keep) {
        touch();  // the MTA has `timeout` seconds to take the reply ...
        asio::async_write(socket_, asio::buffer(out_),
                          [self = shared_from_this(), keep](std::error_code ec, std::size_t) {
                              self->out_.clear();
                              if (ec || !keep) {
                                  self->close();
                                  return;
                              }
                              self->touch();  // ... and as long again for its next packet
                              self->read();
                          });
    }

    // Every complete packet buffered, in order; replies go to out_. False: close after
    // writing out_. Nothing is reserved for a packet whose length is known and whose
    // octets are not here yet: the buffer grows as they arrive (read()).
    bool handle_buffered() {
        for (;;) {
            // Before negotiation only an 'O' packet may come: a small bound (protocol.hpp).
            const proto::Framing f = proto::next_packet(in_.data(), dialog_.max_packet_length());
            if (f.status == proto::Framing::Status::incomplete) return true;
            if (f.status == proto::Framing::Status::error) {
                dialog_.framing_error(f.error, out_);
                return false;
            }
            touch();  // a whole packet: the next one has `timeout` seconds from now
            // The packet's views stay valid: consume() moves no octets.
            in_.consume(f.consumed);
            if (!dialog_.feed(f.packet, out_)) return false;
        }
    }

    Server::Impl& srv_;
    Loop& loop_;
    Socket socket_;
    asio::steady_timer timer_;
    std::uint64_t id_;
    InputBuffer in_;   // read and not yet handled
    Dialog dialog_;    // the milter protocol (dialog.hpp)
    std::string out_;  // the replies of this step, written at once
    Clock::time_point deadline_;
    bool draining_ = false;
    bool reading_ = false;
    bool closed_ = false;
};

void Server::Impl::accept() {
    Loop& loop = quietest_loop();
    try {
        acceptor.async_accept(loop.io, [this, &loop](std::error_code ec, Socket s) {
            if (ec == asio::error::operation_aborted || stopping) return;
            if (ec) {
                accept_failed(ec);
                return;
            }
            accepted(loop, std::move(s));
        });
    } catch (const std::exception& x) {
        // Out of memory, most likely: accepting must not stop for good.
        log::error("milter socket: accept: {}", x.what());
        accept_retry.expires_after(std::chrono::milliseconds(100));
        accept_retry.async_wait([this](std::error_code e) {
            if (!e && !stopping) accept();
        });
    }
}

void Server::Impl::accepted(Loop& loop, Socket s) {
    std::shared_ptr<Connection> c;
    bool over_cap = false;
    try {
        std::lock_guard lock(mu);
        // Every Connection not yet destroyed counts, closing ones too: they still hold
        // their descriptor or are about to give it back.
        over_cap = connections.size() >= static_cast<std::size_t>(options.max_connections);
        if (!over_cap) {
            const std::uint64_t id = ++next_connection;
            c = std::make_shared<Connection>(*this, loop, std::move(s), id);
            connections.emplace(id, c);
        }
    } catch (const std::exception& e) {
        log::error("milter socket: a new connection: {}; closing it", e.what());
        c.reset();
    }
    if (!c) {
        // Over the cap: closed at once, the MTA applies milter_default_action.
        std::error_code ignored;
        s.close(ignored);
        if (over_cap) refuse(over_cap_log);
        accept();
        return;
    }
    if (tcp) {
        std::error_code ignored;
        c->set_no_delay(ignored);
    }
    asio::post(c->executor(), [c] { c->start(); });
    accept();
}

void Server::Impl::accept_failed(std::error_code ec) {
    // Asio's system category, not std::errc: compared by value.
    const bool no_descriptor = ec.category() == asio::error::get_system_category() &&
                               (ec.value() == EMFILE || ec.value() == ENFILE);
    if (no_descriptor && spare_fd >= 0) {
        // Linux says EMFILE before it looks at the queue: there may be nobody waiting.
        // Free the spare, take the waiting connection if there is one, refuse it.
        ::close(spare_fd);
        const int fd =
            ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        const int accept_errno = errno;
        if (fd >= 0) ::close(fd);
        spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (spare_fd >= 0) {
            if (fd >= 0) {
                refuse(no_fd_log);
                accept();  // the next one at once: it may find a descriptor, or go the same way
                return;
            }
            if (accept_errno == EAGAIN || accept_errno == EWOULDBLOCK) {
                // Nobody waiting: try again when someone is (accept() would fail at once
                // again, and again: that is the spinning this avoids).
                acceptor.async_wait(asio::socket_base::wait_read, [this](std::error_code e) {
                    if (!e && !stopping) accept();
                });
                return;
            }
        }
        // Another thread took the freed descriptor (or the spare could not be reopened):
        // fall through to a short pause, as for any other failure.
    }
    last_accept_error = ec;
    if (auto n = accept_log.event(LogThrottle::Clock::now())) {
        log_refusals(accept_log, *n);
    } else {
        flush_refusals();
    }
    accept_retry.expires_after(std::chrono::milliseconds(100));
    accept_retry.async_wait([this](std::error_code e) {
        if (!e && !stopping) accept();
    });
}

void Server::Impl::refuse(LogThrottle& throttle) {
    if (auto n = throttle.event(LogThrottle::Clock::now())) {
        log_refusals(throttle, *n);
    } else {
        flush_refusals();  // arms the timer that reports them
    }
}

void Server::Impl::log_refusals(LogThrottle& throttle, std::uint64_t n) {
    if (&throttle == &over_cap_log) {
        log::warning(
            "milter socket: {} connection{} refused (closed at once) since the last such line: "
            "milter.max_connections ({}) are open",
            n, n == 1 ? "" : "s", options.max_connections);
    } else if (&throttle == &no_fd_log) {
        log::warning(
            "milter socket: {} connection{} refused (closed at once) since the last such line: "
            "out of file descriptors (LimitNOFILE must stay above milter.max_connections, {})",
            n, n == 1 ? "" : "s", options.max_connections);
    } else {
        log::warning("milter socket: accept: {} ({} time{} since the last such line)",
                     last_accept_error.message(), n, n == 1 ? "" : "s");
    }
}

// Lines due now for events counted earlier; the timer comes back for those not due yet.
void Server::Impl::flush_refusals() {
    const auto now = LogThrottle::Clock::now();
    LogThrottle::Clock::time_point next = LogThrottle::Clock::time_point::max();
    for (LogThrottle* t : {&over_cap_log, &no_fd_log, &accept_log}) {
        if (auto n = t->flush(now)) log_refusals(*t, *n);
        if (t->pending() > 0) next = std::min(next, t->due());
    }
    if (next == LogThrottle::Clock::time_point::max() || log_flush_armed || stopping) return;
    log_flush_armed = true;
    log_flush.expires_at(next);
    log_flush.async_wait([this](std::error_code e) {
        log_flush_armed = false;
        if (!e) flush_refusals();
    });
}

Server::Server(Services& services, ServerOptions options)
    : impl_(std::make_unique<Impl>(services, std::move(options))) {}

Server::~Server() {
    if (impl_->running) stop(std::chrono::seconds(0));
}

Status Server::listen() {
    Impl& m = *impl_;
    auto spec = parse_endpoint(m.options.socket);
    if (!spec) return spec.error();
    m.spec = *spec;
    m.tcp = m.spec.tcp();
    // One socket code for every daemon (endpoint.hpp): it replaces a socket file left by a
    // previous run, as smfi_opensocket(true) did, and sets a unix socket's owner and mode
    // before listen(), so Postfix (user postfix) can connect, and nobody else.
    auto fd = listen_on(m.spec, SOMAXCONN, m.tcp ? nullptr : &m.options.unix_access);
    if (!fd) return Error{fd.error().kind, fmt::format("milter socket: {}", fd.error().message)};
    int family = AF_UNIX;
    if (m.tcp) family = m.spec.kind == Endpoint::Kind::inet ? AF_INET : AF_INET6;
    std::error_code ec;
    m.acceptor.assign(asio::generic::stream_protocol(family, m.tcp ? IPPROTO_TCP : 0), *fd, ec);
    if (ec) {
        ::close(*fd);
        return Error::temporary(
            fmt::format("milter socket '{}': {}", m.options.socket, ec.message()));
    }
    return ok_status();
}

void Server::before_fork() {
    for (auto& l : impl_->loops) l->io.notify_fork(asio::execution_context::fork_prepare);
}
void Server::after_fork_in_child() {
    for (auto& l : impl_->loops) l->io.notify_fork(asio::execution_context::fork_child);
}

void Server::start() {
    Impl& m = *impl_;
    m.running = true;
    // Here, after daemonize(): the spare must survive it.
    m.spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (m.spare_fd < 0)
        log::warning("no spare descriptor ({}): out of descriptors, connections will wait",
                     std::strerror(errno));
    asio::post(m.loops.front()->io, [&m] { m.accept(); });
    for (auto& loop : m.loops) {
        loop->work.emplace(loop->io.get_executor());
        loop->thread = std::thread([&io = loop->io] {
            for (;;) {
                try {
                    io.run();
                    return;
                } catch (const std::exception& e) {
                    // A handler threw (out of memory, most likely): that connection is
                    // gone with it; this loop goes back to serving the others.
                    log::error("milter thread: {}", e.what());
                }
            }
        });
    }
}

void Server::stop(std::chrono::seconds grace) {
    Impl& m = *impl_;
    m.stopping = true;
    asio::post(m.loops.front()->io, [&m] {
        std::error_code ec;
        m.acceptor.close(ec);
        m.accept_retry.cancel();
        m.log_flush.cancel();
        if (m.spare_fd >= 0) ::close(m.spare_fd);
        m.spare_fd = -1;
    });
    // Posted outside the lock: the last reference to a Connection may be ours, and its
    // destructor takes the lock.
    auto each_connection = [&m](auto f) {
        std::vector<std::shared_ptr<Connection>> live;
        {
            std::lock_guard lock(m.mu);
            for (auto& [id, weak] : m.connections) {
                if (auto c = weak.lock()) live.push_back(std::move(c));
            }
        }
        for (auto& c : live) asio::post(c->executor(), [c, f] { f(*c); });
    };
    each_connection([](Connection& c) { c.drain(); });
    std::unique_lock lock(m.mu);
    if (!m.cv.wait_for(lock, grace, [&m] { return m.connections.empty(); })) {
        log::notice("{} milter connections still busy after {} s: closing them",
                    m.connections.size(), grace.count());
        lock.unlock();
        each_connection([](Connection& c) { c.close(); });
        lock.lock();
        // Their handlers end as soon as the Session call they are in returns.
        m.cv.wait_for(lock, std::chrono::seconds(5), [&m] { return m.connections.empty(); });
    }
    lock.unlock();
    for (auto& loop : m.loops) {
        loop->work.reset();
        loop->io.stop();
    }
    for (auto& loop : m.loops) {
        if (loop->thread.joinable()) loop->thread.join();
    }
    m.running = false;
    if (m.spec.kind == Endpoint::Kind::unix_socket && !m.spec.path.empty())
        ::unlink(m.spec.path.c_str());
}

}  // namespace pampero::milter
