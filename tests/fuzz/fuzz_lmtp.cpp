// libFuzzer target: pampero-store's LMTP codec on arbitrary bytes. The input is split into
// lines fed to parse_command() and parse_reply_line(), and the whole input is fed to the
// DATA decoder in chunks whose sizes come from the first byte; a decoded message is
// re-encoded and decoded again and must come back the same (the forwarding path).
// fuzz-sources: store-agent/lmtp_codec.cpp
// fuzz-libs: fmt
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../../store-agent/lmtp_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace pampero::store::lmtp;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    std::size_t pos = 0;
    while (pos < in.size()) {
        const auto nl = in.find('\n', pos);
        const std::string_view line = in.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
        pos = nl == std::string_view::npos ? in.size() : nl + 1;
        const Parsed p = parse_command(line);
        if (p.command.has_value() == p.error.has_value()) std::abort();
        if (p.command && p.command->path.size() > kMaxPath) std::abort();
        (void)parse_reply_line(line);
    }
    if (size == 0) return 0;
    const std::size_t chunk = 1 + data[0] % 64;
    DataDecoder d(4096);
    for (std::size_t off = 1; off < size && !d.done(); off += chunk) {
        const std::size_t used = d.feed(in.substr(off, chunk));
        if (used > chunk) std::abort();
    }
    if (d.message().size() > 4096) std::abort();
    if (d.done() && !d.overflow()) {
        std::string m = d.message();
        DataDecoder again(1 << 20);
        const std::string wire = encode_data(m);
        if (again.feed(wire) != wire.size() || !again.done()) std::abort();
        if (!m.empty() && m.back() != '\n') m.push_back('\n');
        if (again.message() != m) std::abort();
    }
    return 0;
}
