// radius_packet.hpp - the RADIUS packet codec (RFC 2865 section 3, RFC 2866 section 3),
// as far as accounting needs it. Pure: bytes in, structs out; no socket, no state.
//
// A packet is code (1 octet), identifier (1), length (2, network order), authenticator
// (16) and attributes (type 1, length 1, value length-2 octets).
// Bounds on peer input, enforced by parse_packet():
//   - the Length field is 20..4096 (RFC 2865 3: "minimum length is 20 and maximum length
//     is 4096"); a datagram shorter than its Length field is refused, octets beyond it
//     are padding and ignored (RFC 2865 3);
//   - each attribute's length is 2..255 and must end inside the packet; the attributes
//     must fill the packet exactly (a trailing single octet is malformed). At most
//     (4096-20)/2 = 2038 attributes fit, so the attribute list is bounded by the length.
// Authenticators use MD5 (OpenSSL libcrypto, EVP): the Request Authenticator of an
// Accounting-Request (RFC 2866 3) and the Response Authenticator of an
// Accounting-Response. Comparison is constant-time.
// Errors: parse_packet() returns Error::permanent naming what is wrong; MD5 failures
// inside OpenSSL (they do not happen short of memory exhaustion) make the check fail.
// Thread-safety: every function is reentrant.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pampero/common/result.hpp"

namespace pampero::radius {

constexpr std::size_t kHeaderSize = 20;
constexpr std::size_t kMaxPacketSize = 4096;

enum Code : std::uint8_t {
    kAccessRequest = 1,
    kAccountingRequest = 4,
    kAccountingResponse = 5,
};

// Attribute types accounting reads (RFC 2865 5, RFC 2866 5, RFC 6911 3.1).
enum AttributeType : std::uint8_t {
    kUserName = 1,
    kNasIpAddress = 4,
    kFramedIpAddress = 8,
    kAcctStatusType = 40,
    kAcctDelayTime = 41,
    kAcctSessionId = 44,
    kMessageAuthenticator = 80,
    kAcctInterimInterval = 85,
    kFramedIpv6Address = 168,
};

// Acct-Status-Type values (RFC 2866 5.1).
enum StatusType : std::uint32_t {
    kStart = 1,
    kStop = 2,
    kInterimUpdate = 3,
    kAccountingOn = 7,
    kAccountingOff = 8,
};

using Authenticator = std::array<std::uint8_t, 16>;

struct Attribute {
    std::uint8_t type = 0;
    std::string value;  // raw octets, 0..253 of them
};

struct Packet {
    std::uint8_t code = 0;
    std::uint8_t identifier = 0;
    Authenticator authenticator{};
    std::vector<Attribute> attributes;

    // The first attribute of this type, or nullptr.
    const Attribute* find(std::uint8_t type) const;
    // Typed views of the first attribute of a type; nullopt when absent or of the wrong
    // size (an "integer" is exactly 4 octets, an "address" 4, an "ipv6addr" 16).
    std::optional<std::uint32_t> integer(std::uint8_t type) const;
    std::optional<std::string> text(std::uint8_t type) const;
    std::optional<std::string> ipv4(std::uint8_t type) const;  // dotted quad
    std::optional<std::string> ipv6(std::uint8_t type) const;  // RFC 5952 text
};

// Parses one datagram. The Length field decides where the packet ends (see the bounds
// above). Does not check any authenticator.
Result<Packet> parse_packet(std::string_view datagram);

// Encodes a packet with its authenticator as given; Error::permanent when it would
// exceed 4096 octets or an attribute value exceeds 253 octets.
Result<std::string> encode_packet(const Packet& p);

// MD5 over the concatenated parts; nullopt only when OpenSSL fails.
std::optional<Authenticator> md5(std::initializer_list<std::string_view> parts);

// RFC 2866 3: MD5(Code + Identifier + Length + 16 zero octets + request attributes +
// shared secret) equals the packet's authenticator. `raw` is the datagram as received
// (octets beyond the Length field are ignored).
bool verify_accounting_request(std::string_view raw, std::string_view secret);

// An Accounting-Request as a NAS sends it: `p`'s authenticator is replaced by the Request
// Authenticator computed over the encoded packet (tests, load client).
Result<std::string> build_accounting_request(Packet p, std::string_view secret);

// RFC 2866 3: an Accounting-Response (code 5, no attributes) to the request with this
// identifier and Request Authenticator; its Response Authenticator is MD5(Code +
// Identifier + Length + Request Authenticator + attributes + secret).
std::string build_accounting_response(std::uint8_t identifier,
                                      const Authenticator& request_authenticator,
                                      std::string_view secret);

// RFC 2865 3: a response is authentic when its authenticator is the MD5 above (what a
// NAS checks; used by tests and the load client).
bool verify_response(std::string_view raw, const Authenticator& request_authenticator,
                     std::string_view secret);

// Attribute constructors for building packets.
Attribute integer_attribute(std::uint8_t type, std::uint32_t v);
Attribute text_attribute(std::uint8_t type, std::string_view v);
// From text ("192.0.2.1" / "2001:db8::1"); nullopt when `ip` is not such an address.
std::optional<Attribute> ipv4_attribute(std::uint8_t type, std::string_view ip);
std::optional<Attribute> ipv6_attribute(std::uint8_t type, std::string_view ip);

std::string to_hex(const Authenticator& a);

}  // namespace pampero::radius
