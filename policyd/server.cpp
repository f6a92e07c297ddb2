#include "server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio.hpp>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "pampero/common/log.hpp"
#include "policy_codec.hpp"

namespace pampero::policyd {
namespace {

using Socket = asio::generic::stream_protocol::socket;
using Clock = std::chrono::steady_clock;

// One read takes what is there up to this many octets: a Postfix request is a few hundred.
constexpr std::size_t kReadSize = 16 * 1024;

struct Loop {
    std::atomic<unsigned> live{0};
    asio::io_context io{1};
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::thread thread;
};

}  // namespace

class Connection;

const char* kind_name(policy::Verdict::Kind k) {
    switch (k) {
        case policy::Verdict::Kind::dunno:
            return "dunno";
        case policy::Verdict::Kind::permit:
            return "permit";
        case policy::Verdict::Kind::reject:
            return "reject";
        case policy::Verdict::Kind::defer:
            return "defer";
        case policy::Verdict::Kind::disconnect:
            return "disconnect";
    }
    return "dunno";
}

struct Server::Impl {
    Impl(Snapshot<policy::Engine>& e, ServerOptions o) : engine(e), options(std::move(o)) {
        for (int i = 0; i < std::max(1, options.threads); ++i)
            loops.push_back(std::make_unique<Loop>());
    }

    Snapshot<policy::Engine>& engine;
    ServerOptions options;
    std::atomic<bool> stopping{false};
    std::atomic<unsigned long> sessions{0};
    std::mutex mu;
    std::condition_variable cv;
    std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> connections;
    std::uint64_t next_connection = 0;
    std::vector<std::unique_ptr<Loop>> loops;
    std::unique_ptr<asio::basic_socket_acceptor<asio::generic::stream_protocol>> acceptor;
    std::unique_ptr<asio::steady_timer> accept_retry;
    bool running = false;
    bool tcp = false;
    Clock::time_point last_refusal_log{};
    unsigned long refused = 0;

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
    void forget(std::uint64_t id) {
        std::lock_guard lock(mu);
        connections.erase(id);
        cv.notify_all();
    }
};

class Connection : public std::enable_shared_from_this<Connection> {
  public:
    Connection(Server::Impl& srv, Loop& loop, Socket s, std::uint64_t id)
        : srv_(srv), loop_(loop), socket_(std::move(s)), timer_(socket_.get_executor()), id_(id) {
        ++loop_.live;
        name_ = fmt::format("policy-{:x}", id);
        buf_.resize(kReadSize);
    }
    ~Connection() {
        --loop_.live;
        srv_.forget(id_);
    }
    asio::any_io_executor executor() { return socket_.get_executor(); }
    void no_delay() {
        const int one = 1;
        ::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }

    void start() {
        touch();
        arm_timer();
        read();
    }
    // SIGTERM: between requests close now; inside one, let it finish (stop() bounds it).
    void drain() {
        draining_ = true;
        // Idle only if nothing is buffered here and nothing waits unread in the socket (a
        // request sent just before the signal is answered, not cut off).
        std::error_code ec;
        if (decoder_.idle() && out_.empty() && socket_.available(ec) == 0 && !ec) close();
    }
    void close() {
        if (closed_) return;
        closed_ = true;
        std::error_code ignored;
        timer_.cancel();
        socket_.shutdown(asio::socket_base::shutdown_both, ignored);
        socket_.close(ignored);
    }

  private:
    void touch() { deadline_ = Clock::now() + std::chrono::seconds(srv_.options.timeout); }
    // One timer per connection, not re-armed per request: it wakes at the deadline it was
    // set for and sleeps again if the deadline moved meanwhile.
    void arm_timer() {
        timer_.expires_at(deadline_);
        timer_.async_wait([self = shared_from_this()](std::error_code ec) {
            if (ec || self->closed_) return;
            if (Clock::now() >= self->deadline_) {
                log::info("{}: no whole request or reply taken within {} s; closing", self->name_,
                          self->srv_.options.timeout);
                self->close();
                return;
            }
            self->arm_timer();
        });
    }
    void read() {
        if (closed_) return;
        socket_.async_read_some(asio::buffer(buf_),
                                [self = shared_from_this()](std::error_code ec, std::size_t n) {
                                    self->on_read(ec, n);
                                });
    }
    void on_read(std::error_code ec, std::size_t n) {
        if (ec || closed_) {
            close();
            return;
        }
        requests_.clear();
        decoder_.feed(std::string_view(buf_.data(), n), requests_);
        for (const auto& r : requests_) {
            if (!answer(r)) {
                // No answer (policy server in trouble): what was decided before it goes
                // out, then the connection closes.
                write(false);
                return;
            }
        }
        if (!requests_.empty()) touch();  // the next request has `timeout` from now
        if (!out_.empty()) {
            write(true);
        } else if (draining_ && decoder_.idle()) {
            close();
        } else {
            read();
        }
    }
    // False: the decision could not be made; close without answering this request.
    bool answer(const PolicyRequest& r) {
        if (!r.error.empty()) {
            log::warning("{}: malformed request: {}; answered DEFER_IF_PERMIT", name_, r.error);
            if (auto* m = srv_.options.metrics) m->requests.get({"malformed"}).inc();
            out_ += encode_reply(malformed_action(r.error));
            return true;
        }
        const std::string_view queue_id = r.value("queue_id");
        const std::string_view instance = r.value("instance");
        policy::Query q;
        q.stage = policy::stage_from(r.value("protocol_state"));
        q.client_address = r.value("client_address");
        q.sasl_username = r.value("sasl_username");
        q.recipient = r.value("recipient");
        q.instance = instance;
        q.id = !queue_id.empty() ? queue_id : std::string_view(name_);
        const auto engine = srv_.engine.get();
        auto v = engine->decide(q);
        if (!v) {
            log::error("{}: cannot decide ({}: {}); closing without an answer, Postfix defers",
                       q.id, to_string(v.error().kind), v.error().message);
            if (auto* m = srv_.options.metrics) m->undecided.inc();
            return false;
        }
        if (auto* m = srv_.options.metrics) m->requests.get({kind_name(v->kind)}).inc();
        out_ += encode_reply(v->action());
        return true;
    }
    void write(bool keep) {
        touch();
        asio::async_write(socket_, asio::buffer(out_),
                          [self = shared_from_this(), keep](std::error_code ec, std::size_t) {
                              self->out_.clear();
                              if (ec || !keep) {
                                  self->close();
                                  return;
                              }
                              self->touch();
                              if (self->draining_ && self->decoder_.idle()) {
                                  self->close();
                                  return;
                              }
                              self->read();
                          });
    }

