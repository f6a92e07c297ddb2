#include "server.hpp"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "conn.hpp"
#include "lmtp_codec.hpp"
#include "lmtp_session.hpp"
#include "netstring.hpp"
#include "pampero/common/log.hpp"

namespace pampero::store {
namespace {

using namespace std::chrono_literals;
constexpr auto kCommandTimeout = 300s;
constexpr auto kDataTimeout = 600s;
constexpr auto kMapIdleTimeout = 600s;

std::string host_name() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) return "localhost";
    return buf;
}

}  // namespace

void RateLimitedLog::hit(const std::string& what) {
    const auto now = std::chrono::steady_clock::now();
    ++suppressed_;
    if (now - last_ < std::chrono::seconds(1)) return;
    if (suppressed_ > 1)
        log::warning("{} (and {} more like it in the last seconds)", what, suppressed_ - 1);
    else
        log::warning("{}", what);
    last_ = now;
    suppressed_ = 0;
}

Status Server::listen(const Endpoint& lmtp, const Endpoint& socketmap) {
    hostname_ = host_name();
    const auto snap = snap_.get();
    const StoreConfig& sc = snap->config.store;
    map_limit_ = sc.socketmap_sessions;
    auto lc = ClientAllowList::parse(sc.lmtp_clients);
    if (!lc) return lc.error();
    auto mc = ClientAllowList::parse(sc.socketmap_clients);
    if (!mc) return mc.error();
    lmtp_clients_ = std::move(*lc);
    map_clients_ = std::move(*mc);
    const UnixSocketAccess access{sc.socket_owner, sc.socket_group, sc.socket_mode};
    auto open = [&](const Endpoint& e, int& out) -> Status {
        auto fd = listen_on(e, 128, &access);
        if (!fd) return fd.error();
        out = *fd;
        return ok_status();
    };
    if (auto st = open(lmtp, lmtp_fd_); !st) return st;
    lmtp_tcp_ = lmtp.tcp();
    map_tcp_ = socketmap.tcp();
    if (auto st = open(socketmap, map_fd_); !st) {
        close(lmtp_fd_);
        lmtp_fd_ = -1;
        return st;
    }
    return ok_status();
}

void Server::start() {
    acceptors_.emplace_back([this] { accept_loop(lmtp_fd_, true); });
    acceptors_.emplace_back([this] { accept_loop(map_fd_, false); });
}

bool Server::stop(std::chrono::seconds grace) {
    stopping_ = true;
    for (auto& t : acceptors_) {
        if (t.joinable()) t.join();
    }
    acceptors_.clear();
    for (int* fd : {&lmtp_fd_, &map_fd_}) {
        if (*fd >= 0) close(*fd);
        *fd = -1;
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, grace, [this] { return lmtp_active_ == 0 && map_active_ == 0; });
    if (lmtp_active_ + map_active_ > 0) {
        log::warning(
            "stopping with {} session(s) still busy after {}s; they get no reply, so "
            "their MTAs retry",
            lmtp_active_ + map_active_, grace.count());
        return false;
    }
    return true;
}

