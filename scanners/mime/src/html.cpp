#include "pampero/mime/html.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "pampero/common/strings.hpp"

namespace pampero::scan {
namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Elements HTML 4/5 and common mail clients use; anything else is "unknown".
constexpr std::array<std::string_view, 113> kKnownTags{{
    "a",        "abbr",    "acronym",    "address",    "applet",   "area",     "article",
    "aside",    "audio",   "b",          "base",       "basefont", "bdi",      "bdo",
    "big",      "blink",   "blockquote", "body",       "br",       "button",   "canvas",
    "caption",  "center",  "cite",       "code",       "col",      "colgroup", "dd",
    "del",      "details", "dfn",        "dir",        "div",      "dl",       "dt",
    "em",       "embed",   "fieldset",   "figcaption", "figure",   "font",     "footer",
    "form",     "frame",   "frameset",   "h1",         "h2",       "h3",       "h4",
    "h5",       "h6",      "head",       "header",     "hr",       "html",     "i",
    "iframe",   "img",     "input",      "ins",        "kbd",      "label",    "legend",
    "li",       "link",    "main",       "map",        "mark",     "marquee",  "menu",
    "meta",     "nav",     "nobr",       "noframes",   "noscript", "object",   "ol",
    "optgroup", "option",  "o:p",        "p",          "param",    "picture",  "pre",
    "q",        "s",       "samp",       "script",     "section",  "select",   "small",
    "source",   "span",    "strike",     "strong",     "style",    "sub",      "summary",
    "sup",      "table",   "tbody",      "td",         "textarea", "tfoot",    "th",
    "thead",    "title",   "tr",         "tt",         "u",        "ul",       "var",
    "wbr",
}};

bool known_tag(std::string_view name) {
    if (std::find(kKnownTags.begin(), kKnownTags.end(), name) != kKnownTags.end()) return true;
    // Namespaced Office tags (o:p, v:shape, st1:place) are what Word writes.
    return name.find(':') != std::string_view::npos;
}

bool is_block(std::string_view n) {
    static constexpr std::array<std::string_view, 24> kBlocks{{
        "br", "p",  "div", "tr",    "li",         "h1",    "h2",   "h3",
        "h4", "h5", "h6",  "table", "blockquote", "hr",    "ul",   "ol",
        "dl", "dt", "dd",  "pre",   "center",     "title", "form", "address",
    }};
    return std::find(kBlocks.begin(), kBlocks.end(), n) != kBlocks.end();
}

bool is_void(std::string_view n) {
    static constexpr std::array<std::string_view, 14> kVoid{{
        "br",
        "img",
        "hr",
        "meta",
        "input",
        "link",
        "base",
        "area",
        "col",
        "param",
        "source",
        "wbr",
        "embed",
        "basefont",
    }};
    return std::find(kVoid.begin(), kVoid.end(), n) != kVoid.end();
}

struct Attribute {
    std::string name;  // lowercase
    std::string_view value;
};

// "display: none", "visibility:hidden" (blanks and case ignored).
bool style_hides(const std::string& style) {
    std::string s;
    for (char c : style) {
        if (!is_space(c)) s.push_back(ascii_lower(c));
    }
    return s.find("display:none") != std::string::npos ||
           s.find("visibility:hidden") != std::string::npos;
}

// font-size under 4 (px or pt), or <font size=0/1/-N>.
bool style_tiny(const std::string& style) {
    std::string s;
    for (char c : style) {
        if (!is_space(c)) s.push_back(ascii_lower(c));
    }
    const auto pos = s.find("font-size:");
    if (pos == std::string::npos) return false;
    std::size_t i = pos + 10;
    int v = 0;
    std::size_t digits = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) && digits < 4) {
        v = v * 10 + (s[i] - '0');
        ++i;
        ++digits;
    }
    if (digits == 0) return false;
    if (i < s.size() && s[i] == '.') return v < 4;  // 0.5px, 1.5pt
    return v < 4 && (s.compare(i, 2, "px") == 0 || s.compare(i, 2, "pt") == 0);
}

bool font_size_tiny(std::string_view v) {
    std::string s;
    for (char c : v) {
        if (!is_space(c) && c != '"' && c != '\'') s.push_back(c);
    }
    return s == "0" || s == "1" || (s.size() >= 2 && s[0] == '-');
}

