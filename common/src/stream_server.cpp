// stream_server.cpp - see stream_server.hpp.
#include "pampero/common/stream_server.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <asio.hpp>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "pampero/common/log.hpp"
#include "pampero/common/log_throttle.hpp"

namespace pampero {

// One event loop and the thread that runs it.
// Members in this order: the io_context's destructor destroys pending handlers and with
// them Connections, which count themselves out of `live`.
struct StreamServer::Loop {
    std::atomic<unsigned> live{0};  // connections on this loop, for placing new ones
    asio::io_context io{1};         // concurrency hint: one thread runs it
    // Made with the loop, not at its first connection: a timer brings up the loop's epoll
    // reactor and its descriptors now. Out of descriptors later, a loop without its
    // reactor could not take a connection (async_accept would throw) and accepting
    // would stop.
    asio::steady_timer reactor{io};
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::thread thread;
};

struct StreamServer::Impl {
    Impl(StreamServerOptions o, Factory f) : options(std::move(o)), factory(std::move(f)) {}
    static std::vector<std::unique_ptr<Loop>> make_loops(int n) {
        std::vector<std::unique_ptr<Loop>> v;
        for (int i = 0; i < std::max(1, n); ++i) v.push_back(std::make_unique<Loop>());
        return v;
    }

    StreamServerOptions options;
    Factory factory;
    bool tcp = false;
    std::atomic<bool> stopping{false};

    // Live connections, for the cap and stop(). Declared before the loops so they outlive
    // them: destroying a loop destroys its pending handlers, and with them the last
    // Connection references (whose Slots come here). An entry with an empty pointer is a
    // connection being made.
    std::mutex mu;
    std::condition_variable cv;
    std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> connections;
    std::uint64_t next_connection = 0;

    std::vector<std::unique_ptr<Loop>> loops = make_loops(options.threads);  // [0] also accepts
    asio::basic_socket_acceptor<asio::generic::stream_protocol> acceptor{loops.front()->io};
    asio::steady_timer accept_retry{loops.front()->io};
    bool running = false;

    // The connection cap and the descriptor reserve. Used on loop 0's thread only, where
    // accepting happens.
    int spare_fd = -1;         // closed to make room for accept() when out of descriptors
    LogThrottle over_cap_log;  // connections refused at max_connections
    LogThrottle no_fd_log;     // connections refused for want of a descriptor
    LogThrottle accept_log;    // other accept() failures
    std::error_code last_accept_error;
    asio::steady_timer log_flush{loops.front()->io};
    bool log_flush_armed = false;

    // The loop with the fewest connections (a long call blocks its loop's other
    // connections while it runs, so they are spread evenly).
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
};

StreamServer::Slot::Slot(Impl* impl, Loop* loop, std::uint64_t id)
    : impl_(impl), loop_(loop), id_(id) {
    ++loop_->live;
}

StreamServer::Slot::Slot(Slot&& o) noexcept : impl_(o.impl_), loop_(o.loop_), id_(o.id_) {
    o.impl_ = nullptr;
    o.loop_ = nullptr;
}

StreamServer::Slot::~Slot() {
    if (loop_) --loop_->live;
    if (impl_) impl_->forget(id_);
}

void StreamServer::Impl::accept() {
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
        log::error("{} socket: accept: {}", options.name, x.what());
        accept_retry.expires_after(std::chrono::milliseconds(100));
        accept_retry.async_wait([this](std::error_code e) {
            if (!e && !stopping) accept();
        });
    }
}

void StreamServer::Impl::accepted(Loop& loop, Socket s) {
    std::shared_ptr<Connection> c;
    std::optional<std::uint64_t> id;
    bool over_cap = false;
    try {
        {
            std::lock_guard lock(mu);
            // Every Connection not yet destroyed counts, closing ones too: they still hold
            // their descriptor or are about to give it back.
            over_cap = connections.size() >= static_cast<std::size_t>(options.max_connections);
            if (!over_cap) {
                id = ++next_connection;
                connections.emplace(*id, std::weak_ptr<Connection>{});
            }
        }
        if (id) {
            if (tcp) {
                // Each reply is what the peer waits for: no Nagle delay.
                std::error_code ignored;
                s.set_option(asio::ip::tcp::no_delay(true), ignored);
            }
            // Outside the lock: the Slot, destroyed if the factory throws, takes it.
            c = factory(std::move(s), *id, Slot(this, &loop, *id));
            std::lock_guard lock(mu);
            connections[*id] = c;
        }
    } catch (const std::exception& e) {
        log::error("{} socket: a new connection: {}; closing it", options.name, e.what());
        c.reset();
    }
    if (!c) {
        // Over the cap (or out of memory): closed at once, the peer applies its default.
        std::error_code ignored;
        s.close(ignored);
        if (over_cap) refuse(over_cap_log);
        accept();
        return;
    }
    asio::post(c->executor(), [c] { c->start(); });
    accept();
}

