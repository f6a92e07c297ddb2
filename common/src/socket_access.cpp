#include "pampero/common/socket_access.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "pampero/common/log.hpp"

namespace pampero {
namespace {

std::optional<unsigned> parse_number(std::string_view s) {
    unsigned v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

// uid/gid by name or number; nullopt when unknown.
std::optional<uid_t> find_user(const std::string& name) {
    if (auto n = parse_number(name)) return static_cast<uid_t>(*n);
    passwd pw{};
    passwd* out = nullptr;
    char buf[4096];
    if (getpwnam_r(name.c_str(), &pw, buf, sizeof buf, &out) != 0 || !out) return std::nullopt;
    return out->pw_uid;
}

std::optional<gid_t> find_group(const std::string& name) {
    if (auto n = parse_number(name)) return static_cast<gid_t>(*n);
    group gr{};
    group* out = nullptr;
    char buf[16384];
    if (getgrnam_r(name.c_str(), &gr, buf, sizeof buf, &out) != 0 || !out) return std::nullopt;
    return out->gr_gid;
}

}  // namespace

std::optional<unsigned> parse_socket_mode(std::string_view text) {
    if (text.starts_with("0o")) text.remove_prefix(2);
    if (text.empty() || text.size() > 4) return std::nullopt;
    unsigned v = 0;
    for (const char c : text) {
        if (c < '0' || c > '7') return std::nullopt;
        v = v * 8 + static_cast<unsigned>(c - '0');
    }
    if (v > 0777) return std::nullopt;
    return v;
}

Status apply_unix_access(const std::string& path, const UnixSocketAccess& a) {
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    if (!a.owner.empty()) {
        auto u = find_user(a.owner);
        if (!u)
            return Error::config(fmt::format("{}: socket_owner '{}': no such user", path, a.owner));
        uid = *u;
    }
    const bool default_group = a.group == kDefaultSocketGroup;
    if (!a.group.empty()) {
        auto g = find_group(a.group);
        if (g) {
            gid = *g;
        } else if (default_group) {
            log::warning("{}: group '{}' does not exist; the socket keeps this daemon's group",
                         path, a.group);
        } else {
            return Error::config(
                fmt::format("{}: socket_group '{}': no such group", path, a.group));
        }
    }
    if (uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1)) {
        if (chown(path.c_str(), uid, gid) != 0) {
            const int err = errno;
            // An unprivileged daemon may not give the socket to a group it is not in: for
            // the default group, say so and carry on with the mode.
            if (!(err == EPERM && default_group && a.owner.empty())) {
                return Error::config(fmt::format("{}: chown to {}:{}: {}", path, a.owner, a.group,
                                                 std::strerror(err)));
            }
            log::warning("{}: cannot give the socket to group '{}': {}", path, a.group,
                         std::strerror(err));
        }
    }
    if (chmod(path.c_str(), static_cast<mode_t>(a.mode)) != 0) {
        return Error::config(fmt::format("{}: chmod {:o}: {}", path, a.mode, std::strerror(errno)));
    }
    return ok_status();
}

Result<ClientAllowList> ClientAllowList::parse(const std::vector<std::string>& entries) {
    if (entries.size() > kMaxClientEntries) {
        return Error::config(fmt::format("at most {} client entries", kMaxClientEntries));
    }
    ClientAllowList list;
    for (const auto& e : entries) {
        const auto slash = e.find('/');
        const std::string host = e.substr(0, slash);
        Net n;
        if (inet_pton(AF_INET, host.c_str(), n.addr.data()) == 1) {
            n.prefix = 32;
        } else if (inet_pton(AF_INET6, host.c_str(), n.addr.data()) == 1) {
            n.v6 = true;
            n.prefix = 128;
        } else {
            return Error::config(fmt::format("'{}': expected an IP address or CIDR", e));
        }
        if (slash != std::string::npos) {
            auto p = parse_number(std::string_view(e).substr(slash + 1));
            if (!p || static_cast<int>(*p) > n.prefix) {
                return Error::config(fmt::format("'{}': bad prefix length", e));
            }
            n.prefix = static_cast<int>(*p);
        }
        list.nets_.push_back(n);
    }
    return list;
}

bool ClientAllowList::allows(const sockaddr* peer, socklen_t len) const {
    bool v6 = false;
    const std::uint8_t* bytes = nullptr;
    if (peer->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
        bytes = reinterpret_cast<const std::uint8_t*>(
            &reinterpret_cast<const sockaddr_in*>(peer)->sin_addr);
    } else if (peer->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
        const auto* a = &reinterpret_cast<const sockaddr_in6*>(peer)->sin6_addr;
        bytes = reinterpret_cast<const std::uint8_t*>(a);
        v6 = true;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            bytes += 12;
            v6 = false;
        }
    } else {
        return false;
    }
    for (const Net& n : nets_) {
        if (n.v6 != v6) continue;
        const int full = n.prefix / 8;
        if (std::memcmp(n.addr.data(), bytes, static_cast<std::size_t>(full)) != 0) continue;
        const int rest = n.prefix % 8;
        if (rest != 0) {
            const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
            if ((n.addr[static_cast<std::size_t>(full)] & mask) != (bytes[full] & mask)) continue;
        }
        return true;
    }
    return false;
}

std::string peer_text(const sockaddr* peer, socklen_t len) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (peer->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(peer)->sin_addr, buf, sizeof buf);
        return buf;
    }
    if (peer->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(peer)->sin6_addr, buf,
                  sizeof buf);
        return buf;
    }
    return "unix";
}

}  // namespace pampero
