// libFuzzer target: the whole message path (GMime parse, charsets, HTML to text, URI
// extraction and reduction) on arbitrary bytes. Must never crash, hang or leak.
// fuzz-sources: scanners/src/message.cpp scanners/src/uri.cpp scanners/src/html.cpp
// fuzz-libs: gmime-3.0 libpsl libidn2
// fuzz-seeds: tests/data/messages
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pampero/scan/message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view raw(reinterpret_cast<const char*>(data), size);
    auto m = pampero::scan::parse_message(raw, 256 * 1024);
    // Touch the derived views so their code runs too.
    (void)m.uri_domains();
    (void)m.uri_surbl_domains();
    (void)m.uri_ips();
    (void)m.received_ips();
    return 0;
}
