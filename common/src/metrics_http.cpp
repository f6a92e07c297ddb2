#include "pampero/common/metrics_http.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "pampero/common/endpoint.hpp"
#include "pampero/common/log.hpp"

namespace pampero::metrics {
namespace {

std::string reply(int code, const char* reason, std::string_view body,
                  std::string_view type = "text/plain; charset=utf-8") {
    return fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        code, reason, type, body.size(), body);
}

bool is_token_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

void set_nonblocking(int fd) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

struct Conn {
    int fd = -1;
    std::string in;
    std::string out;
    std::size_t sent = 0;
    bool draining = false;  // answered: reading what the peer still sends, until it closes
    std::chrono::steady_clock::time_point deadline;
};

// The end of the request head, or npos. Bare LF line ends are accepted (curl never sends
// them, a person typing into nc does).
std::size_t head_end(const std::string& in) {
    const auto crlf = in.find("\r\n\r\n");
    if (crlf != std::string::npos) return crlf + 4;
    const auto lf = in.find("\n\n");
    return lf == std::string::npos ? lf : lf + 2;
}

}  // namespace

std::string http_response(const Registry& registry, std::string_view head, bool complete) {
    if (!complete) return reply(400, "Bad Request", "request too large\n");
    const auto eol = head.find('\n');
    std::string_view line = head.substr(0, eol);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // METHOD SP TARGET SP HTTP/1.x, nothing else on the line.
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0)
        return reply(400, "Bad Request", "bad request line\n");
    const std::string_view method = line.substr(0, sp1);
    const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    for (const char c : method) {
        if (!is_token_char(c)) return reply(400, "Bad Request", "bad method\n");
    }
    if (target.empty() || target.front() != '/' || (version != "HTTP/1.1" && version != "HTTP/1.0"))
        return reply(400, "Bad Request", "bad request line\n");
    for (const char c : target) {
        if (c <= 0x20 || c >= 0x7f) return reply(400, "Bad Request", "bad request target\n");
    }
    const std::string_view path = target.substr(0, target.find('?'));
    if (method != "GET") return reply(405, "Method Not Allowed", "only GET\n");
    if (path != "/metrics") return reply(404, "Not Found", "only /metrics\n");
    return reply(200, "OK", registry.render(), "text/plain; version=0.0.4; charset=utf-8");
}

HttpServer::HttpServer(const Registry& registry, int listen_fd)
    : registry_(registry), fd_(listen_fd) {
    if (pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) wake_[0] = wake_[1] = -1;
    set_nonblocking(fd_);
}

HttpServer::~HttpServer() {
    stop();
    if (fd_ >= 0) close(fd_);
    for (int p : wake_) {
        if (p >= 0) close(p);
    }
}

void HttpServer::start() {
    thread_ = std::thread([this] { run(); });
}

void HttpServer::stop() {
    if (!thread_.joinable()) return;
    (void)!write(wake_[1], "x", 1);
    thread_.join();
}

void HttpServer::run() {
    std::vector<Conn> conns;
    auto drop = [&](std::size_t i) {
        close(conns[i].fd);
        conns.erase(conns.begin() + static_cast<std::ptrdiff_t>(i));
    };
    for (;;) {
        std::vector<pollfd> p;
        p.push_back({wake_[0], POLLIN, 0});
        p.push_back({fd_, POLLIN, 0});
        for (const auto& c : conns) {
            const bool reading = c.out.empty() || c.draining;
            p.push_back({c.fd, static_cast<short>(reading ? POLLIN : POLLOUT), 0});
        }
        const int n = poll(p.data(), p.size(), 1000);
        if (n < 0 && errno != EINTR) {
            log::error("metrics: poll: {}", std::strerror(errno));
            return;
        }
        if (p[0].revents) return;  // stop()
        const auto now = std::chrono::steady_clock::now();
        // Connections first (their indexes match p[2..]), from the back so erasing is safe.
        for (std::size_t k = conns.size(); k-- > 0;) {
            Conn& c = conns[k];
            const short ev = p[k + 2].revents;
            if (ev & (POLLERR | POLLNVAL)) {
                drop(k);
                continue;
            }
            if (c.draining && (ev & (POLLIN | POLLHUP))) {
                // Closing with unread input would reset the connection and could destroy
                // the answer before the peer read it (a request over kMaxRequest is
                // answered while it is still arriving): read and drop until the peer
                // closes, within the connection's deadline.
                char buf[4096];
                const ssize_t r = recv(c.fd, buf, sizeof buf, 0);
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                    drop(k);
                    continue;
                }
            } else if (c.out.empty() && (ev & (POLLIN | POLLHUP))) {
                char buf[2048];
                const ssize_t r = recv(c.fd, buf, sizeof buf, 0);
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                    drop(k);
                    continue;
                }
                if (r > 0) c.in.append(buf, static_cast<std::size_t>(r));
                const std::size_t end = head_end(c.in);
                if (end != std::string::npos && end <= kMaxRequest)
                    c.out = http_response(registry_, std::string_view(c.in).substr(0, end));
                else if (c.in.size() > kMaxRequest)
                    c.out = http_response(registry_, c.in, false);
            } else if (!c.out.empty() && (ev & (POLLOUT | POLLHUP))) {
                const ssize_t w = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent,
                                       MSG_NOSIGNAL | MSG_DONTWAIT);
                if (w < 0 && errno != EAGAIN && errno != EINTR) {
                    drop(k);
                    continue;
                }
                if (w > 0) c.sent += static_cast<std::size_t>(w);
                if (c.sent == c.out.size()) {
                    shutdown(c.fd, SHUT_WR);  // one request per connection: we are done
                    c.draining = true;
                }
            }
            if (now > c.deadline) drop(k);
        }
        if (p[1].revents & POLLIN) {
            for (;;) {
                const int fd = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0) {
                    // Out of descriptors: the pending connection stays queued and poll()
                    // would report it at once; a pause keeps this from spinning.
                    if (errno == EMFILE || errno == ENFILE)
                        std::this_thread::sleep_for(std::chrono::milliseconds(100));
                    break;
                }
                if (conns.size() >= kMaxConnections) {
                    close(fd);  // over the bound: closed unanswered, the others go on
                    continue;
                }
                conns.push_back({fd, {}, {}, 0, false, now + kRequestTimeout});
            }
        }
    }
}

Result<std::unique_ptr<HttpServer>> open_http_server(const Registry& registry, std::string_view key,
                                                     const std::string& spec,
                                                     const UnixSocketAccess& access) {
    auto e = parse_endpoint(spec);
    if (!e) return Error::config(fmt::format("{}: {}", key, e.error().message));
    auto fd = listen_on(*e, 128, e->tcp() ? nullptr : &access);
    if (!fd) return Error{fd.error().kind, fmt::format("{}: {}", key, fd.error().message)};
    return std::make_unique<HttpServer>(registry, *fd);
}

}  // namespace pampero::metrics
