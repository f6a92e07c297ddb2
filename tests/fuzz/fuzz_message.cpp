// libFuzzer target: the whole message path (GMime parse, charsets, HTML to text, URI
// extraction and reduction), and the parts the virus scanner is handed (mime_leaves), on
// arbitrary bytes. Must never crash, hang or leak.
// clang-format off
// fuzz-sources: scanners/src/message.cpp scanners/src/uri.cpp scanners/src/html.cpp
// fuzz-sources: scanners/src/mime_leaves.cpp
// fuzz-libs: gmime-3.0 libpsl libidn2
// fuzz-seeds: tests/data/messages
// clang-format on
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "../../scanners/src/mime_leaves.hpp"
#include "pampero/scan/message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view raw(reinterpret_cast<const char*>(data), size);
    auto m = pampero::scan::parse_message(raw, 256 * 1024);
    // Touch the derived views so their code runs too.
    (void)m.uri_domains();
    (void)m.uri_surbl_domains();
    (void)m.uri_ips();
    (void)m.received_ips();
    const auto leaves = pampero::scan::mime_leaves(raw);
    std::size_t bytes = 0;
    for (const auto& c : leaves.contents) bytes += c.size();
    if (bytes > 4 * raw.size() + 4096) __builtin_trap();  // decoding never grows a part that much
    return 0;
}
