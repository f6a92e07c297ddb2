// radius_packet.cpp - see radius_packet.hpp.
#include "radius_packet.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstring>
#include <memory>

namespace pampero::radius {
namespace {

std::uint16_t read16(std::string_view s, std::size_t at) {
    return static_cast<std::uint16_t>((static_cast<std::uint8_t>(s[at]) << 8) |
                                      static_cast<std::uint8_t>(s[at + 1]));
}

void put16(std::string& s, std::size_t at, std::size_t v) {
    s[at] = static_cast<char>((v >> 8) & 0xff);
    s[at + 1] = static_cast<char>(v & 0xff);
}

std::string_view bytes(const Authenticator& a) {
    return {reinterpret_cast<const char*>(a.data()), a.size()};
}

// The packet's own bytes, up to its Length field (the caller has parsed it: 20..4096 and
// not beyond the datagram).
std::optional<std::string_view> framed(std::string_view raw) {
    if (raw.size() < kHeaderSize) return std::nullopt;
    const std::size_t len = read16(raw, 2);
    if (len < kHeaderSize || len > kMaxPacketSize || len > raw.size()) return std::nullopt;
    return raw.substr(0, len);
}

}  // namespace

const Attribute* Packet::find(std::uint8_t type) const {
    for (const auto& a : attributes)
        if (a.type == type) return &a;
    return nullptr;
}

std::optional<std::uint32_t> Packet::integer(std::uint8_t type) const {
    const Attribute* a = find(type);
    if (!a || a->value.size() != 4) return std::nullopt;
    std::uint32_t v = 0;
    for (char c : a->value) v = (v << 8) | static_cast<std::uint8_t>(c);
    return v;
}

std::optional<std::string> Packet::text(std::uint8_t type) const {
    const Attribute* a = find(type);
    if (!a) return std::nullopt;
    return a->value;
}

std::optional<std::string> Packet::ipv4(std::uint8_t type) const {
    const Attribute* a = find(type);
    if (!a || a->value.size() != 4) return std::nullopt;
    char buf[INET_ADDRSTRLEN];
    if (!inet_ntop(AF_INET, a->value.data(), buf, sizeof buf)) return std::nullopt;
    return std::string(buf);
}

std::optional<std::string> Packet::ipv6(std::uint8_t type) const {
    const Attribute* a = find(type);
    if (!a || a->value.size() != 16) return std::nullopt;
    char buf[INET6_ADDRSTRLEN];
    if (!inet_ntop(AF_INET6, a->value.data(), buf, sizeof buf)) return std::nullopt;
    return std::string(buf);
}

Result<Packet> parse_packet(std::string_view d) {
    if (d.size() < kHeaderSize)
        return Error::permanent(fmt::format("datagram of {} octets, under 20", d.size()));
    const std::size_t len = read16(d, 2);
    // RFC 2865 3: Length 20..4096; a shorter datagram than its Length is discarded.
    if (len < kHeaderSize || len > kMaxPacketSize)
        return Error::permanent(fmt::format("Length field {} outside 20..4096", len));
    if (len > d.size())
        return Error::permanent(
            fmt::format("Length field {} beyond the {} octets received", len, d.size()));
    Packet p;
    p.code = static_cast<std::uint8_t>(d[0]);
    p.identifier = static_cast<std::uint8_t>(d[1]);
    std::memcpy(p.authenticator.data(), d.data() + 4, 16);
    std::size_t at = kHeaderSize;
    while (at < len) {
        if (len - at < 2)
            return Error::permanent(fmt::format("truncated attribute header at octet {}", at));
        const auto type = static_cast<std::uint8_t>(d[at]);
        const std::size_t alen = static_cast<std::uint8_t>(d[at + 1]);
        if (alen < 2)
            return Error::permanent(
                fmt::format("attribute {} at octet {} has length {} (under 2)", type, at, alen));
        if (alen > len - at)
            return Error::permanent(
                fmt::format("attribute {} at octet {} runs past the packet end", type, at));
        p.attributes.push_back({type, std::string(d.substr(at + 2, alen - 2))});
        at += alen;
    }
    return p;
}

Result<std::string> encode_packet(const Packet& p) {
    std::string out(kHeaderSize, '\0');
    out[0] = static_cast<char>(p.code);
    out[1] = static_cast<char>(p.identifier);
    std::memcpy(out.data() + 4, p.authenticator.data(), 16);
    for (const auto& a : p.attributes) {
        if (a.value.size() > 253)
            return Error::permanent(fmt::format("attribute {} value of {} octets (at most 253)",
                                                a.type, a.value.size()));
        out.push_back(static_cast<char>(a.type));
        out.push_back(static_cast<char>(a.value.size() + 2));
        out += a.value;
    }
    if (out.size() > kMaxPacketSize)
        return Error::permanent(fmt::format("packet of {} octets (at most 4096)", out.size()));
    put16(out, 2, out.size());
    return out;
}

std::optional<Authenticator> md5(std::initializer_list<std::string_view> parts) {
    // The MD5 implementation fetched once (OpenSSL 3 otherwise looks it up on every
    // EVP_DigestInit_ex), and one context per thread, reset for each digest: two digests
    // a packet are most of the codec's cost.
    static EVP_MD* const kMd5 = EVP_MD_fetch(nullptr, "MD5", nullptr);
    thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                             &EVP_MD_CTX_free);
    if (!kMd5 || !ctx || EVP_DigestInit_ex(ctx.get(), kMd5, nullptr) != 1) return std::nullopt;
    for (auto part : parts)
        if (EVP_DigestUpdate(ctx.get(), part.data(), part.size()) != 1) return std::nullopt;
    Authenticator out{};
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(ctx.get(), out.data(), &n) != 1 || n != out.size()) return std::nullopt;
    return out;
}