    Server::Impl& srv_;
    Loop& loop_;
    Socket socket_;
    asio::steady_timer timer_;
    std::uint64_t id_;
    std::string name_;
    std::vector<char> buf_;
    PolicyDecoder decoder_;
    std::vector<PolicyRequest> requests_;
    std::string out_;
    Clock::time_point deadline_;
    bool draining_ = false;
    bool closed_ = false;
};

void Server::Impl::accept() {
    Loop& loop = quietest_loop();
    acceptor->async_accept(loop.io, [this, &loop](std::error_code ec, Socket s) {
        if (ec == asio::error::operation_aborted || stopping) return;
        if (ec) {
            // Out of descriptors, most likely: pause rather than spin.
            log::warning("policy socket: accept: {}", ec.message());
            accept_retry->expires_after(std::chrono::milliseconds(100));
            accept_retry->async_wait([this](std::error_code e) {
                if (!e && !stopping) accept();
            });
            return;
        }
        accepted(loop, std::move(s));
    });
}

void Server::Impl::accepted(Loop& loop, Socket s) {
    std::shared_ptr<Connection> c;
    {
        std::lock_guard lock(mu);
        if (connections.size() < static_cast<std::size_t>(options.max_connections)) {
            const std::uint64_t id = ++next_connection;
            c = std::make_shared<Connection>(*this, loop, std::move(s), id);
            connections.emplace(id, c);
        }
    }
    if (!c) {
        std::error_code ignored;
        s.close(ignored);
        ++refused;
        const auto now = Clock::now();
        if (now - last_refusal_log >= std::chrono::seconds(1)) {
            log::warning(
                "policy socket: {} connection(s) refused: policyd.max_connections ({}) "
                "are open",
                refused, options.max_connections);
            refused = 0;
            last_refusal_log = now;
        }
        accept();
        return;
    }
    if (tcp) c->no_delay();  // each reply is what Postfix waits for: no Nagle delay
    asio::post(c->executor(), [c] { c->start(); });
    accept();
}

Server::Server(Snapshot<policy::Engine>& engine, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(options))) {
    impl_->acceptor = std::make_unique<asio::basic_socket_acceptor<asio::generic::stream_protocol>>(
        impl_->loops.front()->io);
    impl_->accept_retry = std::make_unique<asio::steady_timer>(impl_->loops.front()->io);
}

Server::~Server() {
    if (impl_->running) stop(std::chrono::seconds(0));
}

asio::io_context& Server::io_context() {
    return impl_->loops.front()->io;
}

Status Server::listen() {
    Impl& m = *impl_;
    // A unix socket gets its owner, group and mode before it listens (endpoint.hpp).
    auto fd = listen_on(m.options.endpoint, SOMAXCONN, &m.options.unix_access);
    if (!fd) return fd.error();
    m.tcp = m.options.endpoint.tcp();
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(*fd, reinterpret_cast<sockaddr*>(&ss), &len);
    const asio::generic::stream_protocol proto(ss.ss_family, m.tcp ? IPPROTO_TCP : 0);
    std::error_code ec;
    m.acceptor->assign(proto, *fd, ec);
    if (ec) {
        ::close(*fd);
        return Error::temporary(
            fmt::format("policy socket {}: {}", m.options.endpoint.str(), ec.message()));
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
    asio::post(m.loops.front()->io, [&m] { m.accept(); });
    for (auto& loop : m.loops) {
        loop->work.emplace(loop->io.get_executor());
        loop->thread = std::thread([&io = loop->io] {
            for (;;) {
                try {
                    io.run();
                    return;
                } catch (const std::exception& e) {
                    log::error("policy thread: {}", e.what());
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
        m.acceptor->close(ec);
        m.accept_retry->cancel();
    });
    auto each = [&m](auto f) {
        std::vector<std::shared_ptr<Connection>> live;
        {
            std::lock_guard lock(m.mu);
            for (auto& [id, weak] : m.connections) {
                if (auto c = weak.lock()) live.push_back(std::move(c));
            }
        }
        for (auto& c : live) asio::post(c->executor(), [c, f] { f(*c); });
    };
    each([](Connection& c) { c.drain(); });
    std::unique_lock lock(m.mu);
    if (!m.cv.wait_for(lock, grace, [&m] { return m.connections.empty(); })) {
        log::notice("{} policy connections still inside a request after {} s: closing them",
                    m.connections.size(), grace.count());
        lock.unlock();
        each([](Connection& c) { c.close(); });
        lock.lock();
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
    if (m.options.endpoint.kind == Endpoint::Kind::unix_socket)
        ::unlink(m.options.endpoint.path.c_str());
}

}  // namespace pampero::policyd
