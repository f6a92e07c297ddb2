#include "server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "conn.hpp"
#include "lmtp_codec.hpp"
#include "netstring.hpp"
#include "pampero/common/log.hpp"
#include "spool.hpp"

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

// Where a big message is spooled: the first local target's tmp/ (the same filesystem as
// the copies it becomes), else mail_root/.spool/ (no user's maildir can be named so:
// resolve_maildir() refuses components starting with '.').
Result<Spool> open_spool(const std::string& mail_root, const std::vector<Recipient>& rcpts,
                         const std::string& id) {
    for (const auto& r : rcpts) {
        if (r.local.empty()) continue;
        const std::string& root = r.local.front().root;
        auto folder = open_folder(mail_root, root, "");
        auto tmp = folder ? open_below(mail_root, root + "/tmp", false) : Result<DirFd>(folder.error());
        auto spool = tmp ? Spool::create(*tmp, root + "/tmp") : Result<Spool>(tmp.error());
        if (spool) return spool;
        // That recipient's delivery will say what is wrong with its maildir; the message
        // is spooled elsewhere so the others still get it.
        log::warning("{}: cannot spool in {}/tmp: {}", id, root, spool.error().message);
        break;
    }
    std::string base = mail_root;
    while (base.size() > 1 && base.back() == '/') base.pop_back();
    auto dir = open_below(mail_root, base + "/.spool", true);
    if (!dir) return dir.error();
    return Spool::create(*dir, base + "/.spool");
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
        auto fd = listen_on(e);
        if (!fd) return fd.error();
        if (e.kind == Endpoint::Kind::unix_socket) {
            if (auto st = apply_unix_access(e.path, access); !st) {
                close(*fd);
                return st;
            }
        }
        out = *fd;
        return ok_status();
    };
    if (auto st = open(lmtp, lmtp_fd_); !st) return st;
    lmtp_tcp_ = lmtp.kind == Endpoint::Kind::inet;
    map_tcp_ = socketmap.kind == Endpoint::Kind::inet;
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
        log::warning("stopping with {} session(s) still busy after {}s; they get no reply, so "
                     "their MTAs retry", lmtp_active_ + map_active_, grace.count());
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
            if (lmtp) lmtp_session(fd, id);
            else socketmap_session(fd);
            std::lock_guard lock(mu_);
            --(lmtp ? lmtp_active_ : map_active_);
            cv_.notify_all();
        }).detach();
    }
}