struct Open {
    std::string name;
    bool hidden = false;
    bool tiny = false;
};

class Tokenizer {
  public:
    explicit Tokenizer(std::string_view html) : in_(html), budget_(4 * html.size() + 65536) {}

    HtmlText run() {
        std::size_t i = 0;
        std::size_t text_start = 0;
        while (i < in_.size()) {
            if (in_[i] != '<') {
                ++i;
                continue;
            }
            const std::size_t consumed = markup(i, text_start);
            if (consumed == 0) {  // a lone '<' is text
                ++i;
                continue;
            }
            i += consumed;
            text_start = i;
        }
        flush_text(in_.substr(text_start));
        finish_anchor();
        // Trim the blanks the block elements left at the ends.
        auto& t = out_.text;
        while (!t.empty() && is_space(t.back())) t.pop_back();
        std::size_t lead = 0;
        while (lead < t.size() && is_space(t[lead])) ++lead;
        t.erase(0, lead);
        return std::move(out_);
    }

  private:
    bool hidden() const { return hidden_depth_ > 0; }

    void emit_break() {
        if (!out_.text.empty() && out_.text.back() != '\n') {
            if (out_.text.back() == ' ')
                out_.text.back() = '\n';
            else
                out_.text.push_back('\n');
        }
    }

    void flush_text(std::string_view raw) {
        if (raw.empty()) return;
        if (skip_until_.size()) return;
        // Letters written as numeric references are a classic filter dodge.
        for (std::size_t i = 0; i + 2 < raw.size(); ++i) {
            if (raw[i] == '&' && raw[i + 1] == '#') {
                std::size_t j = i + 2;
                const bool hex = raw[j] == 'x' || raw[j] == 'X';
                if (hex) ++j;
                unsigned v = 0;
                std::size_t d = 0;
                while (j < raw.size() && d < 6 &&
                       std::isxdigit(static_cast<unsigned char>(raw[j]))) {
                    if (!hex && !std::isdigit(static_cast<unsigned char>(raw[j]))) break;
                    v = v * (hex ? 16 : 10) +
                        static_cast<unsigned>(std::isdigit(static_cast<unsigned char>(raw[j]))
                                                  ? raw[j] - '0'
                                                  : ascii_lower(raw[j]) - 'a' + 10);
                    ++j;
                    ++d;
                }
                if (d > 0 && v < 128 && std::isalnum(static_cast<int>(v)))
                    ++out_.stats.entity_letters;
            }
        }
        const std::string decoded = decode_html_entities(raw);
        std::size_t visible = 0;
        std::string collapsed;
        collapsed.reserve(decoded.size());
        for (std::size_t i = 0; i < decoded.size(); ++i) {
            const char c = decoded[i];
            // U+00A0 (no-break space, C2 A0 in UTF-8) is a blank to the reader.
            const bool nbsp = static_cast<unsigned char>(c) == 0xC2 && i + 1 < decoded.size() &&
                              static_cast<unsigned char>(decoded[i + 1]) == 0xA0;
            if (is_space(c) || nbsp) {
                if (nbsp) ++i;
                if (collapsed.empty() ? (out_.text.empty() || !is_space(out_.text.back()))
                                      : collapsed.back() != ' ') {
                    collapsed.push_back(' ');
                }
                continue;
            }
            collapsed.push_back(c);
            ++visible;
        }
        if (hidden()) {
            out_.stats.hidden_bytes += visible;
            return;
        }
        if (tiny_depth_ > 0) out_.stats.tiny_bytes += visible;
        out_.stats.text_bytes += visible;
        if (anchor_open_ && anchor_text_.size() < kMaxAnchorText) {
            anchor_text_ += collapsed.substr(0, kMaxAnchorText - anchor_text_.size());
        }
        last_text_alnum_ = false;
        if (!collapsed.empty()) {
            last_text_alnum_ = std::isalnum(static_cast<unsigned char>(collapsed.back())) != 0;
        }
        out_.text += collapsed;
    }

    // A word split by markup: letter, then comment/unknown tag, then letter.
    void note_possible_split(std::size_t after) {
        if (!last_text_alnum_ || !out_.text.size()) return;
        if (after < in_.size() && std::isalpha(static_cast<unsigned char>(in_[after])) &&
            std::isalpha(static_cast<unsigned char>(out_.text.back()))) {
            ++out_.stats.split_words;
        }
    }

