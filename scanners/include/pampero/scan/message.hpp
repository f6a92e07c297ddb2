// message.hpp - a mail message as the rules and the blocklists see it.
//
// parse_message() reads an RFC 5322 message with GMime 3 and derives everything the
// engine looks at:
//   - headers: the top-level headers in order, unfolded, RFC 2047 words decoded and
//     8-bit junk read as UTF-8 or Latin-1 (value), and unfolded as written (raw);
//   - parts: the MIME tree in document order (pre-order, with depth), each part's type,
//     charset, transfer encoding, file name and decoded size;
//   - body_text: what a reader sees: every text part with transfer encoding undone,
//     converted to UTF-8, HTML rendered to text (html.hpp); parts are separated by "\n";
//   - decoded_body: the same parts decoded and converted but with HTML markup kept
//     (what `decoded` rules match; SpamAssassin's meaning of rawbody);
//   - raw / raw_body: the message and its body as received (up to the scan limit;
//     `full` and `rawbody` rules match these);
//   - uris: the links in text and HTML parts, normalized and reduced (uri.hpp), one per
//     distinct url, in order of first appearance; html: the HTML counts (summed over
//     HTML parts); mime_summary: the text `mime` rules match (format below).
// It never fails and never throws for message input: what cannot be parsed as MIME is
// kept as a single text/plain body, undecodable bytes become U+FFFD, an unknown charset
// is read as UTF-8 when valid and as Windows-1252 otherwise.
//
// Bounds (a peer controls every byte; each is enforced in message.cpp):
//   - the scan limit: at most `limit` bytes of the message are looked at (2 MB by
//     default, Config::milter.scan_limit); body_text and decoded_body are cut at `limit`
//     bytes too (a charset conversion can make text longer than its bytes);
//   - headers: at most kMaxHeaders kept, each value cut at kMaxHeaderValue bytes;
//   - MIME: parts nested deeper than kMaxMimeDepth (message/rfc822 counts as a level)
//     and parts after the first kMaxParts are not looked into; GMime's own parser stops
//     nesting at its built-in limit (1,024 multipart levels, 512 message levels in 3.2),
//     and our walk never gets near it;
//   - URIs: at most kMaxUris distinct ones kept; Received IPs: the first kMaxReceived
//     Received headers are read.
//
// Thread-safety: parse_message() may run in many threads at once. GMime's global state
// is initialized exactly once (std::call_once) before the first parse, and may also be
// forced early with init_mime() (the milter calls nothing else).
//
// mime_summary format (one line each, fields separated by single spaces):
//   part depth=D type=T/S [charset=C] [encoding=E] [name=F] [attachment] size=N [badcharset]
//   html tags=N unknown_tags=N images=N anchors=N forms=N scripts=N iframes=N comments=N
//        split_words=N text=N hidden=N tiny=N entity_letters=N        (if any HTML part)
//   text parts=N plain=N html=N plain_bytes=N html_bytes=N attachments=N
//   uri count=N numeric_ip=N ip=N percent_host=N userinfo=N idn=N entity=N backslash=N
//       anchor_mismatch=N domains=N
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pampero/scan/html.hpp"
#include "pampero/scan/parsed_mime.hpp"
#include "pampero/scan/uri.hpp"

namespace pampero::scan {

constexpr std::size_t kMaxHeaders = 1000;
constexpr std::size_t kMaxHeaderValue = 64 * 1024;
constexpr std::size_t kMaxMimeDepth = 20;
constexpr std::size_t kMaxParts = 500;
constexpr std::size_t kMaxUris = 1000;
constexpr std::size_t kMaxReceived = 64;

struct Header {
    std::string name;   // as written
    std::string value;  // unfolded, RFC 2047 decoded, UTF-8, leading/trailing blanks removed
    std::string raw;    // unfolded, as written (no decoding), leading/trailing blanks removed
};

struct Part {
    std::size_t depth = 0;     // 0 for the message's own part
    std::string type;          // lowercase "text/html"; "text/plain" when absent
    std::string charset;       // lowercase as declared, may be empty
    std::string encoding;      // lowercase Content-Transfer-Encoding as declared, may be empty
    std::string filename;      // decoded file name, may be empty
    bool attachment = false;   // Content-Disposition: attachment, or has a file name
    bool bad_charset = false;  // the declared charset is unknown or the text did not fit it
    std::size_t size = 0;      // bytes after transfer decoding (leaves only)
};

struct Message {
    std::vector<Header> headers;
    std::vector<Part> parts;
    std::string raw;           // the message as received, up to the limit
    std::string raw_body;      // the body as received, up to the limit
    std::string body_text;     // text parts decoded, UTF-8, HTML rendered to text
    std::string decoded_body;  // text parts decoded, UTF-8, HTML markup kept
    std::vector<Uri> uris;
    HtmlStats html;
    std::string mime_summary;
    bool truncated = false;    // the message was longer than the scan limit

    // First header of that name (case-insensitive), or nullptr.
    const Header* find(std::string_view name) const;

    // The URI facts the blocklists query, each distinct, in order of first appearance:
    std::vector<std::string> uri_hosts() const;          // host names (not IPs)
    std::vector<std::string> uri_domains() const;        // PSL registrable domains
    std::vector<std::string> uri_surbl_domains() const;  // SURBL base domains
    std::vector<std::string> uri_ips() const;            // IPv4 hosts, dotted quad
    // IPv4 addresses of the relays in the Received headers, newest (top) first: the
    // address in "[a.b.c.d]" of each header's "from" clause, when there is one. What is
    // trusted is the caller's business: only hops added by the own MTAs are reliable.
    std::vector<std::string> received_ips() const;
};

struct ParseOptions {
    std::size_t limit = 2 * 1024 * 1024;
    // Reduces URI hosts; null means DomainReducer::system_default().
    std::shared_ptr<const DomainReducer> domains;
    // GMime's parse of the message when the caller has one (see parsed_mime.hpp); used
    // only when the message is within `limit`, since it stands for the whole message.
    const ParsedMime* parsed = nullptr;
};

Message parse_message(std::string_view raw, const ParseOptions& options);
Message parse_message(std::string_view raw, std::size_t limit);

// Initializes GMime once for the process; parse_message() calls it itself.
void init_mime();

// Equal ignoring ASCII case; header names are compared this way.
bool iequals(std::string_view a, std::string_view b);

}  // namespace pampero::scan
