// libFuzzer target: rbldnsd zone parsing (ip4set, ip4tset, dnset) and lookups on arbitrary
// bytes. The first byte picks the format; the rest is the zone text. A zone that parses is
// then looked up with addresses and names taken from the input, and every answer's TXT is
// expanded, so the lookup structures and the template code see what the parser built.
// fuzz-sources: scanners/lists/src/zone.cpp scanners/lists/src/zone_answers.cpp
// fuzz-sources: scanners/lists/src/zone_ip_table.cpp scanners/lists/src/zone_name_table.cpp
// fuzz-sources: scanners/lists/src/zone_text_parser.cpp
// fuzz-sources: common/src/strings.cpp
// fuzz-libs: libcares
// fuzz-seeds: tests/data/blocklists/fuzz-seeds
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "pampero/lists/zone.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace pampero;
    using namespace pampero::scan;
    if (size < 1) return 0;
    const ZoneFormat formats[] = {ZoneFormat::ip4set, ZoneFormat::ip4tset, ZoneFormat::dnset};
    const ZoneFormat f = formats[data[0] % 3];
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    auto z = Zone::parse(text, f, "fuzz");
    if (!z.ok()) return 0;
    const Zone& zone = *z.value();
    auto visit = [&](const ZoneMatch& m, std::string_view subject) {
        for (auto id : m.answers) {
            (void)zone.answer_a(id);
            (void)zone.answer_txt(id, subject);
        }
    };
    // Addresses: every 4-byte window of the input, and the edges of the space.
    for (std::size_t i = 0; i + 4 <= text.size() && i < 256; ++i) {
        std::uint32_t ip;
        std::memcpy(&ip, text.data() + i, 4);
        visit(zone.lookup_ip(ip), "1.2.3.4");
    }
    visit(zone.lookup_ip(0), "0.0.0.0");
    visit(zone.lookup_ip(0xffffffffu), "255.255.255.255");
    // Names: every line of the input, as it is and without its first character.
    std::size_t pos = 0;
    for (int n = 0; pos < text.size() && n < 64; ++n) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view line = text.substr(pos, nl - pos);
        visit(zone.lookup_name(line), line);
        if (!line.empty()) visit(zone.lookup_name(line.substr(1)), line);
        if (auto ip = parse_ipv4_peer(line)) visit(zone.lookup_ip(*ip), line);
        pos = nl + 1;
    }
    return 0;
}
