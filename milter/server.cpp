#include "server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
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

#include "pampero/common/log.hpp"
#include "protocol.hpp"

namespace pampero::milter {

Result<SocketSpec> parse_socket_spec(std::string_view spec) {
    SocketSpec s;
    const auto colon = spec.find(':');
    const std::string_view kind = colon == std::string_view::npos ? "" : spec.substr(0, colon);
    const std::string_view rest = colon == std::string_view::npos ? spec : spec.substr(colon + 1);
    if (colon == std::string_view::npos || kind == "unix" || kind == "local") {
        s.kind = SocketSpec::Kind::unix_socket;
        s.path = std::string(rest);
        if (s.path.empty()) return Error::config(fmt::format("milter socket '{}': no path", spec));
        if (s.path.size() >= sizeof(sockaddr_un{}.sun_path)) {
            return Error::config(fmt::format("milter socket '{}': path too long", spec));
        }
        return s;
    }
    if (kind != "inet" && kind != "inet6") {
        return Error::config(fmt::format(
            "milter socket '{}': expected inet:PORT@HOST, inet6:PORT@HOST or unix:PATH", spec));
    }
    s.kind = kind == "inet" ? SocketSpec::Kind::inet : SocketSpec::Kind::inet6;
    const auto at = rest.find('@');
    const std::string_view port = rest.substr(0, at);
    if (at != std::string_view::npos) {
        s.host = std::string(rest.substr(at + 1));
        if (s.host.size() > 2 && s.host.front() == '[' && s.host.back() == ']')
            s.host = s.host.substr(1, s.host.size() - 2);
        if (s.host.empty())
            return Error::config(fmt::format("milter socket '{}': empty host after '@'", spec));
    }
    unsigned p = 0;
    const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || p == 0 ||
        p > 65535) {
        return Error::config(fmt::format("milter socket '{}': port must be 1-65535", spec));
    }
    s.port = static_cast<std::uint16_t>(p);
    return s;
}

namespace {

using Socket = asio::generic::stream_protocol::socket;
using Clock = std::chrono::steady_clock;

// The read buffer: room for at least this much per read, and a bound on what it may hold
// (one packet of kMaxPacketLength, its length field, and what follows it in that read).
constexpr std::size_t kInitialBuffer = 16 * 1024;
constexpr std::size_t kMinRead = 4 * 1024;
constexpr std::size_t kMaxBuffer = proto::kMaxPacketLength + 4 + 64 * 1024;
constexpr std::size_t kKeepBuffer = 256 * 1024;  // larger buffers are released once empty

// The macros the MTA defined, per stage, as libmilter keeps them: a new 'D' packet for a
// stage replaces that stage's macros; a lookup searches the latest stage first; "i" and
// "{i}" are the same name.
class MacroStore {
  public:
    static constexpr std::string_view kStages = "CHMRTEN";  // libmilter's order

    void set(char stage, const std::vector<std::pair<std::string_view, std::string_view>>& pairs) {
        const auto i = kStages.find(stage);
        if (i == std::string_view::npos) return;  // a stage we never look at
        auto& v = stages_[i];
        v.clear();
        for (const auto& [n, val] : pairs) v.emplace_back(std::string(bare(n)), std::string(val));
    }

    std::optional<std::string_view> get(std::string_view name) const {
        name = bare(name);
        for (std::size_t i = stages_.size(); i-- > 0;) {
            for (const auto& [n, v] : stages_[i]) {
                if (n == name) return std::string_view(v);
            }
        }
        return std::nullopt;
    }

    // The stage `from` and every later one: the end of a transaction drops its macros
    // (MAIL, RCPT, DATA, end of message, end of headers), so a queue id or a refused
    // recipient's "error" mailer never leaks into the next one.
    void clear_from(char from) {
        for (std::size_t i = kStages.find(from); i < stages_.size(); ++i) stages_[i].clear();
    }

