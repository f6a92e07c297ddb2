// libFuzzer target: URI normalization and text/HTML link extraction on arbitrary bytes.
// fuzz-sources: scanners/mime/src/uri.cpp scanners/mime/src/html.cpp
// fuzz-sources: common/src/strings.cpp
// fuzz-libs: libpsl libidn2
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pampero/mime/html.hpp"
#include "pampero/mime/uri.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace pampero::scan;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    static auto reducer = DomainReducer::system_default();
    if (auto u = normalize_uri(in, UriSource::href)) reducer->reduce(*u);
    for (auto link : find_text_uris(in)) {
        if (auto u = normalize_uri(link, UriSource::text)) reducer->reduce(*u);
    }
    auto h = html_to_text(in);
    for (const auto& l : h.links) (void)normalize_uri(l.value, l.source);
    (void)decode_html_entities(in);
    (void)parse_ipv4_host(in);
    return 0;
}
