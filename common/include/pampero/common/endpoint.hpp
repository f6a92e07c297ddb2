// endpoint.hpp - the socket syntax every pampero daemon reads from pampero.yaml, parsed once.
//
// The syntax is Postfix's and Sendmail's milter syntax (libmilter's smfi_setconn):
//   inet:PORT@HOST    TCP over IPv4; HOST an IPv4 address or a name (its IPv4 address)
//   inet6:PORT@HOST   TCP over IPv6; HOST an IPv6 address (brackets allowed) or a name
//   unix:PATH         a UNIX-domain stream socket; also local:PATH or a bare PATH.
//                     PATH must be absolute: a daemon's working directory is not the
//                     admin's shell's, so a relative path would name another file.
// With no @HOST, "inet:PORT" means 127.0.0.1 and "inet6:PORT" means ::1, for every daemon
// and for connecting as well as listening. That differs from libmilter (which listens on
// every address) on purpose: a filter or a policy server is never opened to the network
// by omission. To listen on every address write inet:PORT@0.0.0.0 or inet6:PORT@::.
//
// parse_endpoint() is pure. listen_on()/connect_to() make the socket (close-on-exec).
// Errors: a malformed spec is ErrorKind::config naming it; a socket that cannot be made is
// ErrorKind::temporary with errno's text; a name that does not resolve is temporary too
// (DNS may come back).
// Thread-safety: all functions are reentrant.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "pampero/common/result.hpp"

namespace pampero {

struct UnixSocketAccess;

struct Endpoint {
    enum class Kind { inet, inet6, unix_socket } kind = Kind::inet;
    std::string host;  // inet, inet6: never empty after parse_endpoint()
    std::uint16_t port = 0;
    std::string path;  // unix_socket

    bool tcp() const { return kind != Kind::unix_socket; }
    std::string str() const;  // back in pampero.yaml's syntax
    // Postfix's next-hop syntax for transport_maps: "inet:HOST:PORT" / "unix:PATH".
    std::string postfix_nexthop() const;
};

Result<Endpoint> parse_endpoint(std::string_view spec);

// A listening socket; a stale UNIX socket file is replaced (any other kind of file is the
// admin's, and bind() says so). With `access`, a UNIX socket's owner, group and mode are
// set between bind() and listen(), so no connection is accepted under the umask's mode.
Result<int> listen_on(const Endpoint& e, int backlog = 128,
                      const UnixSocketAccess* access = nullptr);

// A connected socket, or a temporary error after `timeout`.
Result<int> connect_to(const Endpoint& e, std::chrono::milliseconds timeout);

}  // namespace pampero
