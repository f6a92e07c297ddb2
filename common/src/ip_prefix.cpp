#include "pampero/common/ip_prefix.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace pampero {
namespace {

// Clears every bit of the `len`-byte address after the first `bits`.
void mask(unsigned char* a, int len, int bits) {
    for (int i = 0; i < len; ++i) {
        const int keep = std::clamp(bits - 8 * i, 0, 8);
        a[i] &= static_cast<unsigned char>(0xff00u >> keep);
    }
}

std::string with_length(const char* text, int bits, int full) {
    return bits == full ? std::string(text) : std::string(text) + "/" + std::to_string(bits);
}

}  // namespace

std::string client_prefix(std::string_view ip, int v4_bits, int v6_bits) {
    v4_bits = std::clamp(v4_bits, 0, 32);
    v6_bits = std::clamp(v6_bits, 0, 128);
    if (ip.empty() || ip.size() >= INET6_ADDRSTRLEN) return std::string(ip);
    const std::string text(ip);
    char out[INET6_ADDRSTRLEN] = {};
    unsigned char a4[4];
    unsigned char a6[16];
    if (inet_pton(AF_INET, text.c_str(), a4) != 1) {
        if (inet_pton(AF_INET6, text.c_str(), a6) != 1) return text;
        static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(a6, kMapped, sizeof kMapped) != 0) {
            mask(a6, 16, v6_bits);
            inet_ntop(AF_INET6, a6, out, sizeof out);
            return with_length(out, v6_bits, 128);
        }
        std::memcpy(a4, a6 + 12, 4);
    }
    mask(a4, 4, v4_bits);
    inet_ntop(AF_INET, a4, out, sizeof out);
    return with_length(out, v4_bits, 32);
}

}  // namespace pampero