    // Parses markup at `at` (in_[at] == '<'), after flushing the text before it. Returns
    // the bytes consumed, or 0 when this '<' is plain text.
    std::size_t markup(std::size_t at, std::size_t text_start) {
        const std::string_view rest = in_.substr(at);
        if (rest.size() < 2) return 0;
        const char c1 = rest[1];
        const bool end_tag = c1 == '/';
        if (rest.compare(0, 4, "<!--") == 0) {
            flush_text(in_.substr(text_start, at - text_start));
            const auto close = rest.find("-->", 4);
            const std::size_t len = close == std::string_view::npos ? rest.size() : close + 3;
            ++out_.stats.comments;
            if (!skip_until_.size()) note_possible_split(at + len);
            return len;
        }
        if (c1 == '!' || c1 == '?') {
            flush_text(in_.substr(text_start, at - text_start));
            const auto close = rest.find('>');
            return close == std::string_view::npos ? rest.size() : close + 1;
        }
        const std::size_t name_start = end_tag ? 2 : 1;
        if (name_start >= rest.size() ||
            !std::isalpha(static_cast<unsigned char>(rest[name_start])))
            return 0;
        std::size_t j = name_start;
        while (j < rest.size() && (std::isalnum(static_cast<unsigned char>(rest[j])) ||
                                   rest[j] == ':' || rest[j] == '-' || rest[j] == '_')) {
            ++j;
        }
        const std::string name = ascii_lower(rest.substr(name_start, j - name_start));
        // Inside <script>/<style> only the matching end tag counts.
        if (!skip_until_.empty()) {
            if (end_tag && name == skip_until_) {
                skip_until_.clear();
                const auto close = rest.find('>', j);
                return close == std::string_view::npos ? rest.size() : close + 1;
            }
            return 0;
        }
        // A tag must close within kMaxTagLength; the next '>' is cached so that a flood
        // of '<' without one costs one search, not one per '<'.
        if (next_gt_ == std::string_view::npos || next_gt_ < at) next_gt_ = in_.find('>', at);
        if (next_gt_ == std::string_view::npos) return 0;
        if (next_gt_ - at > kMaxTagLength) return 0;
        // Quotes can hide '>' and make the scan go further; every scan is charged to a
        // budget proportional to the input, and once it is spent the rest is text.
        if (budget_ == 0) return 0;
        // Attributes, quotes respected, up to '>'.
        std::vector<Attribute> attrs;
        std::size_t k = j;
        bool closed = false;
        while (k < rest.size() && k < kMaxTagLength) {
            while (k < rest.size() && (is_space(rest[k]) || rest[k] == '/')) ++k;
            if (k >= rest.size()) break;
            if (rest[k] == '>') {
                closed = true;
                ++k;
                break;
            }
            const std::size_t an = k;
            while (k < rest.size() && !is_space(rest[k]) && rest[k] != '=' && rest[k] != '>' &&
                   rest[k] != '/')
                ++k;
            Attribute a;
            a.name = ascii_lower(rest.substr(an, k - an));
            while (k < rest.size() && is_space(rest[k])) ++k;
            if (k < rest.size() && rest[k] == '=') {
                ++k;
                while (k < rest.size() && is_space(rest[k])) ++k;
                if (k < rest.size() && (rest[k] == '"' || rest[k] == '\'')) {
                    const char q = rest[k];
                    const auto endq = rest.substr(0, kMaxTagLength).find(q, k + 1);
                    if (endq == std::string_view::npos) break;
                    a.value = rest.substr(k + 1, endq - k - 1);
                    k = endq + 1;
                } else {
                    const std::size_t vs = k;
                    while (k < rest.size() && !is_space(rest[k]) && rest[k] != '>') ++k;
                    a.value = rest.substr(vs, k - vs);
                }
            }
            if (k == an) ++k;  // a stray character: step over it
            if (attrs.size() < kMaxAttributes && !a.name.empty()) attrs.push_back(std::move(a));
        }
        budget_ = budget_ > k ? budget_ - k : 0;
        if (!closed) return 0;  // unterminated or absurdly long: read as text

        flush_text(in_.substr(text_start, at - text_start));
        ++out_.stats.tags;
        if (!known_tag(name)) {
            ++out_.stats.unknown_tags;
            note_possible_split(at + k);
        }
        if (end_tag) {
            close_element(name);
        } else {
            open_element(name, attrs);
        }
        return k;
    }

