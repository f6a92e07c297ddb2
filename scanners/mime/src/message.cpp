#include "pampero/mime/message.hpp"

#include <fmt/format.h>
#include <gmime/gmime.h>
#include <iconv.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "gmime_util.hpp"
#include "pampero/common/strings.hpp"

namespace pampero::scan {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() &&
           (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
        s.remove_prefix(1);
    }
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
        s.remove_suffix(1);
    }
    return s;
}

// RFC 5322 unfolding: a line break followed by blanks is removed, the blanks stay.
std::string unfold(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c != '\r' && c != '\n') out.push_back(c);
    }
    return out;
}

std::string cut(std::string s, std::size_t max) {
    if (s.size() > max) {
        s.resize(max);
        // Do not leave half a UTF-8 sequence at the end.
        while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
        if (!s.empty() && static_cast<unsigned char>(s.back()) >= 0xC0) s.pop_back();
    }
    return s;
}

bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        // ASCII eight octets at a time: most text is, and each octet costs a branch below.
        std::uint64_t block;
        if (i + sizeof block <= s.size()) {
            std::memcpy(&block, s.data() + i, sizeof block);
            if ((block & 0x8080808080808080ull) == 0) {
                i += sizeof block;
                continue;
            }
        }
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = 0;
        if (c < 0x80)
            n = 0;
        else if ((c & 0xE0) == 0xC0 && c >= 0xC2)
            n = 1;
        else if ((c & 0xF0) == 0xE0)
            n = 2;
        else if ((c & 0xF8) == 0xF0 && c <= 0xF4)
            n = 3;
        else
            return false;
        if (n > 0 && i + n >= s.size()) return false;
        for (std::size_t k = 1; k <= n; ++k) {
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        }
        i += n + 1;
    }
    return true;
}

// Windows-1252 (a superset of Latin-1 for text) to UTF-8, by table: the fallback when a
// declared charset is unknown and the bytes are not UTF-8.
std::string cp1252_to_utf8(std::string_view in) {
    static constexpr char16_t kHigh[32] = {
        0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD, 0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
        0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178};
    std::string out;
    out.reserve(in.size() + in.size() / 4);
    for (unsigned char c : in) {
        std::uint32_t cp = c;
        if (c >= 0x80 && c < 0xA0) cp = kHigh[c - 0x80];
        if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    }
    return out;
}

bool is_utf8_name(std::string_view cs) {
    return cs.empty() || cs == "utf-8" || cs == "utf8" || cs == "us-ascii" || cs == "ascii";
}

// Converts `in` from `charset` to UTF-8. Invalid sequences become U+FFFD and conversion
// goes on after them. Sets `bad` when the charset is unknown or the bytes did not fit it.
std::string to_utf8(std::string_view in, const std::string& charset, bool& bad) {
    if (is_utf8_name(charset)) {
        if (valid_utf8(in)) return std::string(in);
        if (!charset.empty() && charset != "us-ascii" && charset != "ascii") bad = true;
        return cp1252_to_utf8(in);  // undeclared 8-bit text is most often Windows-1252
    }
    iconv_t cd = g_mime_iconv_open("UTF-8", charset.c_str());
    if (cd == reinterpret_cast<iconv_t>(-1)) {
        bad = true;
        return valid_utf8(in) ? std::string(in) : cp1252_to_utf8(in);
    }
    std::string out;
    out.resize(in.size() * 2 + 16);
    char* src = const_cast<char*>(in.data());
    std::size_t src_left = in.size();
    char* dst = out.data();
    std::size_t dst_left = out.size();
    // Each iteration converts, or skips one bad byte, or grows the output: it ends.
    while (src_left > 0) {
        const std::size_t rc = iconv(cd, &src, &src_left, &dst, &dst_left);
        if (rc != static_cast<std::size_t>(-1)) break;
        if (errno == E2BIG) {
            const std::size_t used = static_cast<std::size_t>(dst - out.data());
            out.resize(out.size() * 2);
            dst = out.data() + used;
            dst_left = out.size() - used;
            continue;
        }
        // EILSEQ or EINVAL (truncated sequence at the end): U+FFFD for one byte, go on.
        bad = true;
        if (dst_left < 3) {
            const std::size_t used = static_cast<std::size_t>(dst - out.data());
            out.resize(out.size() * 2);
            dst = out.data() + used;
            dst_left = out.size() - used;
        }
        *dst++ = '\xEF';
        *dst++ = '\xBF';
        *dst++ = '\xBD';
        dst_left -= 3;
        ++src;
        --src_left;
    }
    out.resize(static_cast<std::size_t>(dst - out.data()));
    g_mime_iconv_close(cd);
    return out;
}

