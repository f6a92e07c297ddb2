#include "pampero/common/endpoint.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "pampero/common/socket_access.hpp"

namespace pampero {
namespace {

Error sys_error(const std::string& what) {
    return Error::temporary(fmt::format("{}: {}", what, std::strerror(errno)));
}

struct AddrInfo {
    addrinfo* list = nullptr;
    ~AddrInfo() {
        if (list) freeaddrinfo(list);
    }
};

Result<int> resolve(const Endpoint& e, AddrInfo& ai, bool passive) {
    addrinfo hints{};
    hints.ai_family = e.kind == Endpoint::Kind::inet6 ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (passive) hints.ai_flags = AI_PASSIVE;
    const std::string port = std::to_string(e.port);
    const int rc = getaddrinfo(e.host.c_str(), port.c_str(), &hints, &ai.list);
    if (rc != 0 || !ai.list) {
        return Error::temporary(fmt::format("{}: {}", e.str(), gai_strerror(rc)));
    }
    return 0;
}

}  // namespace

std::string Endpoint::str() const {
    if (kind == Kind::unix_socket) return "unix:" + path;
    return fmt::format("{}:{}@{}", kind == Kind::inet6 ? "inet6" : "inet", port, host);
}

std::string Endpoint::postfix_nexthop() const {
    if (kind == Kind::unix_socket) return "unix:" + path;
    if (kind == Kind::inet6) return fmt::format("inet:[{}]:{}", host, port);
    return fmt::format("inet:{}:{}", host, port);
}

Result<Endpoint> parse_endpoint(std::string_view spec) {
    Endpoint e;
    const auto colon = spec.find(':');
    const std::string_view kind = colon == std::string_view::npos ? "" : spec.substr(0, colon);
    const std::string_view rest = colon == std::string_view::npos ? spec : spec.substr(colon + 1);
    if (colon == std::string_view::npos || kind == "unix" || kind == "local") {
        e.kind = Endpoint::Kind::unix_socket;
        e.path = std::string(rest);
        if (e.path.empty() || e.path.front() != '/') {
            return Error::config(
                fmt::format("socket '{}': a UNIX socket needs an absolute path", spec));
        }
        if (e.path.size() >= sizeof(sockaddr_un{}.sun_path)) {
            return Error::config(fmt::format("socket '{}': path too long", spec));
        }
        return e;
    }
    if (kind != "inet" && kind != "inet6") {
        return Error::config(fmt::format(
            "socket '{}': expected inet:PORT@HOST, inet6:PORT@HOST or unix:PATH", spec));
    }
    e.kind = kind == "inet" ? Endpoint::Kind::inet : Endpoint::Kind::inet6;
    const auto at = rest.find('@');
    const std::string_view port = rest.substr(0, at);
    if (at == std::string_view::npos) {
        e.host = e.kind == Endpoint::Kind::inet ? "127.0.0.1" : "::1";  // see the header
    } else {
        e.host = std::string(rest.substr(at + 1));
        if (e.host.size() > 2 && e.host.front() == '[' && e.host.back() == ']')
            e.host = e.host.substr(1, e.host.size() - 2);
        if (e.host.empty())
            return Error::config(fmt::format("socket '{}': empty host after '@'", spec));
        if (e.kind == Endpoint::Kind::inet && e.host.find(':') != std::string::npos) {
            return Error::config(
                fmt::format("socket '{}': an IPv6 address needs inet6:PORT@HOST", spec));
        }
    }
    unsigned p = 0;
    const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || p == 0 ||
        p > 65535) {
        return Error::config(fmt::format("socket '{}': port must be 1-65535", spec));
    }
    e.port = static_cast<std::uint16_t>(p);
    return e;
}

Result<int> listen_on(const Endpoint& e, int backlog, const UnixSocketAccess* access) {
    if (e.kind == Endpoint::Kind::unix_socket) {
        const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return sys_error("socket");
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::memcpy(sa.sun_path, e.path.c_str(), e.path.size() + 1);
        struct stat st {};
        if (lstat(e.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(e.path.c_str());
        if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
            Error err = sys_error(e.str());
            close(fd);
            return err;
        }
        if (access) {
            if (auto st = apply_unix_access(e.path, *access); !st) {
                close(fd);
                return st.error();
            }
        }
        if (listen(fd, backlog) != 0) {
            Error err = sys_error(e.str());
            close(fd);
            return err;
        }
        return fd;
    }
    AddrInfo ai;
    if (auto r = resolve(e, ai, true); !r) return r.error();
    const addrinfo* a = ai.list;
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) return sys_error("socket");
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
        Error err = sys_error(e.str());
        close(fd);
        return err;
    }
    return fd;
}

Result<int> connect_to(const Endpoint& e, std::chrono::milliseconds timeout) {
    int fd = -1;
    int rc = 0;
    if (e.kind == Endpoint::Kind::unix_socket) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) return sys_error("socket");
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::memcpy(sa.sun_path, e.path.c_str(), e.path.size() + 1);
        rc = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    } else {
        AddrInfo ai;
        if (auto r = resolve(e, ai, false); !r) return r.error();
        const addrinfo* a = ai.list;
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0) return sys_error("socket");
        rc = connect(fd, a->ai_addr, a->ai_addrlen);
        const int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (rc != 0 && errno != EINPROGRESS && errno != EAGAIN) {
        Error err = sys_error("connect " + e.str());
        close(fd);
        return err;
    }
    if (rc != 0) {
        pollfd p{fd, POLLOUT, 0};
        const int n = poll(&p, 1, static_cast<int>(timeout.count()));
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (n <= 0) {
            close(fd);
            return Error::temporary(fmt::format("connect {}: timed out", e.str()));
        }
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        if (soerr != 0) {
            errno = soerr;
            Error err = sys_error("connect " + e.str());
            close(fd);
            return err;
        }
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

}  // namespace pampero
