// radius_listener.cpp - see radius_listener.hpp.
#include "radius_listener.hpp"

#include <fmt/ranges.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <asio.hpp>
#include <atomic>
#include <mutex>
#include <vector>

#include "pampero/common/log.hpp"
#include "pampero/common/snapshot.hpp"
#include "pampero/common/socket_access.hpp"
#include "radius_accounting.hpp"
#include "radius_admin.hpp"

namespace pampero::radius {
namespace {

using asio::ip::udp;
using Kind = Outcome::Kind;

// Datagrams read per wake-up before going back to the event loop: fewer epoll round
// trips under load, and a bounded turn so the admin socket and timers still get theirs.
constexpr int kBatch = 64;
// The kernel's receive queue per socket: room for a burst of NAS restarts (every session
// sent again) while the loop catches up. The kernel caps it at net.core.rmem_max.
constexpr int kReceiveBuffer = 4 * 1024 * 1024;

struct Client {
    ClientAllowList nets;
    std::string secret;
};

// What a reload swaps: immutable once built.
struct Setup {
    std::vector<Client> clients;
    AccountingSettings settings;

    const Client* find(const sockaddr* sa, socklen_t len) const {
        for (const auto& c : clients)
            if (c.nets.allows(sa, len)) return &c;
        return nullptr;
    }
};

Result<std::shared_ptr<const Setup>> build_setup(const RadiusConfig& cfg) {
    auto s = std::make_shared<Setup>();
    for (const auto& c : cfg.clients) {
        auto nets = ClientAllowList::parse({c.address});
        if (!nets) return Error::config("radius.clients: " + nets.error().message);
        s->clients.push_back({std::move(*nets), c.secret});
    }
    s->settings.session_ttl = std::chrono::seconds(cfg.session_ttl);
    s->settings.interim_factor = cfg.interim_factor;
    s->settings.duplicate_window = std::chrono::seconds(cfg.duplicate_window);
    return std::shared_ptr<const Setup>(std::move(s));
}

// Slots beyond Outcome's kinds (recorded..state_failed are 0..5).
constexpr Kind kSendFailed = static_cast<Kind>(6);
constexpr Kind kUnknownClient = static_cast<Kind>(7);

// At most one line a second per kind of drop, with how many happened (see
// radius_listener.hpp). Shared by every socket's handlers, hence the mutex.
class DropLog {
  public:
    void event(Kind kind, const std::string& peer, const std::string& detail) {
        const auto now = std::chrono::steady_clock::now();
        std::uint64_t n = 0;
        {
            std::lock_guard lock(mu_);
            auto& s = slots_[static_cast<std::size_t>(kind)];
            ++s.pending;
            if (s.logged && now - s.last < std::chrono::seconds(1)) return;
            n = s.pending;
            s.pending = 0;
            s.last = now;
            s.logged = true;
        }
        const char* what = kind == Kind::malformed           ? "malformed packet"
                           : kind == Kind::not_accounting    ? "not an Accounting-Request"
                           : kind == Kind::bad_authenticator ? "bad authenticator"
                           : kind == Kind::state_failed      ? "not recorded (state failed), "
                                                               "no answer: the NAS will retry"
                           : kind == kSendFailed             ? "answer not sent"
                                                             : "unknown client";
        if (n == 1)
            log::warning("radius: {} from {} dropped: {}", what, peer, detail);
        else
            log::warning("radius: {} from {} dropped: {} ({} such drops in the last second)", what,
                         peer, detail, n);
    }

  private:
    struct Slot {
        std::uint64_t pending = 0;
        std::chrono::steady_clock::time_point last{};
        bool logged = false;
    };
    std::mutex mu_;
    std::array<Slot, 8> slots_{};
};

class ListenerImpl;

// One UDP socket's receive loop.
struct Socket {
    explicit Socket(asio::io_context& io) : sock(io) {}
    udp::socket sock;
    udp::endpoint peer;
    std::array<char, kMaxPacketSize> buf{};
};

// One admin connection: a question, the answer, close.
struct AdminConn : std::enable_shared_from_this<AdminConn> {
    AdminConn(asio::local::stream_protocol::socket s, asio::io_context& io)
        : sock(std::move(s)), timer(io) {}
    asio::local::stream_protocol::socket sock;
    asio::steady_timer timer;
    asio::streambuf in{kMaxQuestion};
    std::string out;
};

class ListenerImpl final : public Listener, public std::enable_shared_from_this<ListenerImpl> {
  public:
    ListenerImpl(asio::io_context& io, State& state, const RadiusConfig& cfg,
                 std::shared_ptr<const Setup> setup)
        : io_(io), state_(state), running_cfg_(cfg), setup_(std::move(setup)), admin_(io) {}