// Marks the message partly scanned because of `why` (once per reason).
void mark_partial(Message& m, std::string_view why) {
    m.truncated = true;
    for (std::size_t at = 0; at < m.partial.size();) {
        const auto comma = m.partial.find(',', at);
        const auto end = comma == std::string::npos ? m.partial.size() : comma;
        if (std::string_view(m.partial).substr(at, end - at) == why) return;
        at = end + 1;
    }
    if (!m.partial.empty()) m.partial += ',';
    m.partial += why;
}

// The longest prefix of UTF-8 `s` of at most `max` bytes that ends on a character boundary.
std::string_view utf8_prefix(std::string_view s, std::size_t max) {
    if (s.size() <= max) return s;
    std::size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    return s.substr(0, n);
}

// Takes the MIME tree apart in two passes: walk() lists the parts and decodes the text
// parts the rules read; read_texts() then gives each its fair share of the scan limit.
class Walker {
  public:
    Walker(Message& m, const ParseOptions& o, const DomainReducer& d)
        : m_(m), opt_(o), domains_(d) {}

    void walk(GMimeObject* obj, std::size_t depth) {
        if (!obj) return;
        if (m_.parts.size() >= kMaxParts) {
            mark_partial(m_, "parts");
            return;
        }
        Part p;
        p.depth = depth;
        if (GMimeContentType* ct = g_mime_object_get_content_type(obj)) {
            const char* type = g_mime_content_type_get_media_type(ct);
            const char* sub = g_mime_content_type_get_media_subtype(ct);
            p.type = ascii_lower(fmt::format("{}/{}", type ? type : "text", sub ? sub : "plain"));
            if (const char* cs = g_mime_content_type_get_parameter(ct, "charset"))
                p.charset = ascii_lower(trim(cs));
        } else {
            p.type = "text/plain";
        }
        if (const char* cte = g_mime_object_get_header(obj, "Content-Transfer-Encoding")) {
            p.encoding = ascii_lower(trim(cte));
        }
        if (GMIME_IS_PART(obj)) {
            if (const char* fn = g_mime_part_get_filename(GMIME_PART(obj)))
                p.filename = cut(fn, 1024);
        }
        if (GMimeContentDisposition* d = g_mime_object_get_content_disposition(obj)) {
            p.attachment = g_mime_content_disposition_is_attachment(d);
        }
        if (!p.filename.empty()) p.attachment = true;
        const std::size_t index = m_.parts.size();
        m_.parts.push_back(p);

        if (GMIME_IS_MULTIPART(obj)) {
            GMimeMultipart* mp = GMIME_MULTIPART(obj);
            const int n = g_mime_multipart_get_count(mp);
            if (depth + 1 >= kMaxMimeDepth) {
                if (n > 0) mark_partial(m_, "parts");
                return;
            }
            for (int i = 0; i < n; ++i) walk(g_mime_multipart_get_part(mp, i), depth + 1);
            return;
        }
        if (GMIME_IS_MESSAGE_PART(obj)) {
            GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
            if (!inner) return;
            if (depth + 1 >= kMaxMimeDepth) {
                mark_partial(m_, "parts");
                return;
            }
            walk(g_mime_message_get_mime_part(inner), depth + 1);
            return;
        }
        if (!GMIME_IS_PART(obj)) return;
        GMimePart* part = GMIME_PART(obj);
        // Text attachments other than plain/html (vcards, calendars, source) are not
        // what the reader reads; skip them, as mail clients show them as files.
        const bool html = p.type == "text/html";
        const bool read =
            p.type.compare(0, 5, "text/") == 0 &&
            (html || p.type == "text/plain" || p.type == "text/enriched" || !p.attachment);
        if (!read) {
            m_.parts[index].size = decoded_size(part);
            return;
        }
        const std::string content = decoded_content(part);
        m_.parts[index].size = content.size();
        bool bad = false;
        texts_.push_back({index, html, to_utf8(content, p.charset, bad)});
        m_.parts[index].bad_charset = bad;
    }

