// libFuzzer target: the whole message path (GMime parse, charsets, HTML to text, URI
// extraction and reduction), and the parts the virus scanner is handed (mime_leaves), on
// arbitrary bytes. Must never crash, hang or leak; and both read from one shared GMime
// parse (ParsedMime, as the milter does it) must give what each gets from its own.
// clang-format off
// fuzz-sources: scanners/mime/src/message.cpp scanners/mime/src/uri.cpp
// fuzz-sources: scanners/mime/src/html.cpp scanners/mime/src/mime_leaves.cpp
// fuzz-sources: scanners/mime/src/parsed_mime.cpp
// fuzz-sources: common/src/strings.cpp
// fuzz-libs: gmime-3.0 libpsl libidn2
// fuzz-seeds: tests/data/messages
// clang-format on
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pampero/mime/message.hpp"
#include "pampero/mime/mime_leaves.hpp"
#include "pampero/mime/parsed_mime.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace pampero::scan;
    constexpr std::size_t kLimit = 256 * 1024;
    const std::string_view raw(reinterpret_cast<const char*>(data), size);
    auto m = parse_message(raw, kLimit);
    // Touch the derived views so their code runs too.
    (void)m.uri_domains();
    (void)m.uri_surbl_domains();
    (void)m.uri_ips();
    (void)m.received_ips();
    // What the rules read stays within the scan limit whatever the input (issue 8: the
    // limit is shared between text parts, never exceeded), and a cut is never silent.
    if (m.body_text.size() > kLimit || m.decoded_body.size() > kLimit || m.raw.size() > kLimit ||
        m.raw_body.size() > kLimit || m.truncated == m.partial.empty())
        __builtin_trap();
    const auto leaves = mime_leaves(raw);
    std::size_t bytes = 0;
    for (const auto& c : leaves.contents) bytes += c.size();
    if (bytes > 4 * raw.size() + 4096) __builtin_trap();  // decoding never grows a part that much

    const ParsedMime parsed(raw);
    ParseOptions o;
    o.limit = kLimit;
    o.parsed = &parsed;
    const Message shared = parse_message(raw, o);
    if (shared.body_text != m.body_text || shared.decoded_body != m.decoded_body ||
        shared.mime_summary != m.mime_summary || shared.uris.size() != m.uris.size() ||
        shared.headers.size() != m.headers.size())
        __builtin_trap();
    const auto shared_leaves = mime_leaves(raw, &parsed);
    if (shared_leaves.contents != leaves.contents ||
        shared_leaves.whole_message != leaves.whole_message)
        __builtin_trap();
    return 0;
}
