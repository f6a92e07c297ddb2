#include "server.hpp"

#include <asio.hpp>
#include <atomic>

#include "pampero/common/log.hpp"
#include "pampero/common/stream_server.hpp"
#include "policy_codec.hpp"

namespace pampero::policyd {
namespace {

// One read takes what is there up to this many octets: a Postfix request is a few hundred.
constexpr std::size_t kReadSize = 16 * 1024;

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
    Impl(Snapshot<policy::Engine>& e, ServerOptions o);  // after Connection

    Snapshot<policy::Engine>& engine;
    ServerOptions options;
    // Sockets, loops, the cap and stop() (stream_server.hpp).
    StreamServer server;
};

class Connection final : public StreamServer::Connection,
                         public std::enable_shared_from_this<Connection> {
  public:
    Connection(Server::Impl& srv, StreamServer::Socket s, std::uint64_t id, StreamServer::Slot slot)
        : StreamServer::Connection(std::move(slot)),
          srv_(srv),
          socket_(std::move(s)),
          deadline_(socket_.get_executor(), std::chrono::seconds(srv.options.timeout)) {
        name_ = fmt::format("policy-{:x}", id);
        buf_.resize(kReadSize);
    }
    asio::any_io_executor executor() override { return socket_.get_executor(); }

    void start() override {
        touch();
        // One timer per connection, not re-armed per request (stream_server.hpp).
        deadline_.start(shared_from_this(), [this] {
            if (closed_) return;
            log::info("{}: no whole request or reply taken within {} s; closing", name_,
                      srv_.options.timeout);
            close();
        });
        read();
    }
    // SIGTERM: between requests close now; inside one, let it finish (stop() bounds it).
    void drain() override {
        draining_ = true;
        // Idle only if nothing is buffered here and nothing waits unread in the socket (a
        // request sent just before the signal is answered, not cut off).
        std::error_code ec;
        if (decoder_.idle() && out_.empty() && socket_.available(ec) == 0 && !ec) close();
    }
    void close() override {
        if (closed_) return;
        closed_ = true;
        std::error_code ignored;
        deadline_.cancel();
        socket_.shutdown(asio::socket_base::shutdown_both, ignored);
        socket_.close(ignored);
    }

  private:
    void touch() { deadline_.touch(); }
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
    StreamServer::Socket socket_;
    IdleDeadline deadline_;
    std::string name_;
    std::vector<char> buf_;
    PolicyDecoder decoder_;
    std::vector<PolicyRequest> requests_;
    std::string out_;
    bool draining_ = false;
    bool closed_ = false;
};

Server::Impl::Impl(Snapshot<policy::Engine>& e, ServerOptions o)
    : engine(e),
      options(std::move(o)),
      server({"policy", "policyd.max_connections", options.endpoint, options.unix_access,
              options.threads, options.max_connections},
             [this](StreamServer::Socket s, std::uint64_t id, StreamServer::Slot slot) {
                 return std::make_shared<Connection>(*this, std::move(s), id, std::move(slot));
             }) {}

Server::Server(Snapshot<policy::Engine>& engine, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(options))) {}

Server::~Server() = default;  // the StreamServer stops itself if still running

asio::io_context& Server::io_context() {
    return impl_->server.io_context();
}

Status Server::listen() {
    return impl_->server.listen();
}

void Server::before_fork() {
    impl_->server.before_fork();
}
void Server::after_fork_in_child() {
    impl_->server.after_fork_in_child();
}

void Server::start() {
    impl_->server.start();
}

void Server::stop(std::chrono::seconds grace) {
    impl_->server.stop(grace);
}

}  // namespace pampero::policyd