void Server::lmtp_session(int fd, std::uint64_t num) {
    Conn c(fd, &stopping_);
    const std::string id = fmt::format("lmtp-{:x}", num);
    const auto snap = snap_.get();
    const std::uint64_t size_limit = snap->config.store.message_size_limit;
    const std::uint64_t spool_threshold = snap->config.store.spool_threshold;
    c.set_write_timeout(std::chrono::seconds(snap->config.store.write_timeout));
    log::debug("{}: connect", id);
    if (!c.send(fmt::format("220 {} LMTP pampero-store ready\r\n", hostname_))) return;

    bool greeted = false;
    std::optional<std::string> mail;
    std::optional<std::uint64_t> size_hint;  // MAIL ... SIZE=
    std::vector<Recipient> rcpts;
    int errors = 0;
    Envelope env;
    env.session_id = id;
    auto reset = [&] {
        mail.reset();
        rcpts.clear();
    };
    auto reply = [&](const lmtp::Reply& r) { c.queue(r.wire()); };

    std::string line;
    for (;;) {
        const auto st = c.read_line(line, lmtp::kMaxCommandLine, kCommandTimeout, !mail.has_value());
        if (st == Conn::Status::too_long) {
            reply({500, "5.5.2", "Error: command line too long"});
        } else if (st == Conn::Status::timeout) {
            c.send("421 4.4.2 Error: timeout exceeded\r\n");
            break;
        } else if (st == Conn::Status::stopping) {
            c.send("421 4.3.2 Service shutting down\r\n");
            break;
        } else if (st == Conn::Status::write_timeout) {
            log::info("{}: client did not read its replies for {}s; closing", id,
                      snap->config.store.write_timeout);
            break;
        } else if (st != Conn::Status::ok) {
            break;
        }
        if (st == Conn::Status::too_long) {
            if (++errors > kMaxErrors) {
                c.send("421 4.7.0 Error: too many errors\r\n");
                break;
            }
            continue;
        }
        auto parsed = lmtp::parse_command(line);
        if (!parsed.command) {
            reply(*parsed.error);
            if (++errors > kMaxErrors) {
                c.send("421 4.7.0 Error: too many errors\r\n");
                break;
            }
            continue;
        }
        const lmtp::Command& cmd = *parsed.command;
        switch (cmd.verb) {
            case lmtp::Verb::lhlo:
                reset();
                greeted = true;
                env.helo = cmd.argument;
                c.queue(lmtp::wire_multiline(
                    250, {hostname_, "PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME",
                          fmt::format("SIZE {}", size_limit), std::string(lmtp::kLocalOnlyParam)}));
                break;
            case lmtp::Verb::mail:
                if (!greeted) reply({503, "5.5.1", "Error: send LHLO first"});
                else if (mail) reply({503, "5.5.1", "Error: nested MAIL command"});
                else if (cmd.size && *cmd.size > size_limit) reply(Store::too_big());
                else {
                    mail = cmd.path;
                    size_hint = cmd.size;
                    env.sender = cmd.path;
                    reply({250, "2.1.0", "Ok"});
                }
                break;
            case lmtp::Verb::rcpt: {
                if (!mail) {
                    reply({503, "5.5.1", "Error: need MAIL command"});
                    break;
                }
                if (rcpts.size() >= kMaxRecipients) {
                    reply({452, "4.5.3", "Error: too many recipients"});
                    break;
                }
                auto r = store_.accept_recipient(cmd.path, cmd.local_only, size_hint);
                if (auto* rep = std::get_if<lmtp::Reply>(&r)) {
                    log::info("{}: from=<{}> to=<{}>: {} {} {}", id, env.sender, cmd.path, rep->code,
                              rep->enhanced, rep->text);
                    reply(*rep);
                } else {
                    rcpts.push_back(std::move(std::get<Recipient>(r)));
                    reply({250, "2.1.5", "Ok"});
                }
                break;
            }
            case lmtp::Verb::data: {
                if (!mail) {
                    reply({503, "5.5.1", "Error: need MAIL command"});
                    break;
                }
                if (rcpts.empty()) {
                    reply({503, "5.5.1", "Error: no valid recipients"});
                    break;
                }
                c.queue("354 End data with <CR><LF>.<CR><LF>\r\n");
                lmtp::DataDecoder dec(size_limit);
                // Above the threshold the message goes to an unnamed spool file (spool.hpp)
                // as it is decoded, so a session holds at most threshold + one read.
                std::optional<Spool> spool;
                std::optional<Error> spool_error;
                auto spill = [&] {
                    if (!spool && !spool_error) {
                        auto sp = open_spool(snap->config.store.mail_root, rcpts, id);
                        if (sp)
                            spool.emplace(std::move(*sp));
                        else
                            spool_error = sp.error();
                    }
                    if (spool && !spool_error) {
                        if (auto w = spool->append(dec.message()); !w) spool_error = w.error();
                    }
                    dec.drain();  // after a spool error too: the rest is read and dropped
                };
                bool lost = false;
                while (!dec.done()) {
                    const std::size_t used = dec.feed(c.buffered());
                    c.consume(used);
                    if (!dec.overflow() &&
                        (spool || spool_error || dec.message().size() > spool_threshold)) {
                        spill();
                    }
                    if (dec.done()) break;
                    const auto fs = c.fill(kDataTimeout);
                    if (fs != Conn::Status::ok) {
                        if (fs == Conn::Status::timeout) c.send("421 4.4.2 Error: timeout exceeded\r\n");
                        lost = true;
                        break;
                    }
                }
                if (lost) {
                    log::info("{}: connection lost during DATA; nothing acknowledged", id);
                    return;
                }
                if (dec.overflow()) {
                    log::info("{}: message of {} octets exceeds the limit of {}", id, dec.octets(), size_limit);
                    for (std::size_t i = 0; i < rcpts.size(); ++i) reply(Store::too_big());
                } else if (spool || spool_error) {
                    Result<std::string_view> whole =
                        spool_error ? Result<std::string_view>(*spool_error) : spool->view();
                    if (whole) {
                        for (const auto& r : store_.deliver(env, *whole, rcpts)) reply(r);
                    } else {
                        log::error("{}: from=<{}>: {}", id, env.sender, whole.error().message);
                        for (std::size_t i = 0; i < rcpts.size(); ++i) {
                            reply({452, "4.3.1", "Insufficient system storage"});
                        }
                    }
                } else {
                    for (const auto& r : store_.deliver(env, dec.message(), rcpts)) reply(r);
                }
                reset();
                break;
            }
            case lmtp::Verb::rset:
                reset();
                reply({250, "2.0.0", "Ok"});
                break;
            case lmtp::Verb::noop: reply({250, "2.0.0", "Ok"}); break;
            case lmtp::Verb::vrfy: reply({252, "2.5.2", "Cannot VRFY user; try RCPT"}); break;
            case lmtp::Verb::quit:
                c.send("221 2.0.0 Bye\r\n");
                return;
            default: reply({500, "5.5.2", "Error: command not recognized"}); break;
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
