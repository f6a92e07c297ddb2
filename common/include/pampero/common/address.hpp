// address.hpp - mail addresses as pampero stores and compares them.
//
// An envelope address arrives as the MTA hands it over (often "<User@Example.COM>").
// normalize_address() strips the angle brackets, lowercases the domain and the local
// part (pampero's directory is case-insensitive, as nearly every ISP's is) and rejects
// what cannot be a mailbox: empty parts, more than one '@', control characters, path
// separators and dot-dot sequences (addresses become Maildir paths; see the design's
// "never trust what the sender wrote"), or longer than RFC 5321's 254 octets.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pampero {

constexpr std::size_t kMaxAddressLength = 254;  // RFC 5321 4.5.3.1.3 path limit, less <>
constexpr std::size_t kMaxLocalPartLength = 64;
constexpr std::size_t kMaxDomainLength = 253;

struct Address {
    std::string local;
    std::string domain;
    std::string full() const { return local + "@" + domain; }
};

// Parses and normalizes; nullopt for anything that is not a plain mailbox address.
std::optional<Address> parse_address(std::string_view raw);

// A domain name as pampero stores it: lowercased, no trailing dot, LDH labels.
std::optional<std::string> normalize_domain(std::string_view raw);

// The bare address inside the MTA's envelope form: "<a@b>" -> "a@b", "<>" -> "".
std::string_view strip_angle_brackets(std::string_view raw);

}  // namespace pampero
