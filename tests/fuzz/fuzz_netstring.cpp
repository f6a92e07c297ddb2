// libFuzzer target: the socketmap's netstring framing and pampero-store's maildirsize
// parser on arbitrary bytes. Every netstring decoded from the input must re-encode to the
// bytes it came from; decoding walks the whole input as a pipelined stream would.
// clang-format off
// fuzz-sources: store-agent/netstring.cpp store-agent/quota.cpp store-agent/maildir.cpp common/src/result.cpp
// fuzz-libs: fmt
// clang-format on
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "../../store-agent/netstring.hpp"
#include "../../store-agent/quota.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace pampero::store;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    (void)parse_maildirsize(in);
    for (int i = 0; i < 1000 && !in.empty(); ++i) {
        const auto d = decode_netstring(in, 1024);
        if (d.status != NetstringDecode::Status::ok) break;
        if (d.value.size() > 1024 || d.consumed > in.size()) std::abort();
        if (encode_netstring(d.value) != in.substr(0, d.consumed)) std::abort();
        in.remove_prefix(d.consumed);
    }
    return 0;
}
