// libFuzzer target: the Postfix policy request decoder (policyd/policy_codec.hpp) on
// arbitrary bytes, fed whole and then split at a point the input chooses: both must give
// the same requests, every request within the documented bounds, and every reply one line.
// clang-format off
// fuzz-sources: policyd/policy_codec.cpp
// fuzz-libs: fmt
// clang-format on
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "../../policyd/policy_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace pampero::policyd;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    std::vector<PolicyRequest> whole;
    PolicyDecoder a;
    a.feed(in, whole);
    std::vector<PolicyRequest> split;
    PolicyDecoder b;
    const std::size_t cut = size == 0 ? 0 : data[0] % size;
    b.feed(in.substr(0, cut), split);
    b.feed(in.substr(cut), split);
    if (whole.size() != split.size()) std::abort();
    for (std::size_t i = 0; i < whole.size(); ++i) {
        if (whole[i].error != split[i].error || whole[i].attributes != split[i].attributes)
            std::abort();
        if (whole[i].attributes.size() > kMaxAttributes) std::abort();
        for (const auto& [n, v] : whole[i].attributes) {
            if (n.size() > kMaxName || n.size() + 1 + v.size() > kMaxLine) std::abort();
        }
        const std::string reply = encode_reply(malformed_action(whole[i].error));
        if (reply.find('\n') != reply.size() - 2) std::abort();
    }
    return 0;
}