void StreamServer::Impl::accept_failed(std::error_code ec) {
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

void StreamServer::Impl::refuse(LogThrottle& throttle) {
    if (auto n = throttle.event(LogThrottle::Clock::now())) {
        log_refusals(throttle, *n);
    } else {
        flush_refusals();  // arms the timer that reports them
    }
}

void StreamServer::Impl::log_refusals(LogThrottle& throttle, std::uint64_t n) {
    if (&throttle == &over_cap_log) {
        log::warning(
            "{} socket: {} connection{} refused (closed at once) since the last such line: "
            "{} ({}) are open",
            options.name, n, n == 1 ? "" : "s", options.cap_key, options.max_connections);
    } else if (&throttle == &no_fd_log) {
        log::warning(
            "{} socket: {} connection{} refused (closed at once) since the last such line: "
            "out of file descriptors (LimitNOFILE must stay above {}, {})",
            options.name, n, n == 1 ? "" : "s", options.cap_key, options.max_connections);
    } else {
        log::warning("{} socket: accept: {} ({} time{} since the last such line)", options.name,
                     last_accept_error.message(), n, n == 1 ? "" : "s");
    }
}

// Lines due now for events counted earlier; the timer comes back for those not due yet.
void StreamServer::Impl::flush_refusals() {
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

StreamServer::StreamServer(StreamServerOptions options, Factory factory)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(factory))) {}

StreamServer::~StreamServer() {
    if (impl_->running) stop(std::chrono::seconds(0));
}

bool StreamServer::tcp() const {
    return impl_->tcp;
}

asio::io_context& StreamServer::io_context() {
    return impl_->loops.front()->io;
}

Status StreamServer::listen() {
    Impl& m = *impl_;
    const Endpoint& e = m.options.endpoint;
    m.tcp = e.tcp();
    // One socket code for every daemon (endpoint.hpp): it replaces a socket file left by a
    // previous run and sets a unix socket's owner and mode before listen(), so the MTA's
    // user can connect, and nobody else.
    auto fd = listen_on(e, SOMAXCONN, m.tcp ? nullptr : &m.options.unix_access);
    if (!fd)
        return Error{fd.error().kind,
                     fmt::format("{} socket: {}", m.options.name, fd.error().message)};
    int family = AF_UNIX;
    if (m.tcp) family = e.kind == Endpoint::Kind::inet ? AF_INET : AF_INET6;
    std::error_code ec;
    m.acceptor.assign(asio::generic::stream_protocol(family, m.tcp ? IPPROTO_TCP : 0), *fd, ec);
    if (ec) {
        ::close(*fd);
        return Error::temporary(
            fmt::format("{} socket '{}': {}", m.options.name, e.str(), ec.message()));
    }
    return ok_status();
}

void StreamServer::before_fork() {
    for (auto& l : impl_->loops) l->io.notify_fork(asio::execution_context::fork_prepare);
}
void StreamServer::after_fork_in_child() {
    for (auto& l : impl_->loops) l->io.notify_fork(asio::execution_context::fork_child);
}

void StreamServer::start() {
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
        loop->thread = std::thread([&io = loop->io, &name = m.options.name] {
            for (;;) {
                try {
                    io.run();
                    return;
                } catch (const std::exception& e) {
                    // A handler threw (out of memory, most likely): that connection is
                    // gone with it; this loop goes back to serving the others.
                    log::error("{} thread: {}", name, e.what());
                }
            }
        });
    }
}

void StreamServer::stop(std::chrono::seconds grace) {
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
        log::notice("{} {} connections still busy after {} s: closing them", m.connections.size(),
                    m.options.name, grace.count());
        lock.unlock();
        each_connection([](Connection& c) { c.close(); });
        lock.lock();
        // Their handlers end as soon as the call they are in returns.
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
    const Endpoint& e = m.options.endpoint;
    if (e.kind == Endpoint::Kind::unix_socket && !e.path.empty()) ::unlink(e.path.c_str());
}

void IdleDeadline::start(std::shared_ptr<void> owner, std::function<void()> on_expired) {
    on_expired_ = std::move(on_expired);
    cancelled_ = false;
    arm(std::move(owner));
}

void IdleDeadline::arm(std::shared_ptr<void> owner) {
    timer_.expires_at(deadline_);
    timer_.async_wait([this, owner = std::move(owner)](std::error_code ec) mutable {
        if (ec == asio::error::operation_aborted || cancelled_) return;
        if (std::chrono::steady_clock::now() < deadline_) {
            arm(std::move(owner));  // there was traffic since: wait for the new deadline
            return;
        }
        cancelled_ = true;
        if (on_expired_) on_expired_();
    });
}

void IdleDeadline::cancel() {
    cancelled_ = true;
    timer_.cancel();
}

}  // namespace pampero
