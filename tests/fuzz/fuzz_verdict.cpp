// libFuzzer target: the signed verdict as pampero-store reads it from a message anyone
// may send over LMTP (header section, X-Spam-Signature tags, body hash), and key files.
// A valid outcome must carry a score; nothing may crash or read out of bounds.
// fuzz-sources: scanners/verdict/src/verdict_signature.cpp common/src/result.cpp
// fuzz-sources: common/src/strings.cpp
// fuzz-libs: fmt libcrypto
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "pampero/verdict/verdict_signature.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace pampero::scan;
    static const VerdictKeys keys = [] {
        auto k = VerdictKeys::parse("k1 " + std::string(64, 'a') + "\nk2 " + std::string(44, 'Q'),
                                    "fuzz");
        if (!k) std::abort();
        return std::move(k).value();
    }();
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const auto c = verify_message_verdict(&keys, in, 1'800'000'000, 7 * 86400);
    if ((c.outcome == VerdictCheck::Outcome::valid) != c.score.has_value()) std::abort();
    (void)verify_message_verdict(nullptr, in, 0, 0);
    (void)VerdictKeys::parse(in, "fuzz");
    return 0;
}