bool verify_accounting_request(std::string_view raw, std::string_view secret) {
    const auto pkt = framed(raw);
    if (!pkt) return false;
    static constexpr char kZeros[16] = {};
    const auto digest =
        md5({pkt->substr(0, 4), std::string_view(kZeros, 16), pkt->substr(kHeaderSize), secret});
    return digest && CRYPTO_memcmp(digest->data(), pkt->data() + 4, 16) == 0;
}

Result<std::string> build_accounting_request(Packet p, std::string_view secret) {
    p.code = kAccountingRequest;
    p.authenticator = {};
    auto raw = encode_packet(p);
    if (!raw) return raw;
    const auto digest = md5({std::string_view(*raw), secret});
    if (!digest) return Error::temporary("MD5 failed (OpenSSL)");
    std::memcpy(raw->data() + 4, digest->data(), 16);
    return raw;
}

std::string build_accounting_response(std::uint8_t identifier,
                                      const Authenticator& request_authenticator,
                                      std::string_view secret) {
    std::string out(kHeaderSize, '\0');
    out[0] = static_cast<char>(kAccountingResponse);
    out[1] = static_cast<char>(identifier);
    put16(out, 2, kHeaderSize);
    const auto digest =
        md5({std::string_view(out).substr(0, 4), bytes(request_authenticator), secret});
    // Without MD5 the answer would be refused by the NAS anyway; zeros say so in a capture.
    if (digest) std::memcpy(out.data() + 4, digest->data(), 16);
    return out;
}

bool verify_response(std::string_view raw, const Authenticator& request_authenticator,
                     std::string_view secret) {
    const auto pkt = framed(raw);
    if (!pkt) return false;
    const auto digest =
        md5({pkt->substr(0, 4), bytes(request_authenticator), pkt->substr(kHeaderSize), secret});
    return digest && CRYPTO_memcmp(digest->data(), pkt->data() + 4, 16) == 0;
}

Attribute integer_attribute(std::uint8_t type, std::uint32_t v) {
    std::string s(4, '\0');
    for (int i = 3; i >= 0; --i, v >>= 8)
        s[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
    return {type, s};
}

Attribute text_attribute(std::uint8_t type, std::string_view v) {
    return {type, std::string(v)};
}

std::optional<Attribute> ipv4_attribute(std::uint8_t type, std::string_view ip) {
    in_addr a{};
    if (inet_pton(AF_INET, std::string(ip).c_str(), &a) != 1) return std::nullopt;
    return Attribute{type, std::string(reinterpret_cast<const char*>(&a), 4)};
}

std::optional<Attribute> ipv6_attribute(std::uint8_t type, std::string_view ip) {
    in6_addr a{};
    if (inet_pton(AF_INET6, std::string(ip).c_str(), &a) != 1) return std::nullopt;
    return Attribute{type, std::string(reinterpret_cast<const char*>(&a), 16)};
}

std::string to_hex(const Authenticator& a) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(32);
    for (auto b : a) {
        out.push_back(kHex[b >> 4]);
        out.push_back(kHex[b & 15]);
    }
    return out;
}

}  // namespace pampero::radius
