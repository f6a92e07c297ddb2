// endpoint.hpp - socket addresses in Postfix's milter syntax, as pampero.yaml writes them.
//
//   inet:PORT@HOST    TCP (HOST a name or a numeric address; "inet:PORT" = 127.0.0.1)
//   unix:PATH         a UNIX-domain stream socket (absolute path)
// parse_endpoint() is pure; listen_on()/connect_to() make the socket (close-on-exec).
// Errors: a malformed spec is ErrorKind::config; a socket that cannot be made is
// ErrorKind::temporary with errno's text.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "pampero/common/result.hpp"

namespace pampero::store {

struct Endpoint {
    enum class Kind { inet, unix_socket } kind = Kind::inet;
    std::string host;  // inet
    std::uint16_t port = 0;
    std::string path;  // unix

    std::string str() const;  // back in pampero.yaml's syntax
    // Postfix's LMTP next-hop syntax for transport_maps: "inet:HOST:PORT" / "unix:PATH".
    std::string postfix_nexthop() const;
};

Result<Endpoint> parse_endpoint(std::string_view spec);

// A listening socket; a stale UNIX socket file is replaced. Its owner, group and mode are
// the caller's to set (apply_unix_access() in socket_access.hpp).
Result<int> listen_on(const Endpoint& e, int backlog = 128);

// A connected socket, or temporary error after `timeout`.
Result<int> connect_to(const Endpoint& e, std::chrono::milliseconds timeout);

}  // namespace pampero::store