  private:
    static std::string_view bare(std::string_view n) {
        if (n.size() >= 2 && n.front() == '{' && n.back() == '}') return n.substr(1, n.size() - 2);
        return n;
    }
    std::array<std::vector<std::pair<std::string, std::string>>, kStages.size()> stages_;
};

// The client address of a 'C' packet as Session wants it: canonical text for IPv4 and
// IPv6 ("IPv6:" prefix, as sendmail writes it, removed); empty for a local or unknown
// client; nullopt when the address does not parse.
std::optional<std::string> client_ip(const proto::Connect& c) {
    if (c.family != '4' && c.family != '6') return std::string();
    std::string_view a = c.address;
    if (c.family == '6' && a.size() >= 5 && strncasecmp(a.data(), "IPv6:", 5) == 0)
        a.remove_prefix(5);
    const std::string text(a);
    char out[INET6_ADDRSTRLEN] = {};
    if (c.family == '4') {
        in_addr v4{};
        if (inet_pton(AF_INET, text.c_str(), &v4) != 1) return std::nullopt;
        inet_ntop(AF_INET, &v4, out, sizeof out);
    } else {
        in6_addr v6{};
        if (inet_pton(AF_INET6, text.c_str(), &v6) != 1) return std::nullopt;
        inet_ntop(AF_INET6, &v6, out, sizeof out);
    }
    return std::string(out);
}

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
    SocketSpec spec;
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
          id_(id) {
        name_ = srv_.new_session_name();
        session_ = std::make_unique<Session>(srv_.services, name_);
        in_.resize(kInitialBuffer);
        ++loop_.live;
    }
    ~Connection() {
        --loop_.live;
        srv_.forget(id_);
    }

    asio::any_io_executor executor() { return socket_.get_executor(); }

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
    void touch() { deadline_ = Clock::now() + std::chrono::seconds(srv_.options.timeout); }

    void on_timer(std::error_code ec) {
        if (ec == asio::error::operation_aborted || closed_) return;
        if (Clock::now() < deadline_) {  // there was traffic since: wait for the new deadline
            timer_.expires_at(deadline_);
            timer_.async_wait(
                [self = shared_from_this()](std::error_code e) { self->on_timer(e); });
            return;
        }
        log::info("{}: no word from the MTA for {} s; closing the connection", name_,
                  srv_.options.timeout);
        close();
    }

    // Nothing to finish: outside a transaction, no half packet buffered and nothing
    // waiting in the socket.
    bool idle() {
        if (in_transaction_ || begin_ != end_) return false;
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
        make_room();
        reading_ = true;
        touch();
        // async_read_some, not async_wait + read_some: Asio registers the socket once
        // (edge-triggered) and queues a read without a system call when the last read
        // emptied the socket; async_wait re-arms epoll (epoll_ctl) on every call, which
        // was 8 system calls a message.
        socket_.async_read_some(asio::buffer(in_.data() + end_, in_.size() - end_),
                                [self = shared_from_this()](std::error_code ec, std::size_t n) {
                                    self->on_read(ec, n);
                                });
    }

