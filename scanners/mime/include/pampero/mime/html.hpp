// html.hpp - HTML turned into the text a reader sees, plus its links and its tricks.
//
// html_to_text() is a forgiving tokenizer, not a DOM: spam HTML is rarely well formed,
// and the rules need the visible words, the links and a few counts, not a tree.
//   - text: character references decoded (UTF-8), runs of blanks collapsed, line breaks
//     for block elements (br, p, div, tr, li, h1-h6 ...), nothing from <script>, <style>,
//     comments, or elements hidden by style (display:none, visibility:hidden);
//   - links: href of a/area/link/base, src of img/iframe/frame/embed/script, action of
//     form, background of any element, with references decoded, and for <a> the anchor
//     text (to spot "www.yourbank.com" shown over a link to somewhere else);
//   - stats: the counts HTML rules use (see HtmlStats).
// Errors: none; whatever cannot be tokenized is read as text.
// Limits: at most kMaxHtmlLinks links are kept; a tag that does not close within
// kMaxTagLength bytes is read as text; the bytes spent scanning tags are charged to a
// budget of 4 x the input (+64 KiB), after which the rest is read as text, so that
// floods of '<' or unclosed quotes stay linear; at most kMaxAttributes attributes per
// tag are looked at; the open-element
// stack that tracks hidden/tiny text is at most kMaxHtmlDepth deep (deeper elements are
// not tracked; the text still counts); anchor text is kept up to kMaxAnchorText bytes.
// The work is linear in the input.
// Thread-safety: pure function.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "pampero/mime/uri.hpp"

namespace pampero::scan {

constexpr std::size_t kMaxHtmlLinks = 1000;
constexpr std::size_t kMaxTagLength = 16 * 1024;
constexpr std::size_t kMaxAttributes = 64;
constexpr std::size_t kMaxHtmlDepth = 256;
constexpr std::size_t kMaxAnchorText = 256;

struct HtmlLink {
    std::string value;  // attribute value, character references decoded
    UriSource source = UriSource::href;
    bool had_entities = false;  // the value was written with character references
    std::string anchor_text;    // for <a href>: the visible text inside, blanks collapsed
};

struct HtmlStats {
    std::size_t tags = 0;          // start and end tags
    std::size_t unknown_tags = 0;  // names no HTML version defines (<xqzv>): word splitting
    std::size_t images = 0;        // <img>
    std::size_t anchors = 0;       // <a href>
    std::size_t forms = 0;         // <form>
    std::size_t scripts = 0;       // <script>
    std::size_t iframes = 0;       // <iframe>, <frame>
    std::size_t comments = 0;      // <!-- -->
    std::size_t split_words = 0;   // comments or unknown tags between two letters: "V<!-- -->iagra"
    std::size_t text_bytes = 0;    // visible text
    std::size_t hidden_bytes = 0;  // text hidden by style
    std::size_t tiny_bytes = 0;    // text in font size 0/1 or font-size under 4px/pt
    std::size_t entity_letters = 0;  // letters written as numeric references (&#86;&#105;...)
    bool has_body = false;           // a <body> or <html> tag was seen
};

struct HtmlText {
    std::string text;
    std::vector<HtmlLink> links;
    HtmlStats stats;
};

HtmlText html_to_text(std::string_view html);

}  // namespace pampero::scan