    Status bind() {
        for (const auto& text : running_cfg_.listen) {
            const auto ep = parse_udp_endpoint(text);
            if (!ep) return Error::config("radius.listen: '" + text + "' is not IP:PORT");
            std::error_code ec;
            const auto addr = asio::ip::make_address(ep->address, ec);
            if (ec) return Error::config("radius.listen: '" + text + "': " + ec.message());
            auto s = std::make_unique<Socket>(io_);
            const udp::endpoint endpoint(addr, ep->port);
            s->sock.open(endpoint.protocol(), ec);
            if (!ec && addr.is_v6()) s->sock.set_option(asio::ip::v6_only(true), ec);
            if (!ec) s->sock.bind(endpoint, ec);
            if (ec) return Error::config("radius.listen " + text + ": " + ec.message());
            s->sock.set_option(udp::socket::receive_buffer_size(kReceiveBuffer), ec);
            s->sock.non_blocking(true, ec);
            sockets_.push_back(std::move(s));
        }
        if (!running_cfg_.admin_socket.empty()) {
            const auto& path = running_cfg_.admin_socket;
            struct stat st {};
            // A socket left by a previous run; any other file is the admin's: bind says so.
            if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
            std::error_code ec;
            admin_.open(asio::local::stream_protocol(), ec);
            const mode_t old = ::umask(0177);  // 0600 from birth: no window of a wider mode
            if (!ec) admin_.bind(asio::local::stream_protocol::endpoint(path), ec);
            ::umask(old);
            if (!ec) admin_.listen(kMaxAdminConnections, ec);
            if (ec) return Error::config("radius.admin_socket " + path + ": " + ec.message());
        }
        return ok_status();
    }

    void start() {
        for (auto& s : sockets_) receive(*s);
        if (admin_.is_open()) accept_admin();
        log::notice(
            "radius: accounting on {}{}, {} clients", fmt::join(running_cfg_.listen, ", "),
            running_cfg_.admin_socket.empty() ? "" : ", admin socket " + running_cfg_.admin_socket,
            setup_.get()->clients.size());
    }

    void reload(const RadiusConfig& cfg) override {
        auto s = build_setup(cfg);
        if (!s) {
            log::error("radius: reload refused, keeping the running clients: {}",
                       s.error().message);
            return;
        }
        setup_.set(*s);
        log::notice("radius: reloaded: {} clients", (*s)->clients.size());
        if (cfg.listen != running_cfg_.listen || cfg.admin_socket != running_cfg_.admin_socket ||
            cfg.enabled != running_cfg_.enabled)
            log::warning("radius: listen and admin_socket changes take effect at restart");
    }

    void stop() override {
        asio::post(io_, [self = shared_from_this()] {
            std::error_code ec;
            for (auto& s : self->sockets_) s->sock.close(ec);
            self->admin_.close(ec);
        });
    }

  private:
    void receive(Socket& s) {
        s.sock.async_wait(udp::socket::wait_read,
                          [self = shared_from_this(), &s](std::error_code ec) {
                              if (ec) return;  // closed
                              self->drain(s);
                              self->receive(s);
                          });
    }

    // Reads and answers what is queued, up to kBatch datagrams.
    void drain(Socket& s) {
        for (int i = 0; i < kBatch; ++i) {
            std::error_code ec;
            const std::size_t n = s.sock.receive_from(asio::buffer(s.buf), s.peer, 0, ec);
            if (ec == asio::error::would_block || ec == asio::error::try_again) return;
            if (ec) {
                if (ec == asio::error::bad_descriptor) return;
                continue;  // ICMP errors surfacing on UDP sockets and the like: next one
            }
            handle(s, std::string_view(s.buf.data(), n));
        }
    }

