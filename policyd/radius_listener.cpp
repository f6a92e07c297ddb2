// radius_listener.cpp - see radius_listener.hpp.
#include "radius_listener.hpp"

#include <arpa/inet.h>
#include <fmt/ranges.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <asio.hpp>
#include <atomic>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
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

// Datagrams read with one recvmmsg(2), and answered with one sendmmsg(2): fewer system
// calls under load; 8 buffers of 4096 octets per worker. Small, so that a burst is shared
// out among the workers instead of one of them taking it all.
constexpr unsigned kBatch = 8;
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

// The NAS's address as text; an IPv4-mapped IPv6 peer as its IPv4 address.
std::string nas_address(const sockaddr* sa, socklen_t len) {
    char buf[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
    } else if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
        const auto* a6 = &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6))
            inet_ntop(AF_INET, a6->s6_addr + 12, buf, sizeof buf);
        else
            inet_ntop(AF_INET6, a6, buf, sizeof buf);
    }
    return buf;
}

std::uint16_t peer_port(const sockaddr* sa) {
    if (sa->sa_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
    return 0;
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

// One bound UDP socket (a plain descriptor: the workers poll it themselves).
struct Socket {
    int fd = -1;
    ~Socket() {
        if (fd >= 0) ::close(fd);
    }
};

// One worker's buffers for a batch.
struct Batch {
    std::array<std::array<char, kMaxPacketSize>, kBatch> in{};
    std::array<sockaddr_storage, kBatch> peers{};
    std::array<iovec, kBatch> iov{};
    std::array<mmsghdr, kBatch> msgs{};
    std::array<std::string, kBatch> replies;
    std::array<iovec, kBatch> out_iov{};
    std::array<mmsghdr, kBatch> out{};
};

const char* outcome_name(Outcome::Kind k) {
    switch (k) {
        case Outcome::Kind::recorded:
            return "recorded";
        case Outcome::Kind::retransmission:
            return "retransmission";
        case Outcome::Kind::malformed:
            return "malformed";
        case Outcome::Kind::not_accounting:
            return "not_accounting";
        case Outcome::Kind::bad_authenticator:
            return "bad_authenticator";
        case Outcome::Kind::state_failed:
            return "state_failed";
    }
    return "malformed";
}

class ListenerImpl final : public Listener, public std::enable_shared_from_this<ListenerImpl> {
  public:
    ListenerImpl(asio::io_context& io, State& state, const RadiusConfig& cfg,
                 std::shared_ptr<const Setup> setup)
        : io_(io),
          state_(state),
          running_cfg_(cfg),
          setup_(std::move(setup)),
          duplicates_(std::chrono::seconds(cfg.duplicate_window)) {}

    Status bind() {
        for (const auto& text : running_cfg_.listen) {
            const auto ep = parse_udp_endpoint(text);
            if (!ep) return Error::config("radius.listen: '" + text + "' is not IP:PORT");
            std::error_code ec;
            const auto addr = asio::ip::make_address(ep->address, ec);
            if (ec) return Error::config("radius.listen: '" + text + "': " + ec.message());
            const udp::endpoint endpoint(addr, ep->port);
            auto s = std::make_unique<Socket>();
            s->fd = ::socket(addr.is_v6() ? AF_INET6 : AF_INET,
                             SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            const int one = 1;
            if (s->fd >= 0 && addr.is_v6())
                (void)::setsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
            // Well-formed but not bindable now (in use, not there yet): temporary, as
            // listen_on() says of stream sockets (daemon.hpp's exit code follows).
            if (s->fd < 0 || ::bind(s->fd, endpoint.data(), endpoint.size()) != 0)
                return Error::temporary("radius.listen " + text + ": " + std::strerror(errno));
            (void)::setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &kReceiveBuffer,
                               sizeof kReceiveBuffer);
            sockets_.push_back(std::move(s));
        }
        stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (stop_fd_ < 0) return Error::temporary(std::string("eventfd: ") + std::strerror(errno));
        return ok_status();
    }

    void start() {
        // The workers start once the io_context runs: after the daemon forked into the
        // background (threads do not survive fork) and blocked its signals (they inherit
        // the mask, so the main thread alone takes SIGHUP and SIGTERM).
        asio::post(io_, [self = shared_from_this()] { self->start_workers(); });
        log::notice("radius: accounting on {}, {} clients", fmt::join(running_cfg_.listen, ", "),
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
        duplicates_.set_window(std::chrono::seconds(cfg.duplicate_window));
        log::notice("radius: reloaded: {} clients", (*s)->clients.size());
        if (cfg.listen != running_cfg_.listen || cfg.enabled != running_cfg_.enabled)
            log::warning("radius: listen changes take effect at restart");
    }

    void stop() override {
        {
            std::lock_guard lock(workers_mu_);
            if (stopped_) return;
            stopped_ = true;
            const std::uint64_t one = 1;
            (void)!::write(stop_fd_, &one, sizeof one);
        }
    }

    // The admin socket's RADIUS questions (radius_admin.hpp), on the io_context's threads.
    std::string answer_admin(std::string_view q) override {
        Accounting accounting(state_, setup_.get()->settings, duplicates_);
        return radius::answer_admin(accounting, q);
    }

    // Joins the workers (the handle's destructor; never from a worker).
    void join() {
        stop();
        std::vector<std::thread> ws;
        {
            std::lock_guard lock(workers_mu_);
            ws.swap(workers_);
        }
        for (auto& t : ws) t.join();
    }

    ~ListenerImpl() override {
        if (stop_fd_ >= 0) ::close(stop_fd_);
    }

  private:
    void start_workers() {
        std::lock_guard lock(workers_mu_);
        if (stopped_) return;
        for (int i = 0; i < running_cfg_.threads; ++i) workers_.emplace_back([this] { work(); });
    }

    // A worker: waits on every socket and the stop descriptor; reads a batch, handles
    // each datagram in turn, answers the batch at once. Several workers share the sockets
    // (the kernel hands each datagram to one of them).
    void work() {
        auto batch = std::make_unique<Batch>();
        std::vector<pollfd> fds;
        for (auto& s : sockets_) fds.push_back({s->fd, POLLIN, 0});
        fds.push_back({stop_fd_, POLLIN, 0});
        for (;;) {
            if (::poll(fds.data(), fds.size(), -1) < 0) {
                if (errno == EINTR) continue;
                log::error("radius: poll: {}", std::strerror(errno));
                return;
            }
            if (fds.back().revents) return;  // stop
            for (std::size_t i = 0; i + 1 < fds.size(); ++i)
                if (fds[i].revents) drain(fds[i].fd, *batch);
        }
    }

    // Reads and answers what is queued on fd, a batch at a time, until it is empty or a
    // few batches went by (so the other sockets get their turn).
    void drain(int fd, Batch& b) {
        for (int round = 0; round < 8; ++round) {
            for (unsigned i = 0; i < kBatch; ++i) {
                b.iov[i] = {b.in[i].data(), b.in[i].size()};
                b.msgs[i] = {};
                b.msgs[i].msg_hdr.msg_iov = &b.iov[i];
                b.msgs[i].msg_hdr.msg_iovlen = 1;
                b.msgs[i].msg_hdr.msg_name = &b.peers[i];
                b.msgs[i].msg_hdr.msg_namelen = sizeof b.peers[i];
            }
            const int n = ::recvmmsg(fd, b.msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
            if (n <= 0) return;  // EAGAIN, or an error surfacing on UDP: wait again
            unsigned answers = 0;
            for (int i = 0; i < n; ++i) {
                const auto& h = b.msgs[static_cast<std::size_t>(i)];
                if (auto reply = handle(
                        reinterpret_cast<const sockaddr*>(h.msg_hdr.msg_name),
                        h.msg_hdr.msg_namelen,
                        std::string_view(b.in[static_cast<std::size_t>(i)].data(), h.msg_len))) {
                    b.replies[answers] = std::move(*reply);
                    b.out_iov[answers] = {b.replies[answers].data(), b.replies[answers].size()};
                    b.out[answers] = {};
                    b.out[answers].msg_hdr.msg_iov = &b.out_iov[answers];
                    b.out[answers].msg_hdr.msg_iovlen = 1;
                    b.out[answers].msg_hdr.msg_name = h.msg_hdr.msg_name;
                    b.out[answers].msg_hdr.msg_namelen = h.msg_hdr.msg_namelen;
                    ++answers;
                }
            }
            for (unsigned sent = 0; sent < answers;) {
                const int m = ::sendmmsg(fd, b.out.data() + sent, answers - sent, MSG_DONTWAIT);
                if (m <= 0) {
                    // A full send queue: the NAS retransmits, and is answered as a
                    // retransmission.
                    drops_.event(kSendFailed, "-",
                                 fmt::format("{} answers: {}", answers - sent,
                                             std::strerror(m < 0 ? errno : EAGAIN)));
                    break;
                }
                sent += static_cast<unsigned>(m);
            }
            if (static_cast<unsigned>(n) < kBatch) return;
        }
    }

    // The answer to one datagram from peer, or nullopt (dropped, logged).
    std::optional<std::string> handle(const sockaddr* peer, socklen_t len,
                                      std::string_view datagram) {
        const auto setup = setup_.get();
        const Client* client = setup->find(peer, len);
        const std::string nas_text = nas_address(peer, len);
        if (!client) {
            if (on_outcome_) on_outcome_("unknown_client");
            drops_.event(kUnknownClient, nas_text, "not in radius.clients");
            return std::nullopt;
        }
        Accounting accounting(state_, setup->settings, duplicates_);
        Outcome o = accounting.handle(datagram, nas_text, peer_port(peer), client->secret);
        if (on_outcome_) on_outcome_(outcome_name(o.kind));
        if (o.kind != Kind::recorded && o.kind != Kind::retransmission) {
            drops_.event(o.kind, nas_text, o.detail);
            return std::nullopt;
        }
        log::debug("radius: {}: {}", nas_text, o.detail);
        return std::move(o.reply);
    }

    asio::io_context& io_;
    State& state_;
    RadiusConfig running_cfg_;
    Snapshot<const Setup> setup_;
    DuplicateCache duplicates_;
    std::vector<std::unique_ptr<Socket>> sockets_;
    int stop_fd_ = -1;
    std::mutex workers_mu_;
    std::vector<std::thread> workers_;
    bool stopped_ = false;
    DropLog drops_;

  public:
    OutcomeHook on_outcome_;  // set before start(), read by the workers only
};

}  // namespace

Result<std::unique_ptr<Listener>> start_listener(asio::io_context& io, State& state,
                                                 const RadiusConfig& cfg, OutcomeHook on_outcome) {
    if (!cfg.enabled) return std::unique_ptr<Listener>();
    auto setup = build_setup(cfg);
    if (!setup) return setup.error();
    if (cfg.clients.empty())
        log::warning("radius: no radius.clients: every accounting packet will be dropped");
    auto impl = std::make_shared<ListenerImpl>(io, state, cfg, *setup);
    impl->on_outcome_ = std::move(on_outcome);
    if (auto st = impl->bind(); !st) return st.error();
    impl->start();
    // The caller owns a handle; the sockets' handlers hold the implementation alive until
    // they end (stop() closes the sockets, ending them).
    struct Handle final : Listener {
        explicit Handle(std::shared_ptr<ListenerImpl> p) : impl(std::move(p)) {}
        ~Handle() override { impl->join(); }
        void reload(const RadiusConfig& c) override { impl->reload(c); }
        void stop() override { impl->stop(); }
        std::string answer_admin(std::string_view q) override { return impl->answer_admin(q); }
        std::shared_ptr<ListenerImpl> impl;
    };
    return std::unique_ptr<Listener>(std::make_unique<Handle>(std::move(impl)));
}

}  // namespace pampero::radius
