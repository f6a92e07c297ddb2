// message.hpp - a mail message as the rules see it.
//
// parse_message() splits an RFC 5322 message into unfolded headers and a body, and
// derives the text body rules match: for a single-part message the transfer encoding
// (base64, quoted-printable) is undone; multipart bodies are matched as they are until
// the MIME engine lands. It never fails: whatever cannot be parsed is kept as body.
// Bounds (a peer controls every byte): at most `limit` bytes are looked at (the scan
// limit, 2 MB by default), at most kMaxHeaders headers are kept, and a header value
// longer than kMaxHeaderValue is cut there.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pampero::scan {

constexpr std::size_t kMaxHeaders = 1000;
constexpr std::size_t kMaxHeaderValue = 64 * 1024;

struct Header {
    std::string name;   // as written
    std::string value;  // unfolded, leading whitespace removed
};

struct Message {
    std::vector<Header> headers;
    std::string raw_body;   // as received, up to the limit
    std::string body_text;  // transfer encoding undone, for body rules

    // First header of that name (case-insensitive), or nullptr.
    const Header* find(std::string_view name) const;
};

Message parse_message(std::string_view raw, std::size_t limit);

// Equal ignoring ASCII case; header names are compared this way.
bool iequals(std::string_view a, std::string_view b);

}  // namespace pampero::scan