    // The text parts into body_text, decoded_body and the URIs, in document order, each
    // cut at its share of the scan limit.
    void read_texts() {
        std::vector<std::size_t> sizes;
        for (const auto& t : texts_) sizes.push_back(t.text.size());
        // Room for the "\n" put between parts, so that the shares are what each part gets.
        const std::size_t budget = opt_.limit - std::min(opt_.limit, texts_.size());
        const std::vector<std::size_t> shares = fair_shares(sizes, budget);
        for (std::size_t i = 0; i < texts_.size(); ++i) {
            const TextPart& t = texts_[i];
            const std::string_view text = utf8_prefix(t.text, shares[i]);
            if (text.size() < t.text.size()) mark_partial(m_, "text");
            append_bounded(m_.decoded_body, text);
            if (t.html) {
                ++html_parts_;
                html_bytes_ += t.text.size();
                HtmlText h = html_to_text(text);
                add_html_stats(h.stats);
                if (h.links.size() >= kMaxHtmlLinks) mark_partial(m_, "uris");
                const std::string_view shown = utf8_prefix(h.text, shares[i]);
                if (shown.size() < h.text.size()) mark_partial(m_, "text");
                append_bounded(m_.body_text, shown);
                for (auto& link : h.links) add_html_link(link);
                for (auto link : find_text_uris(shown)) add_uri(link, UriSource::text, false);
            } else {
                ++plain_parts_;
                plain_bytes_ += t.text.size();
                for (auto link : find_text_uris(text)) add_uri(link, UriSource::text, false);
                append_bounded(m_.body_text, text);
            }
        }
        texts_.clear();
    }

    void summarize() {
        std::string& s = m_.mime_summary;
        std::size_t attachments = 0;
        for (const auto& p : m_.parts) {
            s += fmt::format("part depth={} type={}", p.depth, p.type);
            if (!p.charset.empty()) s += fmt::format(" charset={}", sanitize(p.charset));
            if (!p.encoding.empty()) s += fmt::format(" encoding={}", sanitize(p.encoding));
            if (!p.filename.empty()) s += fmt::format(" name={}", sanitize(p.filename));
            if (p.attachment) {
                s += " attachment";
                ++attachments;
            }
            s += fmt::format(" size={}", p.size);
            if (p.bad_charset) s += " badcharset";
            s += '\n';
        }
        const HtmlStats& h = m_.html;
        if (html_parts_ > 0) {
            s += fmt::format(
                "html tags={} unknown_tags={} images={} anchors={} forms={} scripts={} iframes={} "
                "comments={} split_words={} text={} hidden={} tiny={} entity_letters={}\n",
                h.tags, h.unknown_tags, h.images, h.anchors, h.forms, h.scripts, h.iframes,
                h.comments, h.split_words, h.text_bytes, h.hidden_bytes, h.tiny_bytes,
                h.entity_letters);
        }
        s += fmt::format(
            "text parts={} plain={} html={} plain_bytes={} html_bytes={} attachments={}\n",
            m_.parts.size(), plain_parts_, html_parts_, plain_bytes_, html_bytes_, attachments);
        std::size_t numeric = 0, ip = 0, percent = 0, userinfo = 0, idn = 0, entity = 0,
                    backslash = 0;
        std::set<std::string> domains;
        for (const auto& u : m_.uris) {
            numeric += (u.flags & kUriNumericIp) ? 1 : 0;
            ip += u.host_is_ip ? 1 : 0;
            percent += (u.flags & kUriPercentHost) ? 1 : 0;
            userinfo += (u.flags & kUriUserinfo) ? 1 : 0;
            idn += (u.flags & kUriIdn) ? 1 : 0;
            entity += (u.flags & kUriEntity) ? 1 : 0;
            backslash += (u.flags & kUriBackslash) ? 1 : 0;
            if (!u.domain.empty()) domains.insert(u.domain);
        }
        s += fmt::format(
            "uri count={} numeric_ip={} ip={} percent_host={} userinfo={} idn={} entity={} "
            "backslash={} "
            "anchor_mismatch={} domains={}\n",
            m_.uris.size(), numeric, ip, percent, userinfo, idn, entity, backslash,
            anchor_mismatch_, domains.size());
        if (m_.truncated) s += fmt::format("scan partial cut={}\n", m_.partial);
    }