    void handle(Socket& s, std::string_view datagram) {
        const auto setup = setup_.get();
        const Client* client = setup->find(s.peer.data(), static_cast<socklen_t>(s.peer.size()));
        if (!client) {
            drops_.event(kUnknownClient, s.peer.address().to_string(), "not in radius.clients");
            return;
        }
        auto nas = s.peer.address();
        if (nas.is_v6() && nas.to_v6().is_v4_mapped())
            nas = asio::ip::make_address_v4(asio::ip::v4_mapped, nas.to_v6());
        const std::string nas_text = nas.to_string();
        Accounting accounting(state_, setup->settings);
        Outcome o = accounting.handle(datagram, nas_text, s.peer.port(), client->secret);
        if (o.kind != Kind::recorded && o.kind != Kind::retransmission) {
            drops_.event(o.kind, nas_text, o.detail);
            return;
        }
        log::debug("radius: {}: {}", nas_text, o.detail);
        std::error_code ec;
        s.sock.send_to(asio::buffer(o.reply), s.peer, 0, ec);
        // A full send queue: the NAS retransmits and is answered as a retransmission.
        if (ec) drops_.event(kSendFailed, nas_text, ec.message());
    }

    void accept_admin() {
        admin_.async_accept([self = shared_from_this()](std::error_code ec,
                                                        asio::local::stream_protocol::socket c) {
            if (ec == asio::error::operation_aborted || !self->admin_.is_open()) return;
            if (!ec) {
                if (self->admin_busy_.load() >= kMaxAdminConnections) {
                    std::error_code ignore;
                    c.close(ignore);
                } else {
                    self->serve_admin(std::make_shared<AdminConn>(std::move(c), self->io_));
                }
            }
            self->accept_admin();
        });
    }

    void serve_admin(std::shared_ptr<AdminConn> conn) {
        ++admin_busy_;
        conn->timer.expires_after(kQuestionTimeout);
        conn->timer.async_wait([conn](std::error_code ec) {
            if (ec) return;
            std::error_code ignore;
            conn->sock.close(ignore);
        });
        asio::async_read_until(
            conn->sock, conn->in, '\n',
            [self = shared_from_this(), conn](std::error_code ec, std::size_t n) {
                if (ec) {  // closed, too long, or timed out: no answer
                    self->admin_done(conn);
                    return;
                }
                std::string q(
                    asio::buffers_begin(conn->in.data()),
                    asio::buffers_begin(conn->in.data()) + static_cast<std::ptrdiff_t>(n - 1));
                Accounting accounting(self->state_, self->setup_.get()->settings);
                conn->out = answer_admin(accounting, q);
                asio::async_write(
                    conn->sock, asio::buffer(conn->out),
                    [self, conn](std::error_code, std::size_t) { self->admin_done(conn); });
            });
    }

    void admin_done(const std::shared_ptr<AdminConn>& conn) {
        std::error_code ignore;
        conn->timer.cancel();
        conn->sock.close(ignore);
        --admin_busy_;
    }

    asio::io_context& io_;
    State& state_;
    RadiusConfig running_cfg_;
    Snapshot<const Setup> setup_;
    std::vector<std::unique_ptr<Socket>> sockets_;
    asio::local::stream_protocol::acceptor admin_;
    std::atomic<int> admin_busy_{0};
    DropLog drops_;
};

}  // namespace

Result<std::unique_ptr<Listener>> start_listener(asio::io_context& io, State& state,
                                                 const RadiusConfig& cfg) {
    if (!cfg.enabled) return std::unique_ptr<Listener>();
    auto setup = build_setup(cfg);
    if (!setup) return setup.error();
    if (cfg.clients.empty())
        log::warning("radius: no radius.clients: every accounting packet will be dropped");
    auto impl = std::make_shared<ListenerImpl>(io, state, cfg, *setup);
    if (auto st = impl->bind(); !st) return st.error();
    impl->start();
    // The caller owns a handle; the sockets' handlers hold the implementation alive until
    // they end (stop() closes the sockets, ending them).
    struct Handle final : Listener {
        explicit Handle(std::shared_ptr<ListenerImpl> p) : impl(std::move(p)) {}
        ~Handle() override { impl->stop(); }
        void reload(const RadiusConfig& c) override { impl->reload(c); }
        void stop() override { impl->stop(); }
        std::shared_ptr<ListenerImpl> impl;
    };
    return std::unique_ptr<Listener>(std::make_unique<Handle>(std::move(impl)));
}

}  // namespace pampero::radius