void Server::accept_loop(int lfd, bool lmtp) {
    const char* const name = lmtp ? "lmtp" : "socketmap";
    const bool tcp = lmtp ? lmtp_tcp_ : map_tcp_;
    const ClientAllowList& allowed = lmtp ? lmtp_clients_ : map_clients_;
    const int limit = lmtp ? kMaxLmtpSessions : map_limit_;
    RateLimitedLog refused_log;  // a flood of refusals is one warning a second
    RateLimitedLog full_log;
    while (!stopping_) {
        pollfd p{lfd, POLLIN, 0};
        if (poll(&p, 1, 250) <= 0) continue;
        sockaddr_storage peer{};
        socklen_t peer_len = sizeof peer;
        const int fd = accept4(lfd, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                log::error("accept: {}", std::strerror(errno));
                std::this_thread::sleep_for(100ms);
            }
            continue;
        }
        if (tcp) {
            // Replies are small and each one is what the peer waits for: no Nagle delay.
            const int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (!allowed.allows(reinterpret_cast<sockaddr*>(&peer), peer_len)) {
                const std::string who = peer_text(reinterpret_cast<sockaddr*>(&peer), peer_len);
                if (lmtp) {
                    const std::string no =
                        fmt::format("421 4.7.0 {} Client {} not allowed\r\n", hostname_, who);
                    (void)!::send(fd, no.data(), no.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
                }
                close(fd);
                refused_log.hit(fmt::format(
                    "{}: connection from {} refused: not in store.{}_clients", name, who, name));
                continue;
            }
        }
        {
            std::lock_guard lock(mu_);
            int& active = lmtp ? lmtp_active_ : map_active_;
            if (active >= limit) {
                if (lmtp) {
                    static constexpr char kBusy[] =
                        "421 4.3.2 Too many connections, try again later\r\n";
                    (void)!::send(fd, kBusy, sizeof kBusy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                }
                close(fd);
                full_log.hit(fmt::format("{}: connection limit of {} reached, one refused{}", name,
                                         limit, lmtp ? "" : " (raise store.socketmap_sessions)"));
                continue;
            }
            ++active;
        }
        const std::uint64_t id = next_id_++;
        std::thread([this, fd, lmtp, id] {
            if (lmtp)
                lmtp_session(fd, id);
            else
                socketmap_session(fd);
            std::lock_guard lock(mu_);
            --(lmtp ? lmtp_active_ : map_active_);
            cv_.notify_all();
        }).detach();
    }
}

void Server::lmtp_session(int fd, std::uint64_t num) {
    Conn c(fd, &stopping_);
    const auto snap = snap_.get();
    const StoreConfig& sc = snap->config.store;
    LmtpSession s(store_, {hostname_, fmt::format("lmtp-{:x}", num), sc.message_size_limit,
                           sc.spool_threshold, sc.mail_root});
    c.set_write_timeout(std::chrono::seconds(sc.write_timeout));
    log::debug("lmtp-{:x}: connect", num);
    if (!c.send(s.greeting())) return;

    std::string line;
    for (;;) {
        // Between transactions a graceful stop may interrupt the wait; inside one the
        // client gets to finish it.
        const auto st =
            c.read_line(line, lmtp::kMaxCommandLine, kCommandTimeout, !s.in_transaction());
        LmtpSession::Output out;
        if (st == Conn::Status::too_long) {
            out = s.line_too_long();
        } else if (st == Conn::Status::timeout) {
            c.send("421 4.4.2 Error: timeout exceeded\r\n");
            break;
        } else if (st == Conn::Status::stopping) {
            c.send("421 4.3.2 Service shutting down\r\n");
            break;
        } else if (st == Conn::Status::write_timeout) {
            log::info("lmtp-{:x}: client did not read its replies for {}s; closing", num,
                      sc.write_timeout);
            break;
        } else if (st != Conn::Status::ok) {
            break;
        } else {
            out = s.command(line);
        }
        c.queue(out.reply);
        if (out.close) {
            c.flush();
            return;
        }
        // DATA: the raw bytes go to the session up to its end marker; what follows that in
        // the buffer is the next pipelined command.
        while (s.in_data()) {
            LmtpSession::Output done;
            c.consume(s.data(c.buffered(), done));
            if (!s.in_data()) {
                c.queue(done.reply);
                break;
            }
            const auto fs = c.fill(kDataTimeout);
            if (fs != Conn::Status::ok) {
                if (fs == Conn::Status::timeout) c.send("421 4.4.2 Error: timeout exceeded\r\n");
                s.data_lost();
                return;
            }
        }
    }
    c.flush();
}

void Server::socketmap_session(int fd) {
    Conn c(fd, &stopping_);
    c.set_write_timeout(std::chrono::seconds(snap_.get()->config.store.write_timeout));
    for (;;) {
        const auto d = decode_netstring(c.buffered());
        if (d.status == NetstringDecode::Status::error) {
            // The stream cannot be resynchronized after a framing error: answer and close.
            log::warning("socketmap: {}; closing the connection", d.error);
            c.send(encode_netstring(fmt::format("PERM {}", d.error)));
            return;
        }
        if (d.status == NetstringDecode::Status::ok) {
            const std::string answer = maps_.answer(d.value);
            c.consume(d.consumed);
            c.queue(encode_netstring(answer));
            continue;
        }
        const auto st = c.fill(kMapIdleTimeout, true);
        if (st != Conn::Status::ok) break;
    }
    c.flush();
}

}  // namespace pampero::store
