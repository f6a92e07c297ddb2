#include "pampero/mime/uri.hpp"

#include <fmt/format.h>
#include <idn2.h>
#include <libpsl.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <mutex>

#include "pampero/common/strings.hpp"

namespace pampero::scan {
namespace {

constexpr std::size_t kMaxHostLength = 253;  // DNS: a name is at most 253 characters
constexpr std::size_t kMaxLabelLength = 63;  // ... and a label at most 63

// ASCII letters and digits, whatever the locale (inline: it runs once a text byte).
bool ascii_alnum(char c) {
    return (c >= '0' && c <= '9') || (ascii_lower(c) >= 'a' && ascii_lower(c) <= 'z');
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

struct NamedEntity {
    std::string_view name;
    std::uint32_t cp;
};

// The named references that matter for text and links; the full HTML5 table (2,000+
// names) buys nothing for spam rules.
constexpr std::array<NamedEntity, 52> kEntities{{
    {"amp", '&'},      {"lt", '<'},       {"gt", '>'},       {"quot", '"'},     {"apos", '\''},
    {"nbsp", 0xA0},    {"copy", 0xA9},    {"reg", 0xAE},     {"trade", 0x2122}, {"hellip", 0x2026},
    {"mdash", 0x2014}, {"ndash", 0x2013}, {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C},
    {"rdquo", 0x201D}, {"bull", 0x2022},  {"middot", 0xB7},  {"euro", 0x20AC},  {"pound", 0xA3},
    {"yen", 0xA5},     {"cent", 0xA2},    {"sect", 0xA7},    {"deg", 0xB0},     {"plusmn", 0xB1},
    {"times", 0xD7},   {"divide", 0xF7},  {"laquo", 0xAB},   {"raquo", 0xBB},   {"iexcl", 0xA1},
    {"iquest", 0xBF},  {"shy", 0xAD},     {"eacute", 0xE9},  {"egrave", 0xE8},  {"ecirc", 0xEA},
    {"aacute", 0xE1},  {"agrave", 0xE0},  {"acirc", 0xE2},   {"auml", 0xE4},    {"ouml", 0xF6},
    {"uuml", 0xFC},    {"szlig", 0xDF},   {"ccedil", 0xE7},  {"ntilde", 0xF1},  {"oacute", 0xF3},
    {"iacute", 0xED},  {"uacute", 0xFA},  {"Auml", 0xC4},    {"Ouml", 0xD6},    {"Uuml", 0xDC},
    {"Eacute", 0xC9},  {"zwnj", 0x200C},
}};

// Legacy references a browser accepts without the ';'.
bool legacy_without_semicolon(std::string_view name) {
    return name == "amp" || name == "lt" || name == "gt" || name == "quot" || name == "nbsp";
}

std::string percent_decode(std::string_view in, bool* changed) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '%' && i + 2 < in.size()) {
            const int hi = hex_digit(in[i + 1]);
            const int lo = hex_digit(in[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                if (changed) *changed = true;
                continue;
            }
        }
        out.push_back(in[i]);
    }
    return out;
}

// One inet_aton part: 0x.. hex, 0.. octal, else decimal. nullopt when not a number or
// larger than 2^32.
std::optional<std::uint64_t> parse_ip_part(std::string_view p, bool* odd_form) {
    if (p.empty()) return std::nullopt;
    int base = 10;
    if (p.size() >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p.remove_prefix(2);
        *odd_form = true;
        if (p.empty()) return 0;  // "0x" alone is 0 for inet_aton
    } else if (p.size() >= 2 && p[0] == '0') {
        base = 8;
        p.remove_prefix(1);
        *odd_form = true;
    }
    std::uint64_t v = 0;
    for (char c : p) {
        const int d = hex_digit(c);
        if (d < 0 || d >= base) return std::nullopt;
        v = v * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(d);
        if (v > 0xFFFFFFFFull) return std::nullopt;
    }
    return v;
}

bool valid_host_name(std::string_view host) {
    if (host.empty() || host.size() > kMaxHostLength) return false;
    std::size_t labels = 0;
    std::size_t start = 0;
    while (start <= host.size()) {
        std::size_t dot = host.find('.', start);
        if (dot == std::string_view::npos) dot = host.size();
        const std::string_view label = host.substr(start, dot - start);
        if (label.empty() || label.size() > kMaxLabelLength) return false;
        for (char c : label) {
            const bool ok =
                (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
            if (!ok) return false;
        }
        ++labels;
        start = dot + 1;
        if (dot == host.size()) break;
    }
    if (labels < 2) return false;
    // The top-level label is never all digits (that would have been an IP).
    const std::string_view tld = host.substr(host.rfind('.') + 1);
    return !std::all_of(tld.begin(), tld.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Unicode full stops that IDNA maps to '.', as UTF-8.
void replace_unicode_dots(std::string& host) {
    static constexpr std::array<std::string_view, 3> kDots{"\xE3\x80\x82", "\xEF\xBC\x8E",
                                                           "\xEF\xBD\xA1"};
    for (auto dot : kDots) {
        std::size_t pos = 0;
        while ((pos = host.find(dot, pos)) != std::string::npos) host.replace(pos, dot.size(), ".");
    }
}

bool is_uri_char(unsigned char c) {
    if (c <= 0x20 || c == 0x7F) return false;
    switch (c) {
        case '<':
        case '>':
        case '"':
        case '\'':
        case '`':
        case '{':
        case '}':
        case '|':
        case '\\':
        case '^':
            return false;
        default:
            return true;  // bytes >= 0x80 stay: UTF-8 host names and paths
    }
}

std::vector<std::string> read_list(const std::string& path, std::string& error) {
    std::vector<std::string> out;
    std::ifstream in(path);
    if (!in) {
        error = fmt::format("{}: cannot read", path);
        return out;
    }
    std::string line;
    while (std::getline(in, line)) {
        if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
        std::string entry;
        for (char c : line) {
            if (c != ' ' && c != '\t' && c != '\r') entry.push_back(ascii_lower(c));
        }
        while (!entry.empty() && entry.front() == '.') entry.erase(0, 1);
        if (!entry.empty()) out.push_back(entry);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

// The last n labels of host, or an empty view when it has fewer.
std::string_view last_labels(std::string_view host, int n) {
    std::size_t pos = host.size();
    for (int i = 0; i < n; ++i) {
        if (pos == 0) return {};
        const std::size_t dot = host.rfind('.', pos - 1);
        if (dot == std::string_view::npos) return i == n - 1 ? host : std::string_view{};
        pos = dot;
        if (i == n - 1) return host.substr(dot + 1);
    }
    return {};
}

}  // namespace

std::string decode_html_entities(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    std::size_t i = 0;
    while (i < in.size()) {
        const char c = in[i];
        if (c != '&') {
            out.push_back(c);
            ++i;
            continue;
        }
        // Numeric: &#65; &#x41; (the ';' may be missing, as browsers allow).
        if (i + 2 < in.size() && in[i + 1] == '#') {
            std::size_t j = i + 2;
            const bool hex = j < in.size() && (in[j] == 'x' || in[j] == 'X');
            if (hex) ++j;
            std::uint32_t cp = 0;
            std::size_t digits = 0;
            while (j < in.size() && digits < 8) {
                const int d = hex_digit(in[j]);
                if (d < 0 || (!hex && d > 9)) break;
                cp = cp * (hex ? 16 : 10) + static_cast<std::uint32_t>(d);
                ++j;
                ++digits;
            }
            if (digits > 0) {
                if (j < in.size() && in[j] == ';') ++j;
                append_utf8(out, cp);
                i = j;
                continue;
            }
        } else {
            std::size_t j = i + 1;
            while (j < in.size() && j - i <= 8 &&
                   ((in[j] >= 'a' && in[j] <= 'z') || (in[j] >= 'A' && in[j] <= 'Z'))) {
                ++j;
            }
            const std::string_view name = in.substr(i + 1, j - i - 1);
            const bool semicolon = j < in.size() && in[j] == ';';
            if (semicolon || legacy_without_semicolon(name)) {
                auto it = std::find_if(kEntities.begin(), kEntities.end(),
                                       [&](const NamedEntity& e) { return e.name == name; });
                if (it != kEntities.end()) {
                    append_utf8(out, it->cp);
                    i = j + (semicolon ? 1 : 0);
                    continue;
                }
            }
        }
        out.push_back('&');
        ++i;
    }
    return out;
}

std::optional<std::string> parse_ipv4_host(std::string_view host, bool* numeric) {
    if (host.empty() || host.size() > 64) return std::nullopt;
    if (host.back() == '.') host.remove_suffix(1);  // "1.2.3.4." is still that address
    std::array<std::uint64_t, 4> parts{};
    std::size_t n = 0;
    bool odd = false;
    std::size_t start = 0;
    while (true) {
        if (n == 4) return std::nullopt;
        std::size_t dot = host.find('.', start);
        if (dot == std::string_view::npos) dot = host.size();
        auto v = parse_ip_part(host.substr(start, dot - start), &odd);
        if (!v) return std::nullopt;
        parts[n++] = *v;
        if (dot == host.size()) break;
        start = dot + 1;
    }
    // inet_aton: a.b.c.d (8 bits each); a.b.c (c 16 bits); a.b (b 24 bits); a (32 bits).
    std::uint64_t addr = 0;
    switch (n) {
        case 1:
            addr = parts[0];
            break;
        case 2:
            if (parts[0] > 0xFF || parts[1] > 0xFFFFFF) return std::nullopt;
            addr = (parts[0] << 24) | parts[1];
            break;
        case 3:
            if (parts[0] > 0xFF || parts[1] > 0xFF || parts[2] > 0xFFFF) return std::nullopt;
            addr = (parts[0] << 24) | (parts[1] << 16) | parts[2];
            break;
        default:
            for (std::size_t i = 0; i < 4; ++i) {
                if (parts[i] > 0xFF) return std::nullopt;
                addr = (addr << 8) | parts[i];
            }
    }
    if (n != 4) odd = true;
    if (numeric) *numeric = odd;
    return format_ipv4(addr);
}

std::optional<Uri> normalize_uri(std::string_view written, UriSource source) {
    // Browsers drop surrounding blanks and every tab and line break inside a URL.
    std::string s;
    s.reserve(std::min(written.size(), kMaxUriLength));
    for (char c : written) {
        if (s.size() >= kMaxUriLength) break;
        if (c == '\t' || c == '\n' || c == '\r') continue;
        s.push_back(c);
    }
    while (!s.empty() && (s.front() == ' ' || s.front() == '"' || s.front() == '\'')) s.erase(0, 1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '"' || s.back() == '\'')) s.pop_back();

    Uri u;
    u.source = source;
    std::string_view rest = s;
    if (istarts_with(rest, "http:") || istarts_with(rest, "https:") || istarts_with(rest, "ftp:")) {
        const std::size_t colon = rest.find(':');
        u.scheme = std::string(rest.substr(0, colon));
        ascii_lower_in_place(u.scheme);
        rest.remove_prefix(colon + 1);
        while (!rest.empty() && (rest.front() == '/' || rest.front() == '\\')) {
            if (rest.front() == '\\') u.flags |= kUriBackslash;
            rest.remove_prefix(1);
        }
    } else if (istarts_with(rest, "www.")) {
        u.scheme = "http";
    } else if (istarts_with(rest, "ftp.")) {
        u.scheme = "ftp";
    } else if (rest.size() > 2 && rest[0] == '/' && rest[1] == '/') {
        u.scheme = "http";  // protocol-relative: //host/path
        rest.remove_prefix(2);
    } else {
        return std::nullopt;  // relative link, mailto:, javascript:, cid: ...
    }

    const std::size_t end = rest.find_first_of("/\\?#");
    std::string_view authority = rest.substr(0, end);
    const std::string_view tail =
        end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
        u.flags |= kUriUserinfo;
        authority.remove_prefix(at + 1);
    }
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {  // IPv6 literal
        const auto close = authority.find(']');
        if (close == std::string_view::npos || close < 3) return std::nullopt;
        u.host = std::string(authority.substr(0, close + 1));
        ascii_lower_in_place(u.host);
        if (u.host.find_first_not_of("[]0123456789abcdef:.") != std::string::npos)
            return std::nullopt;
        u.host_is_ip = true;
        if (close + 1 < authority.size() && authority[close + 1] == ':')
            port = authority.substr(close + 2);
    } else {
        if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
            port = authority.substr(colon + 1);
            authority = authority.substr(0, colon);
        }
        bool percent = false;
        std::string host = percent_decode(authority, &percent);
        if (percent) u.flags |= kUriPercentHost;
        ascii_lower_in_place(host);
        replace_unicode_dots(host);
        while (!host.empty() && host.back() == '.') host.pop_back();
        if (host.empty()) return std::nullopt;
        bool numeric = false;
        if (auto ip = parse_ipv4_host(host, &numeric)) {
            u.host = *ip;
            u.host_is_ip = true;
            if (numeric) u.flags |= kUriNumericIp;
        } else {
            const bool ascii = std::all_of(host.begin(), host.end(), [](char c) {
                return static_cast<unsigned char>(c) < 0x80;
            });
            if (!ascii) {
                u.flags |= kUriIdn;
                char* out = nullptr;
                int rc =
                    idn2_to_ascii_8z(host.c_str(), &out, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
                if (rc != IDN2_OK) {
                    if (out) idn2_free(out);
                    out = nullptr;
                    rc = idn2_to_ascii_8z(host.c_str(), &out, IDN2_TRANSITIONAL | IDN2_NFC_INPUT);
                }
                if (rc != IDN2_OK || !out) {
                    if (out) idn2_free(out);
                    return std::nullopt;
                }
                host = out;
                idn2_free(out);
                ascii_lower_in_place(host);
            }
            if (!valid_host_name(host)) return std::nullopt;
            u.host = std::move(host);
        }
    }
    if (!port.empty() &&
        (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos)) {
        port = {};  // junk after ':' is not a port; drop it rather than the link
    }
    u.url = u.scheme + "://" + u.host;
    if (!port.empty()) {
        u.url += ':';
        u.url += port;
    }
    if (tail.empty()) {
        u.url += '/';
    } else {
        for (char c : tail) u.url.push_back(c == '\\' ? '/' : c);
    }
    return u;
}

std::vector<std::string_view> find_text_uris(std::string_view text) {
    std::vector<std::string_view> out;
    // Only h, f and w (either case) start a candidate: the bytes between are skipped in
    // a loop of one table lookup each.
    static constexpr auto can_start = [] {
        std::array<bool, 256> t{};
        for (unsigned char c : std::string_view("hfwHFW")) t[c] = true;
        return t;
    }();
    std::size_t i = 0;
    const std::size_t n = text.size();
    while (i < n) {
        while (i < n && !can_start[static_cast<unsigned char>(text[i])]) ++i;
        if (i == n) break;
        const char c = ascii_lower(text[i]);
        std::size_t start = std::string_view::npos;
        // Candidates start at a word boundary: not inside a longer word, host or path.
        // Tested only for a byte that can start one: it runs once a text byte.
        const auto boundary = [&] {
            if (i == 0) return true;
            const char p = text[i - 1];
            return !(ascii_alnum(p) || p == '.' || p == '/' || p == '@' || p == '-' || p == '_');
        };
        if ((c == 'h' || c == 'f' || c == 'w') && boundary()) {
            const std::string_view at = text.substr(i);
            if (istarts_with(at, "http://") || istarts_with(at, "https://") ||
                istarts_with(at, "ftp://") || istarts_with(at, "http:\\\\") ||
                istarts_with(at, "https:\\\\")) {
                start = i;
            } else if ((istarts_with(at, "www.") || istarts_with(at, "ftp.")) && at.size() > 4 &&
                       ascii_alnum(at[4])) {
                start = i;
            }
        }
        if (start == std::string_view::npos) {
            ++i;
            continue;
        }
        std::size_t j = start;
        if (const auto colon = text.substr(start, 7).find(':'); colon != std::string_view::npos) {
            j = start + colon + 1;  // past "scheme:", then any mix of / and \ (an obfuscation)
            while (j < n && (text[j] == '/' || text[j] == '\\')) ++j;
        }
        while (j < n && j - start < kMaxUriLength &&
               is_uri_char(static_cast<unsigned char>(text[j])))
            ++j;
        std::string_view link = text.substr(start, j - start);
        // Sentence punctuation after a link is not part of it; nor is an unbalanced ')'.
        while (!link.empty()) {
            const char last = link.back();
            if (last == '.' || last == ',' || last == ';' || last == ':' || last == '!' ||
                last == '?' || last == '*' || last == ']') {
                link.remove_suffix(1);
            } else if (last == ')' && std::count(link.begin(), link.end(), '(') <
                                          std::count(link.begin(), link.end(), ')')) {
                link.remove_suffix(1);
            } else {
                break;
            }
        }
        if (link.size() > 4) out.push_back(link);
        i = j > i ? j : i + 1;
    }
    return out;
}

DomainReducer::~DomainReducer() {
    if (psl_) psl_free(psl_);
}

Result<std::shared_ptr<const DomainReducer>> DomainReducer::load(const std::string& psl_file,
                                                                 const std::string& two_level,
                                                                 const std::string& three_level) {
    std::shared_ptr<DomainReducer> r(new DomainReducer());
    if (psl_file.empty()) {
        // The distribution's file when it is newer than libpsl's built-in copy.
        r->psl_ = psl_latest(nullptr);
        if (!r->psl_) r->psl_ = const_cast<psl_ctx_t*>(psl_builtin());  // never freed: static
    } else {
        r->psl_ = psl_load_file(psl_file.c_str());
        if (!r->psl_)
            return Error::config(fmt::format("{}: cannot load the Public Suffix List", psl_file));
    }
    std::string error;
    if (!two_level.empty()) {
        r->two_level_ = read_list(two_level, error);
        if (!error.empty()) return Error::config(error);
    }
    if (!three_level.empty()) {
        r->three_level_ = read_list(three_level, error);
        if (!error.empty()) return Error::config(error);
    }
    return std::shared_ptr<const DomainReducer>(std::move(r));
}

std::shared_ptr<const DomainReducer> DomainReducer::system_default() {
    static const std::shared_ptr<const DomainReducer> instance = [] {
        auto r = load("", "", "");
        return r ? std::move(r).value() : nullptr;
    }();
    return instance;
}

std::string DomainReducer::registrable(std::string_view host) const {
    if (host.empty() || host.front() == '[' || parse_ipv4_host(host)) return {};
    const std::string h(host);
    const char* d = psl_registrable_domain(psl_, h.c_str());
    return d ? std::string(d) : std::string();
}

bool DomainReducer::known_tld(std::string_view host) const {
    const auto dot = host.rfind('.');
    const std::string tld(dot == std::string_view::npos ? host : host.substr(dot + 1));
    if (tld.empty()) return false;
    return psl_is_public_suffix2(psl_, tld.c_str(), PSL_TYPE_ANY | PSL_TYPE_NO_STAR_RULE) != 0;
}

std::string DomainReducer::surbl_base(std::string_view host) const {
    if (host.empty() || host.front() == '[' || parse_ipv4_host(host)) return {};
    if (two_level_.empty() && three_level_.empty()) return registrable(host);
    auto in = [](const std::vector<std::string>& list, std::string_view s) {
        return !s.empty() &&
               std::binary_search(list.begin(), list.end(), s,
                                  [](std::string_view a, std::string_view b) { return a < b; });
    };
    if (in(three_level_, last_labels(host, 3))) {
        if (auto four = last_labels(host, 4); !four.empty()) return std::string(four);
    } else if (in(two_level_, last_labels(host, 2))) {
        if (auto three = last_labels(host, 3); !three.empty()) return std::string(three);
    }
    auto two = last_labels(host, 2);
    return std::string(two.empty() ? host : two);
}

void DomainReducer::reduce(Uri& uri) const {
    if (uri.host_is_ip) {
        uri.domain.clear();
        uri.surbl_domain.clear();
        return;
    }
    uri.domain = registrable(uri.host);
    uri.surbl_domain = surbl_base(uri.host);
}

}  // namespace pampero::scan
