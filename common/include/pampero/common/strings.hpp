// strings.hpp - the small text helpers every part of pampero needs, in one place: ASCII
// case (header names, domains, protocol keywords) and IPv4 addresses as text (client
// addresses, blocklist subjects and answers, DNSBL query names).
//
// ASCII only, on purpose: mail protocols define their keywords and names in ASCII, and
// <cctype>'s tolower() depends on the process locale (a libclamav or GMime setlocale()
// would change what a header compare means). Bytes >= 0x80 are left as they are.
//
// IPv4 text is the strict dotted quad of inet_pton(3): exactly four decimal parts of
// 0..255 with no leading zero ("01.2.3.4" is refused: inet_aton would read it as octal),
// nothing before or after. The host-order uint32 is what the zones and lists index by.
// parse_ipv4_peer() also takes the forms an MTA hands over for a client ("[1.2.3.4]",
// the IPv4-mapped "::ffff:1.2.3.4" of a dual-stack listener).
//
// Errors: none thrown; parse functions return nullopt for anything else (including empty
// input). Thread-safety: pure functions. Limits: an IPv4 text is at most 15 characters
// (longer input is refused before it is looked at).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pampero {

constexpr char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
std::string ascii_lower(std::string_view s);
void ascii_lower_in_place(std::string& s) noexcept;

// Equal ignoring ASCII case.
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}
// `s` starts with `prefix`, ignoring ASCII case.
constexpr bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// "1.2.3.4" to 0x01020304 (host byte order); nullopt otherwise (see above).
std::optional<std::uint32_t> parse_ipv4(std::string_view text) noexcept;
// As parse_ipv4, also "[1.2.3.4]" and "::ffff:1.2.3.4" (either case).
std::optional<std::uint32_t> parse_ipv4_peer(std::string_view text) noexcept;

// 0x01020304 to "1.2.3.4".
std::string format_ipv4(std::uint32_t ip);
// 0x01020304 to "4.3.2.1", the labels of a DNSBL query (RFC 5782 2.1). The buffer form
// writes at most kMaxIpv4Text characters, no terminator, and returns how many.
constexpr std::size_t kMaxIpv4Text = 15;
std::size_t reversed_ipv4(std::uint32_t ip, char (&out)[kMaxIpv4Text]) noexcept;
std::string reversed_ipv4(std::uint32_t ip);

// URL percent-decoding (RFC 3986 %XX, either case; '+' is left as it is): the user,
// password and parameters of the mariadb:// and redis:// specs. nullopt when a '%' is not
// followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view s);

}  // namespace pampero