  private:
    static std::string sanitize(std::string_view v) {
        std::string out;
        for (char c : v.substr(0, 200))
            out.push_back((c == ' ' || c == '\n' || c == '\r' || c == '\t') ? '_' : c);
        return out;
    }

    // A hard bound under the shares (they already keep each text within the limit).
    void append_bounded(std::string& out, std::string_view text) {
        if (!out.empty() && out.back() != '\n' && out.size() < opt_.limit) out.push_back('\n');
        const std::string_view kept =
            utf8_prefix(text, opt_.limit - std::min(opt_.limit, out.size()));
        if (kept.size() < text.size()) mark_partial(m_, "text");
        out.append(kept);
    }

    void add_html_stats(const HtmlStats& s) {
        HtmlStats& t = m_.html;
        t.tags += s.tags;
        t.unknown_tags += s.unknown_tags;
        t.images += s.images;
        t.anchors += s.anchors;
        t.forms += s.forms;
        t.scripts += s.scripts;
        t.iframes += s.iframes;
        t.comments += s.comments;
        t.split_words += s.split_words;
        t.text_bytes += s.text_bytes;
        t.hidden_bytes += s.hidden_bytes;
        t.tiny_bytes += s.tiny_bytes;
        t.entity_letters += s.entity_letters;
        t.has_body = t.has_body || s.has_body;
    }

    // Returns the index of the uri in m_.uris, or -1.
    long add_uri(std::string_view written, UriSource source, bool had_entities) {
        auto u = normalize_uri(written, source);
        if (!u) return -1;
        if (had_entities) u->flags |= kUriEntity;
        // A bare "www.something" in text is only a link when its TLD exists.
        if (source == UriSource::text && !u->host_is_ip && !domains_.known_tld(u->host)) return -1;
        if (auto it = seen_.find(u->url); it != seen_.end()) return static_cast<long>(it->second);
        if (m_.uris.size() >= kMaxUris) {
            mark_partial(m_, "uris");
            return -1;
        }
        domains_.reduce(*u);
        seen_.emplace(u->url, m_.uris.size());
        m_.uris.push_back(std::move(*u));
        return static_cast<long>(m_.uris.size() - 1);
    }

    void add_html_link(const HtmlLink& link) {
        const long idx = add_uri(link.value, link.source, link.had_entities);
        if (idx < 0 || link.anchor_text.empty()) return;
        // Anchor text that shows a link to another domain than the one it goes to.
        const std::string href_domain = m_.uris[static_cast<std::size_t>(idx)].host_is_ip
                                            ? m_.uris[static_cast<std::size_t>(idx)].host
                                            : m_.uris[static_cast<std::size_t>(idx)].domain;
        for (auto shown : find_text_uris(link.anchor_text)) {
            auto su = normalize_uri(shown, UriSource::text);
            if (!su) continue;
            domains_.reduce(*su);
            const std::string shown_domain = su->host_is_ip ? su->host : su->domain;
            if (!shown_domain.empty() && !href_domain.empty() && shown_domain != href_domain) {
                ++anchor_mismatch_;
                break;
            }
        }
    }

    struct TextPart {
        std::size_t index;  // in m_.parts
        bool html;
        std::string text;  // the whole part, transfer encoding undone, in UTF-8
    };

    Message& m_;
    const ParseOptions& opt_;
    const DomainReducer& domains_;
    std::vector<TextPart> texts_;
    std::unordered_map<std::string, std::size_t> seen_;
    std::size_t html_parts_ = 0, plain_parts_ = 0, html_bytes_ = 0, plain_bytes_ = 0;
    std::size_t anchor_mismatch_ = 0;
};

// The header block ends at the first empty line; returns the body's offset.
std::size_t body_offset(std::string_view raw) {
    std::size_t pos = 0;
    while (pos < raw.size()) {
        const auto eol = raw.find('\n', pos);
        if (eol == std::string_view::npos) return raw.size();
        std::string_view line = raw.substr(pos, eol - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) return eol + 1;
        pos = eol + 1;
    }
    return raw.size();
}