    void add_link(std::string_view raw, UriSource source) {
        if (raw.empty() || out_.links.size() >= kMaxHtmlLinks) return;
        HtmlLink l;
        l.value = decode_html_entities(raw);
        l.had_entities = raw.find('&') != std::string_view::npos && l.value != raw;
        l.source = source;
        out_.links.push_back(std::move(l));
    }

    void finish_anchor() {
        if (!anchor_open_) return;
        anchor_open_ = false;
        if (anchor_link_ < out_.links.size()) {
            std::string t = anchor_text_;
            while (!t.empty() && is_space(t.back())) t.pop_back();
            while (!t.empty() && is_space(t.front())) t.erase(0, 1);
            out_.links[anchor_link_].anchor_text = std::move(t);
        }
        anchor_text_.clear();
    }

    void open_element(const std::string& name, const std::vector<Attribute>& attrs) {
        bool hides = false;
        bool tiny = false;
        for (const auto& a : attrs) {
            if (a.name == "style") {
                const std::string v(a.value);
                hides = hides || style_hides(v);
                tiny = tiny || style_tiny(v);
            } else if (a.name == "background") {
                add_link(a.value, UriSource::src);
            } else if (a.name == "size" && name == "font") {
                tiny = tiny || font_size_tiny(a.value);
            } else if (a.name == "hidden") {
                hides = true;
            }
            if (a.name == "href" &&
                (name == "a" || name == "area" || name == "link" || name == "base")) {
                if (name == "a") {
                    finish_anchor();
                    anchor_open_ = true;
                    anchor_link_ = out_.links.size();
                    ++out_.stats.anchors;
                }
                add_link(a.value, UriSource::href);
            } else if (a.name == "src" &&
                       (name == "img" || name == "iframe" || name == "frame" || name == "embed" ||
                        name == "script" || name == "input")) {
                add_link(a.value, UriSource::src);
            } else if (a.name == "action" && name == "form") {
                add_link(a.value, UriSource::action);
            }
        }
        if (name == "img")
            ++out_.stats.images;
        else if (name == "form")
            ++out_.stats.forms;
        else if (name == "iframe" || name == "frame")
            ++out_.stats.iframes;
        else if (name == "body" || name == "html")
            out_.stats.has_body = true;
        if (name == "script" || name == "style") {
            if (name == "script") ++out_.stats.scripts;
            skip_until_ = name;
            return;
        }
        if (is_block(name) || name == "td" || name == "th") {
            if (name == "td" || name == "th") {
                if (!out_.text.empty() && !is_space(out_.text.back())) out_.text.push_back(' ');
            } else {
                emit_break();
            }
        }
        if (is_void(name)) return;
        if (stack_.size() >= kMaxHtmlDepth) return;
        stack_.push_back({name, hides, tiny});
        if (hides) ++hidden_depth_;
        if (tiny) ++tiny_depth_;
    }

    void close_element(const std::string& name) {
        if (name == "a") finish_anchor();
        if (is_block(name)) emit_break();
        // Pop to the matching open element (mis-nested HTML closes what is inside).
        for (std::size_t n = stack_.size(); n > 0; --n) {
            if (stack_[n - 1].name != name) continue;
            while (stack_.size() >= n) {
                if (stack_.back().hidden) --hidden_depth_;
                if (stack_.back().tiny) --tiny_depth_;
                stack_.pop_back();
            }
            break;
        }
    }

    std::string_view in_;
    std::size_t budget_;
    std::size_t next_gt_ = std::string_view::npos;
    HtmlText out_;
    std::vector<Open> stack_;
    std::size_t hidden_depth_ = 0;
    std::size_t tiny_depth_ = 0;
    std::string skip_until_;  // "script" or "style" while inside one
    bool anchor_open_ = false;
    std::size_t anchor_link_ = 0;
    std::string anchor_text_;
    bool last_text_alnum_ = false;
};

}  // namespace

HtmlText html_to_text(std::string_view html) {
    return Tokenizer(html).run();
}

}  // namespace pampero::scan
