// socket_access.hpp - who may reach a daemon's listening socket.
//
// Unix sockets: after bind(), apply_unix_access() sets the socket file's owner, group and
// mode. The defaults (mode 0660, group "postfix") let Postfix's delivery agents (user
// postfix) connect and nobody else; they replace the mode 0666 that left a socket open to
// every local user. A socket_group of "postfix" that does not exist on the box (no
// Postfix here), or that this unprivileged daemon may not give away, is skipped with a
// warning, because it is the default; any other owner/group that cannot be applied is a
// configuration error (the daemon refuses to start), so a typo never widens access.
//
// TCP: ClientAllowList holds CIDRs ("127.0.0.0/8", "::1/128", "10.1.2.3"); allows()
// tells whether a peer address falls in one. IPv4-mapped IPv6 peers (::ffff:a.b.c.d, as
// a dual-stack listener sees IPv4 clients) are matched against the IPv4 entries. An
// empty list allows nobody; "0.0.0.0/0" and "::/0" allow everyone.
// Bounds: a list has at most kMaxClientEntries entries (checked linearly per connection).
// Errors: parse errors are ErrorKind::config naming the entry; a failing chown/chmod is
// ErrorKind::config with errno's text.
// Thread-safety: a ClientAllowList is immutable after parse(): allows() is safe from
// any thread. apply_unix_access() touches only the named file.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pampero/common/result.hpp"

namespace pampero {

constexpr std::size_t kMaxClientEntries = 1024;
constexpr const char* kDefaultSocketGroup = "postfix";

struct UnixSocketAccess {
    std::string owner;                        // user name or uid; "": leave as is
    std::string group = kDefaultSocketGroup;  // group name or gid; "": leave as is
    unsigned mode = 0660;
};

// "0660", "660", "0o660" -> 0660; nullopt when not octal or above 0777.
std::optional<unsigned> parse_socket_mode(std::string_view text);

// chown + chmod of the socket file at `path` (call right after bind(), before listen()
// is reachable by anyone who matters). Warnings go to the log.
Status apply_unix_access(const std::string& path, const UnixSocketAccess& access);

class ClientAllowList {
  public:
    static Result<ClientAllowList> parse(const std::vector<std::string>& entries);
    bool allows(const sockaddr* peer, socklen_t len) const;
    bool empty() const { return nets_.empty(); }

  private:
    struct Net {
        bool v6 = false;
        std::array<std::uint8_t, 16> addr{};
        int prefix = 0;
    };
    std::vector<Net> nets_;
};

// "192.0.2.1" / "2001:db8::1" / "unix" for a peer address, for log lines.
std::string peer_text(const sockaddr* peer, socklen_t len);

}  // namespace pampero