// The top-level header block, read here rather than from GMime's message header list,
// which leaves out the Content-* headers (they belong to the root part there) and so
// loses the order. Values are decoded by GMime (RFC 2047, 8-bit through its fallback
// charsets). A line that is neither a header nor a continuation ends the block, as in
// GMime. Bounds (each cut marks the message partial "headers"): max_headers fields and
// max_header_bytes bytes of block, kMaxHeaderValue bytes a value, kMaxHeaderName a name.
constexpr std::size_t kMaxHeaderName = 256;

void read_headers(Message& m, std::string_view block, const ParseOptions& o) {
    if (block.size() > o.max_header_bytes) {
        block = block.substr(0, o.max_header_bytes);
        mark_partial(m, "headers");
    }
    std::size_t pos = 0;
    std::string name, raw;
    bool have = false, long_value = false;
    auto flush = [&] {
        if (!have) return;
        have = false;
        Header h;
        h.name = cut(name, kMaxHeaderName);
        const std::string unfolded = unfold(raw);
        const std::string value(trim(unfolded));
        h.raw = cut(value, kMaxHeaderValue);
        char* decoded = g_mime_utils_header_decode_text(nullptr, h.raw.c_str());
        const std::string text = decoded ? std::string(trim(decoded)) : h.raw;
        g_free(decoded);
        h.value = cut(text, kMaxHeaderValue);
        if (long_value || name.size() > h.name.size() || value.size() > h.raw.size() ||
            text.size() > h.value.size())
            mark_partial(m, "headers");
        if (!valid_utf8(h.value)) h.value = cp1252_to_utf8(h.value);
        m.headers.push_back(std::move(h));
    };
    while (pos < block.size()) {
        auto eol = block.find('\n', pos);
        const std::size_t next = eol == std::string_view::npos ? block.size() : eol + 1;
        std::string_view line = block.substr(pos, next - pos);
        pos = next;
        if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) break;
        if (line.front() == ' ' || line.front() == '\t') {
            if (!have) continue;
            if (raw.size() + 1 + line.size() > kMaxHeaderValue + 16) long_value = true;
            if (raw.size() < kMaxHeaderValue + 16) {
                raw += '\n';
                raw.append(line.substr(
                    0, kMaxHeaderValue + 16 - std::min(raw.size(), kMaxHeaderValue + 16)));
            }
            continue;
        }
        const auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) break;
        std::string_view n = line.substr(0, colon);
        while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.remove_suffix(1);
        if (n.empty() || n.find_first_of(" \t") != std::string_view::npos) break;
        flush();
        if (m.headers.size() >= o.max_headers) {
            mark_partial(m, "headers");
            break;
        }
        name = std::string(n.substr(0, kMaxHeaderName + 1));
        const std::string_view value = line.substr(colon + 1);
        long_value = value.size() > kMaxHeaderValue + 16;
        raw = std::string(value.substr(0, kMaxHeaderValue + 16));  // blanks are trimmed later
        have = true;
    }
    flush();
}

}  // namespace

void init_mime() {
    static std::once_flag once;
    std::call_once(once, [] { g_mime_init(); });
}

const Header* Message::find(std::string_view name) const {
    for (const auto& h : headers) {
        if (iequals(h.name, name)) return &h;
    }
    return nullptr;
}

namespace {
template <class F>
std::vector<std::string> distinct(const std::vector<Uri>& uris, F get) {
    std::vector<std::string> out;
    std::unordered_set<std::string> seen;
    for (const auto& u : uris) {
        std::string v = get(u);
        if (!v.empty() && seen.insert(v).second) out.push_back(std::move(v));
    }
    return out;
}
}  // namespace

std::vector<std::string> Message::uri_hosts() const {
    return distinct(uris, [](const Uri& u) { return u.host_is_ip ? std::string() : u.host; });
}
std::vector<std::string> Message::uri_domains() const {
    return distinct(uris, [](const Uri& u) { return u.domain; });
}
std::vector<std::string> Message::uri_surbl_domains() const {
    return distinct(uris, [](const Uri& u) { return u.surbl_domain; });
}
std::vector<std::string> Message::uri_ips() const {
    return distinct(uris, [](const Uri& u) {
        return u.host_is_ip && u.host.front() != '[' ? u.host : std::string();
    });
}