    void make_room() {
        if (begin_ == end_) {
            begin_ = end_ = 0;
            if (in_.size() > kKeepBuffer) {
                in_.resize(kInitialBuffer);
                in_.shrink_to_fit();
            }
        }
        if (in_.size() - end_ >= kMinRead) return;
        if (begin_ > 0) {
            std::memmove(in_.data(), in_.data() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        // Still short: the packet being read is larger than the buffer. framing() has
        // already refused a length above kMaxPacketLength, so this stays below kMaxBuffer.
        if (in_.size() - end_ < kMinRead) in_.resize(std::min(in_.size() * 2, kMaxBuffer));
    }

    void on_read(std::error_code ec, std::size_t n) {
        reading_ = false;
        if (ec == asio::error::operation_aborted && draining_ && !closed_) {
            read();  // cancelled by drain(): closes unless bytes came in meanwhile
            return;
        }
        if (ec) {
            if (ec != asio::error::eof && ec != asio::error::operation_aborted && !closed_) {
                log::debug("{}: read: {}", name_, ec.message());
            }
            close();
            return;
        }
        end_ += n;
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
        touch();
        asio::async_write(socket_, asio::buffer(out_),
                          [self = shared_from_this(), keep](std::error_code ec, std::size_t) {
                              self->out_.clear();
                              if (ec || !keep) {
                                  self->close();
                                  return;
                              }
                              self->read();
                          });
    }

    // Every complete packet buffered, in order; replies go to out_. False: close after
    // writing out_.
    bool handle_buffered() {
        for (;;) {
            const std::string_view buffered(in_.data() + begin_, end_ - begin_);
            const proto::Framing f = proto::next_packet(buffered);
            if (f.status == proto::Framing::Status::incomplete) {
                // A length is known and the packet is larger than the room left: grow now
                // (bounded: next_packet refused anything above kMaxPacketLength).
                if (const std::size_t need = f.needed; need > 0) {
                    if (in_.size() - begin_ < need + kMinRead) {
                        std::memmove(in_.data(), in_.data() + begin_, end_ - begin_);
                        end_ -= begin_;
                        begin_ = 0;
                        if (in_.size() < need + kMinRead)
                            in_.resize(std::min(need + kMinRead, kMaxBuffer));
                    }
                }
                return true;
            }
            if (f.status == proto::Framing::Status::error) {
                protocol_error(f.error, true);
                return false;
            }
            begin_ += f.consumed;
            if (!handle(f.packet)) return false;
        }
    }

    // Whether the MTA waits for a reply to this command, given what was negotiated.
    bool reply_due(char command) const {
        switch (command) {
            case 'D':
            case 'A':
            case 'Q':
            case 'K':
                return false;
            case 'L':
                return !(protocol_ & proto::flag::nr_header);
            case 'N':
                return !(protocol_ & proto::flag::nr_eoh);
            case 'B':
                return !(protocol_ & proto::flag::nr_body);
            case 'U':
                return !(protocol_ & proto::flag::nr_unknown);
            default:
                return true;  // and for garbage: a 't' harms no one
        }
    }

    void protocol_error(std::string_view why, bool reply) {
        log::warning("{}: milter protocol error: {}; closing the connection", name_, why);
        if (reply) (void)proto::encode_simple(out_, 't');
    }

    bool handle(const proto::Packet& p) {
        auto command = proto::decode(p);
        if (!command) {
            protocol_error(command.error().message, reply_due(p.command));
            return false;
        }
        if (!negotiated_ && p.command != 'O') {
            protocol_error(fmt::format("command '{}' before option negotiation", p.command),
                           reply_due(p.command));
            return false;
        }
        return std::visit([this](const auto& c) { return on(c); }, *command);
    }

    // The one place a Reply becomes a milter answer.
    void answer(const Reply& r, std::uint32_t no_reply_flag) {
        if (protocol_ & no_reply_flag) {
            // Negotiated only for steps whose Session call always proceeds; should that
            // change, the verdict must not vanish silently.
            if (r.kind != Reply::Kind::proceed) {
                log::error("{}: a verdict ({} {}) at a step the MTA expects no reply for; not sent",
                           session_->id(), r.rcode, r.xcode);
            }
            return;
        }
        if (r.kind == Reply::Kind::proceed || r.rcode.empty()) {
            const char plain = r.kind == Reply::Kind::proceed  ? 'c'
                               : r.kind == Reply::Kind::reject ? 'r'
                                                               : 't';
            (void)proto::encode_simple(out_, plain);
            return;
        }
        // As smfi_setreply wrote it: "rcode xcode text", '%' doubled (Postfix undoes that).
        std::string line = r.rcode;
        if (!r.xcode.empty()) line += " " + r.xcode;
        line += ' ';
        for (char c : r.text) {
            if (c == '%') line += '%';
            line += c;
        }
        if (!proto::encode_reply_code(out_, line)) {
            log::warning("{}: reply '{} {}' cannot be encoded; answering without its text", name_,
                         r.rcode, r.xcode);
            (void)proto::encode_simple(out_, r.kind == Reply::Kind::reject ? 'r' : 't');
        }
    }
    void answer_continue(std::uint32_t no_reply_flag) { answer(Reply::ok(), no_reply_flag); }

    void pick_up_queue_id() {
        if (auto qid = macros_.get("i")) session_->set_queue_id(std::string(*qid));
    }

    bool on(const proto::OptionNegotiation& o) {
        if (o.version < 2) {
            protocol_error(fmt::format("MTA speaks milter protocol version {}", o.version), true);
            return false;
        }
        constexpr std::uint32_t want_actions =
            proto::action::add_headers | proto::action::change_headers | proto::action::delete_rcpt;
        if ((o.actions & want_actions) != want_actions) {
            log::warning("the MTA does not offer all milter actions pampero uses (offered {:#x})",
                         o.actions);
        }
        if (!(o.protocol & proto::flag::rcpt_rej)) {
            log::warning("the MTA cannot show refused recipients: the guard counts only its own");
        }
        // See server.hpp for why each of these, and why not NOEOH.
        constexpr std::uint32_t want_protocol =
            proto::flag::rcpt_rej | proto::flag::no_unknown | proto::flag::header_leading_space |
            proto::flag::nr_header | proto::flag::nr_body | proto::flag::nr_eoh |
            proto::flag::no_helo | proto::flag::no_data | proto::flag::nr_mail;
        protocol_ = o.protocol & want_protocol;
        negotiated_ = true;
        session_->set_verbatim_headers((protocol_ & proto::flag::header_leading_space) != 0);
        proto::encode_negotiation(
            out_, {std::min(o.version, proto::kVersion), o.actions & want_actions, protocol_});
        return true;
    }
    bool on(const proto::Macros& m) {
        macros_.set(m.stage, m.pairs);
        return true;
    }
    bool on(const proto::Connect& c) {
        const auto ip = client_ip(c);
        if (!ip) {
            protocol_error(fmt::format("client address '{}' does not parse", c.address), true);
            return false;
        }
        answer(session_->connect(*ip), proto::flag::nr_connect);
        return true;
    }
    bool on(const proto::Helo&) {
        answer_continue(proto::flag::nr_helo);
        return true;
    }
    bool on(const proto::Mail& m) {
        in_transaction_ = true;
        const auto auth = macros_.get("{auth_authen}");
        answer(session_->mail_from(std::string(m.args[0]), auth && !auth->empty()),
               proto::flag::nr_mail);
        return true;
    }
    bool on(const proto::Rcpt& r) {
        pick_up_queue_id();
        const auto mailer = macros_.get("{rcpt_mailer}");
        answer(session_->rcpt(std::string(r.args[0]), mailer && *mailer == "error"),
               proto::flag::nr_rcpt);
        return true;
    }
    bool on(const proto::Data&) {
        answer_continue(proto::flag::nr_data);
        return true;
    }
    bool on(const proto::Header& h) {
        session_->header(std::string(h.name), std::string(h.value));
        answer_continue(proto::flag::nr_header);
        return true;
    }
    bool on(const proto::EndOfHeaders&) {
        answer_continue(proto::flag::nr_eoh);
        return true;
    }
    bool on(const proto::Body& b) {
        session_->body(b.chunk);
        answer_continue(proto::flag::nr_body);
        return true;
    }
    bool on(const proto::EndOfMessage& e) {
        if (!e.chunk.empty()) session_->body(e.chunk);
        pick_up_queue_id();
        EndOfMessage eom = session_->end_of_message();
        if (!eom.log_line.empty()) log::info("{}", eom.log_line);
        if (eom.reply.kind != Reply::Kind::proceed) {
            answer(eom.reply, 0);
        } else {
            // Every change and the verdict leave in one write; a change that cannot be
            // encoded sends none of them: a recipient we meant to refuse could otherwise be
            // delivered, so the MTA retries instead.
            std::string changes;
            bool ok = true;
            for (const auto& rcpt : eom.delete_recipients)
                ok = ok && proto::encode_delete_rcpt(changes, rcpt);
            for (const auto& [name, index] : eom.delete_headers) {
                ok = ok && index > 0 &&
                     proto::encode_change_header(changes, static_cast<std::uint32_t>(index), name,
                                                 "");
            }
            for (const auto& [name, value] : eom.add_headers)
                ok = ok && proto::encode_add_header(changes, name, value);
            if (ok) {
                out_ += changes;
                answer_continue(0);
            } else {
                log::error("{}: applying the verdict failed; answering 451", session_->id());
                answer(
                    Reply::tempfail("451", "4.3.0", "Temporary internal failure, try again later"),
                    0);
            }
        }
        end_transaction();
        return true;
    }
    bool on(const proto::Abort&) {
        end_transaction();
        return true;
    }
    bool on(const proto::Quit&) { return false; }
    bool on(const proto::QuitNewConnection&) {
        end_transaction();
        macros_.clear_from('C');
        name_ = srv_.new_session_name();
        session_ = std::make_unique<Session>(srv_.services, name_);
        session_->set_verbatim_headers((protocol_ & proto::flag::header_leading_space) != 0);
        return true;
    }
    bool on(const proto::Unknown&) {
        answer_continue(proto::flag::nr_unknown);
        return true;
    }

    void end_transaction() {
        session_->reset_message();
        macros_.clear_from('M');
        in_transaction_ = false;
    }

    Server::Impl& srv_;
    Loop& loop_;
    Socket socket_;
    asio::steady_timer timer_;
    std::uint64_t id_;
    std::string name_;
    std::unique_ptr<Session> session_;
    MacroStore macros_;
    std::uint32_t protocol_ = 0;  // negotiated SMFIP_* flags
    bool negotiated_ = false;
    std::vector<char> in_;
    std::size_t begin_ = 0;  // in_[begin_, end_) is read and not yet handled
    std::size_t end_ = 0;
    std::string out_;  // the replies of this step, written at once
    Clock::time_point deadline_;
    bool in_transaction_ = false;
    bool draining_ = false;
    bool reading_ = false;
    bool closed_ = false;
};

void Server::Impl::accept() {
    Loop& loop = quietest_loop();
    acceptor.async_accept(loop.io, [this, &loop](std::error_code ec, Socket s) {
        if (ec == asio::error::operation_aborted || stopping) return;
        if (ec) {
            // Out of descriptors, most likely: say so and try again shortly.
            log::warning("milter socket: accept: {}", ec.message());
            accept_retry.expires_after(std::chrono::milliseconds(100));
            accept_retry.async_wait([this](std::error_code e) {
                if (!e && !stopping) accept();
            });
            return;
        }
        if (tcp) {
            std::error_code ignored;
            s.set_option(asio::ip::tcp::no_delay(true), ignored);
        }
        std::shared_ptr<Connection> c;
        {
            std::lock_guard lock(mu);
            const std::uint64_t id = ++next_connection;
            c = std::make_shared<Connection>(*this, loop, std::move(s), id);
            connections.emplace(id, c);
        }
        asio::post(c->executor(), [c] { c->start(); });
        accept();
    });
}

Server::Server(Services& services, ServerOptions options)
    : impl_(std::make_unique<Impl>(services, std::move(options))) {}

Server::~Server() {
    if (impl_->running) stop(std::chrono::seconds(0));
}

Status Server::listen() {
    Impl& m = *impl_;
    auto spec = parse_socket_spec(m.options.socket);
    if (!spec) return spec.error();
    m.spec = *spec;
    asio::generic::stream_protocol::endpoint ep;
    std::error_code ec;
    if (m.spec.kind == SocketSpec::Kind::unix_socket) {
        // A socket file left by a previous run (smfi_opensocket(true) did the same); any
        // other kind of file is the admin's, and bind() will say so.
        struct stat st {};
        if (::lstat(m.spec.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
            ::unlink(m.spec.path.c_str());
        ep = asio::local::stream_protocol::endpoint(m.spec.path);
    } else {
        m.tcp = true;
        asio::ip::address addr;
        if (m.spec.host.empty()) {
            addr = m.spec.kind == SocketSpec::Kind::inet
                       ? asio::ip::address(asio::ip::address_v4::any())
                       : asio::ip::address(asio::ip::address_v6::any());
        } else {
            addr = asio::ip::make_address(m.spec.host, ec);
            if (ec) {  // a host name: its first address of the socket's family
                asio::ip::tcp::resolver resolver(m.loops.front()->io);
                const auto proto = m.spec.kind == SocketSpec::Kind::inet ? asio::ip::tcp::v4()
                                                                         : asio::ip::tcp::v6();
                auto results =
                    resolver.resolve(proto, m.spec.host, std::to_string(m.spec.port), ec);
                if (ec || results.empty()) {
                    return Error::config(fmt::format("milter socket '{}': cannot resolve {}: {}",
                                                     m.options.socket, m.spec.host,
                                                     ec ? ec.message() : "no address"));
                }
                addr = results.begin()->endpoint().address();
            }
        }
        ep = asio::ip::tcp::endpoint(addr, m.spec.port);
    }
    auto fail = [&](const char* what) {
        return Error::temporary(
            fmt::format("milter socket '{}': {}: {}", m.options.socket, what, ec.message()));
    };
    m.acceptor.open(ep.protocol(), ec);
    if (ec) return fail("socket");
    if (m.tcp) m.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (ec) return fail("SO_REUSEADDR");
    m.acceptor.bind(ep, ec);
    if (ec) return fail("bind");
    if (!m.tcp) {  // so Postfix (user postfix) can connect, and nobody else
        if (auto st = apply_unix_access(m.spec.path, m.options.unix_access); !st) return st;
    }
    m.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail("listen");
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
    if (m.spec.kind == SocketSpec::Kind::unix_socket && !m.spec.path.empty())
        ::unlink(m.spec.path.c_str());
}

}  // namespace pampero::milter
