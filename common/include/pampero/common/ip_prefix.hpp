// ip_prefix.hpp - the network a client address belongs to, as one key.
//
// An IPv6 customer gets a /64 (often a /56 or /48) and can rotate through its addresses at
// will, so counting or banning per address lets one client escape every limit. Callers
// key per-client state by client_prefix() instead: IPv4 masked to v4_bits, IPv6 to
// v6_bits, an IPv4-mapped IPv6 address (::ffff:a.b.c.d) taken as the IPv4 address.
// The key is canonical text: "192.0.2.1" for a full-length prefix, else "192.0.2.0/24",
// "2001:db8:1:2::/64". Text that is no IP address is returned unchanged.
// Bounds: bits are clamped to 0..32 and 0..128. Pure and thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace pampero {

std::string client_prefix(std::string_view ip, int v4_bits, int v6_bits);

}  // namespace pampero