std::vector<std::string> Message::received_ips() const {
    std::vector<std::string> out;
    std::size_t seen = 0;
    for (const auto& h : headers) {
        if (!iequals(h.name, "Received")) continue;
        if (++seen > kMaxReceived) break;
        std::string_view v = h.raw;
        // Only the "from" clause names the sending relay; "by" names the receiver.
        if (v.size() < 5 || !iequals(v.substr(0, 5), "from ")) continue;
        if (auto by = v.find(" by "); by != std::string_view::npos) v = v.substr(0, by);
        for (std::size_t pos = v.find('['); pos != std::string_view::npos;
             pos = v.find('[', pos + 1)) {
            const auto close = v.find(']', pos);
            if (close == std::string_view::npos) break;
            std::string_view ip = v.substr(pos + 1, close - pos - 1);
            if (ip.size() > 5 && iequals(ip.substr(0, 5), "IPv6:")) continue;
            if (parse_ipv4(ip)) {
                out.emplace_back(ip);
                break;
            }
        }
    }
    return out;
}

Message parse_message(std::string_view raw, std::size_t limit) {
    ParseOptions o;
    o.limit = limit;
    return parse_message(raw, o);
}

Message parse_message(std::string_view raw, const ParseOptions& options) {
    init_mime();
    Message m;
    if (options.cut) mark_partial(m, "input");
    const std::size_t body_at = body_offset(raw);
    m.raw = std::string(raw.substr(0, options.limit));
    m.raw_body = std::string(raw.substr(body_at, options.limit));
    auto reducer = options.domains ? options.domains : DomainReducer::system_default();
    Walker walker(m, options, *reducer);

    // GMime parses the whole input: the structure after a long part is still found; the
    // walker bounds what is kept of each part.
    GPtr<GMimeMessage> own;
    GMimeMessage* msg = gmime_message_for(raw, options.parsed, own);
    if (!msg) {
        m.raw_body = m.raw;  // GMime found no header block: it is all body
    } else {
        read_headers(m, raw.substr(0, body_at), options);
        GMimeObject* root = g_mime_message_get_mime_part(msg);
        if (root) walker.walk(root, 0);
        walker.read_texts();
    }
    if (m.parts.empty()) {
        // Not MIME at all (or no body): read the body as one plain-text part.
        const std::size_t body_size = msg ? raw.size() - body_at : raw.size();
        Part p;
        p.type = "text/plain";
        p.size = body_size;
        m.parts.push_back(p);
        if (body_size > m.raw_body.size()) mark_partial(m, "text");
        bool bad = false;
        std::string text = to_utf8(m.raw_body, "", bad);
        if (text.size() > options.limit) {
            text.resize(utf8_prefix(text, options.limit).size());
            mark_partial(m, "text");
        }
        for (auto link : find_text_uris(text)) {
            if (auto u = normalize_uri(link, UriSource::text)) {
                if (!u->host_is_ip && !reducer->known_tld(u->host)) continue;
                if (std::any_of(m.uris.begin(), m.uris.end(),
                                [&](const Uri& x) { return x.url == u->url; }))
                    continue;
                if (m.uris.size() >= kMaxUris) {
                    mark_partial(m, "uris");
                    break;
                }
                reducer->reduce(*u);
                m.uris.push_back(std::move(*u));
            }
        }
        m.decoded_body = text;
        m.body_text = std::move(text);
    }
    walker.summarize();
    return m;
}

std::vector<std::size_t> fair_shares(const std::vector<std::size_t>& sizes, std::size_t budget) {
    // Water-filling: the shortest parts first, each taking what it needs up to an equal
    // split of what is left; the longer ones share the rest.
    std::vector<std::size_t> order(sizes.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return sizes[a] < sizes[b]; });
    std::vector<std::size_t> shares(sizes.size(), 0);
    std::size_t left = budget;
    for (std::size_t k = 0; k < order.size(); ++k) {
        const std::size_t equal = left / (order.size() - k);
        shares[order[k]] = std::min(sizes[order[k]], equal);
        left -= shares[order[k]];
    }
    return shares;
}

}  // namespace pampero::scan
