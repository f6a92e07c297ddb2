// uri.hpp - URIs found in a message, de-obfuscated and reduced to the domain a list wants.
//
// What it does
//   find_text_uris() finds links in plain text: scheme links (http, https, ftp) and bare
//   "www." / "ftp." host names. normalize_uri() turns one link as written (in text, or an
//   HTML href/src/action value whose entities were already decoded) into a Uri:
//     - percent-encoding in the host is undone ("%77%77%77.example.com");
//     - user info is dropped ("http://www.bank.com@evil.example/" -> host evil.example,
//       flag userinfo);
//     - the host is lowercased, a trailing dot removed, Unicode dots (U+3002, U+FF0E,
//       U+FF61) read as dots, and international names converted to their ASCII form
//       (IDNA 2008 with UTS#46 mapping, libidn2);
//     - IPv4 hosts in any form inet_aton(3) accepts (decimal 3232235777, hex 0xC0A80101,
//       octal 0300.0250.1.1, short forms 192.168.257) become a dotted quad, flag
//       numeric_ip when the form was not already a plain dotted quad.
//   DomainReducer then gives each host
//     - `domain`: the registrable domain by the Public Suffix List (libpsl), e.g.
//       "www.shop.example.co.uk" -> "example.co.uk";
//     - `surbl_domain`: the base domain SURBL-style lists are queried with: three labels
//       when the last two are in SURBL's two-level TLD list, four when the last three are
//       in the three-level list, otherwise two. Without SURBL lists it falls back to the
//       PSL registrable domain.
//   IP hosts have empty domains; their dotted quad is in `host` (and host_is_ip is set).
//
// Errors: none are thrown for message input; what is not a usable URI is dropped
// (normalize_uri returns nullopt). DomainReducer::load() fails with a config error that
// names the file when a list cannot be read.
//
// Limits (message input is hostile): a link longer than kMaxUriLength is cut there, and
// a host longer than 253 bytes (DNS's limit) or a label longer than 63 is not a host.
// The caller bounds how many URIs it keeps (see message.hpp, kMaxUris).
//
// Thread-safety: everything here is pure or const; a DomainReducer is immutable after
// load() and may be shared by any number of threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pampero/common/result.hpp"

struct psl_ctx_st;

namespace pampero::scan {

constexpr std::size_t kMaxUriLength = 2048;

// Obfuscations and oddities seen while normalizing a URI (bit set in Uri::flags).
enum UriFlag : std::uint32_t {
    kUriPercentHost = 1u << 0,  // host had %XX escapes
    kUriNumericIp = 1u << 1,    // host was an IP in decimal/hex/octal/short form
    kUriUserinfo = 1u << 2,     // user@ before the host
    kUriIdn = 1u << 3,          // host had non-ASCII characters (converted by IDNA)
    kUriEntity = 1u << 4,       // the HTML attribute carried character references
    kUriBackslash = 1u << 5,    // backslashes used as slashes ("http:\\host")
};

enum class UriSource : std::uint8_t { text, href, src, action, other };

struct Uri {
    std::string url;     // scheme://host[:port]/rest, host normalized, rest as written
    std::string scheme;  // lowercase: http, https, ftp
    std::string host;    // lowercase ASCII (IDNA) name, or dotted-quad IPv4, or [v6]
    bool host_is_ip = false;
    std::string domain;        // registrable domain (PSL); empty for IPs
    std::string surbl_domain;  // SURBL base domain; empty for IPs
    std::uint32_t flags = 0;   // UriFlag bits
    UriSource source = UriSource::text;
};

// Lists that reduce a host name to the domain a list expects.
class DomainReducer {
  public:
    ~DomainReducer();
    DomainReducer(const DomainReducer&) = delete;
    DomainReducer& operator=(const DomainReducer&) = delete;

    // psl_file: the Public Suffix List (empty: the system one, /usr/share/publicsuffix,
    // or libpsl's built-in copy when that is missing). two_level/three_level: SURBL's
    // lists, one suffix a line, '#' comments (empty path: no list).
    static Result<std::shared_ptr<const DomainReducer>> load(const std::string& psl_file,
                                                             const std::string& two_level,
                                                             const std::string& three_level);
    // The process-wide reducer with the system PSL and no SURBL lists (built once).
    static std::shared_ptr<const DomainReducer> system_default();

    // Empty when the host is itself a public suffix, or is an IP.
    std::string registrable(std::string_view host) const;
    std::string surbl_base(std::string_view host) const;
    // True when the host's last label is a top-level domain the PSL knows.
    bool known_tld(std::string_view host) const;
    // Fills domain and surbl_domain of a normalized Uri.
    void reduce(Uri& uri) const;

    std::size_t two_level_count() const { return two_level_.size(); }
    std::size_t three_level_count() const { return three_level_.size(); }

  private:
    DomainReducer() = default;
    psl_ctx_st* psl_ = nullptr;
    std::vector<std::string> two_level_;    // sorted
    std::vector<std::string> three_level_;  // sorted
};

// Parses an IPv4 host the way inet_aton(3) does (and browsers follow); nullopt if it is
// not one. `numeric` is set when the form was not a plain dotted quad.
std::optional<std::string> parse_ipv4_host(std::string_view host, bool* numeric = nullptr);

// Decodes HTML character references (&amp; &#65; &#x41; and the common named ones) into
// UTF-8. Unknown or broken references are kept as written.
std::string decode_html_entities(std::string_view in);

// One link as written -> a normalized Uri (domains not yet reduced), or nullopt when it
// is not an http/https/ftp link with a usable host. Links without a scheme that start
// with "www." or "ftp." get http:// or ftp://.
std::optional<Uri> normalize_uri(std::string_view written, UriSource source);

// Links in plain text, as written (not normalized), in order of appearance.
std::vector<std::string_view> find_text_uris(std::string_view text);

}  // namespace pampero::scan
