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
//   - raw / raw_body: the message and its body as received (each up to the scan limit;
//     `full` and `rawbody` rules match these);
//   - uris: the links in text and HTML parts, normalized and reduced (uri.hpp), one per
//     distinct url, in order of first appearance; html: the HTML counts (summed over
//     HTML parts); mime_summary: the text `mime` rules match (format below).
// It never fails and never throws for message input: what cannot be parsed as MIME is
// kept as a single text/plain body, undecodable bytes become U+FFFD, an unknown charset
// is read as UTF-8 when valid and as Windows-1252 otherwise.
//
// Bounds (a peer controls every byte; each is enforced in message.cpp). None is silent:
// past any of them the Message is marked partly scanned (`truncated`, `partial` names the
// bounds, and mime_summary gets a "scan partial" line that rule SCAN_TRUNCATED matches):
//   - the scan limit (`limit`, 2 MB by default, Config::milter.scan_limit) bounds the
//     text the rules read, not where they find it: GMime parses the whole input, and
//     every scanned text part (text/plain, text/html, text/enriched, at any depth, in
//     document order) gets its decoded beginning into body_text and decoded_body, the
//     parts sharing the limit fairly (fair_shares(): a part shorter than its share leaves
//     the rest to the others, so 100 KB of padding in one part cannot push another out of
//     sight; SpamAssassin's body_part_scan_size bounds each part the same way). A part
//     longer than its share is cut (partial "text"). raw and raw_body (`full` and
//     `rawbody` rules) are the first `limit` bytes of the message and of its body: they
//     hold the message as sent, not per part, and their cut alone is not partial;
//   - `cut`: the caller kept only the beginning of the message (partial "input");
//   - headers: all of the top-level header section, up to max_headers fields and
//     max_header_bytes bytes (the milter refuses mail over the same bounds, so within it
//     these never cut), each value cut at kMaxHeaderValue bytes, each name at 256
//     (partial "headers");
//   - MIME: parts nested deeper than kMaxMimeDepth (message/rfc822 counts as a level)
//     and parts after the first kMaxParts are not looked into (partial "parts"); GMime's
//     own parser stops nesting at its built-in limit (1,024 multipart levels, 512
//     message levels in 3.2), and our walk never gets near it;
//   - URIs: at most kMaxUris distinct ones kept, kMaxHtmlLinks links per HTML part
//     (partial "uris"); Received IPs: the first kMaxReceived Received headers are read
//     (only the newest public hop is ever looked up).
// Memory: the whole input is parsed and each scanned text part decoded in full (to
// size the shares); what is kept is bounded by the above. The caller bounds the input
// (the milter keeps at most max(milter.max_message_memory, scan_limit) bytes).
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
//   scan partial cut=R[,R...]      (only when partly scanned; R as in Message::partial)
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pampero/mime/html.hpp"
#include "pampero/mime/parsed_mime.hpp"
#include "pampero/mime/uri.hpp"

namespace pampero::scan {

constexpr std::size_t kMaxHeaders = 10000;            // default of ParseOptions::max_headers
constexpr std::size_t kMaxHeaderBytes = 1024 * 1024;  // default of max_header_bytes
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
    bool truncated = false;  // partly scanned: some of it lay past a bound (see above)
    std::string partial;     // which bounds cut, comma-separated: input,headers,text,parts,uris

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
    std::size_t limit = 2 * 1024 * 1024;  // the scan limit (see Bounds above)
    std::size_t max_headers = kMaxHeaders;
    std::size_t max_header_bytes = kMaxHeaderBytes;
    // The input is only the beginning of the message (the caller kept no more of it).
    bool cut = false;
    // Reduces URI hosts; null means DomainReducer::system_default().
    std::shared_ptr<const DomainReducer> domains;
    // GMime's parse of the whole input when the caller has one (see parsed_mime.hpp).
    const ParsedMime* parsed = nullptr;
};

// How `budget` bytes are shared by parts of these sizes: each part gets at most its size,
// and a part longer than its share gets an equal share of what the shorter ones left
// (max-min fairness: no part gets less than budget / sizes.size() unless it is shorter).
// The shares add up to at most `budget`.
std::vector<std::size_t> fair_shares(const std::vector<std::size_t>& sizes, std::size_t budget);

Message parse_message(std::string_view raw, const ParseOptions& options);
Message parse_message(std::string_view raw, std::size_t limit);

// Initializes GMime once for the process; parse_message() calls it itself.
void init_mime();

}  // namespace pampero::scan
