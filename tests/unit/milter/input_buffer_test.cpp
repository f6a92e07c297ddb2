// The milter connection's input buffer (input_buffer.hpp): memory follows the octets
// received, never a declared length; it is given back after a large packet; contents
// survive every move and growth, across the heap/mmap boundary.
#include "input_buffer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>

using pampero::milter::InputBuffer;

namespace {

constexpr std::size_t kInitial = 4 * 1024;
constexpr std::size_t kMinRead = 1024;
constexpr std::size_t kKeep = 128 * 1024;
constexpr std::size_t kMax = 1024 * 1024 + 4 + 1024;

InputBuffer make() {
    return InputBuffer(kInitial, kMinRead, kKeep, kMax);
}

// What a read of `bytes` does: as much as prepare() offers, as many times as it takes.
void receive(InputBuffer& b, const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        const auto room = b.prepare();
        ASSERT_GT(room.size(), 0u);
        const std::size_t n = std::min(room.size(), bytes.size() - done);
        std::memcpy(room.data(), bytes.data() + done, n);
        b.commit(n);
        done += n;
    }
}

std::string pattern(std::size_t n, std::size_t seed = 0) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed) % 251);
    return s;
}

TEST(InputBuffer, ADeclaredLengthAloneCostsNothing) {
    auto b = make();
    // A length field announcing a 1 MiB packet, and a few octets of it.
    receive(b, std::string("\x00\x10\x00\x00", 4) + "Babc");
    b.prepare();
    EXPECT_EQ(b.capacity(), kInitial);
    EXPECT_EQ(b.data().size(), 8u);
}

TEST(InputBuffer, GrowsWithTheOctetsReceivedAndKeepsThem) {
    auto b = make();
    const std::string all = pattern(kMax - kMinRead);
    std::size_t held = 0;
    for (std::size_t step : {1u, 100u, 4096u, 5000u, 65536u, 300000u}) {
        const std::size_t n = std::min<std::size_t>(step, all.size() - held);
        receive(b, all.substr(held, n));
        held += n;
        // Below twice what is held plus one read, whatever was announced.
        EXPECT_LE(b.capacity(), std::max(kInitial, 2 * (held + kMinRead))) << held;
        ASSERT_EQ(b.data(), std::string_view(all).substr(0, held));
    }
    receive(b, all.substr(held));
    EXPECT_EQ(b.data(), all);
    EXPECT_LE(b.capacity(), kMax + 4096);     // page-rounded
    EXPECT_GE(b.prepare().size(), kMinRead);  // room for a read even at the bound
}

TEST(InputBuffer, ALargePacketIsGivenBackOnceHandled) {
    auto b = make();
    receive(b, pattern(600 * 1024));
    EXPECT_GE(b.capacity(), 600u * 1024);
    b.consume(600 * 1024);
    EXPECT_TRUE(b.empty());
    b.prepare();
    EXPECT_EQ(b.capacity(), kInitial);
}

TEST(InputBuffer, ABodyChunkSizedBufferIsKeptBetweenPackets) {
    auto b = make();
    receive(b, pattern(65540));  // one Postfix body chunk and its header
    const std::size_t grown = b.capacity();
    EXPECT_LE(grown, kKeep);
    b.consume(65540);
    b.prepare();
    EXPECT_EQ(b.capacity(), grown);  // no reallocation for the next message
}

TEST(InputBuffer, HeldOctetsMoveToTheFrontAndSurviveGrowth) {
    auto b = make();
    const std::string first = pattern(3000, 1);
    receive(b, first);
    b.consume(2990);  // ten octets of the next packet left
    const std::string next = pattern(200000, 2);
    receive(b, next);
    EXPECT_EQ(b.data(), first.substr(2990) + next);
    b.consume(5);
    EXPECT_EQ(b.data(), first.substr(2995) + next);
}

TEST(InputBuffer, ShrinksFromTheMappedSizesBackToTheHeapAndGrowsAgain) {
    auto b = make();
    for (int round = 0; round < 3; ++round) {
        const std::string big = pattern(300 * 1024, round);
        receive(b, big);
        ASSERT_EQ(b.data(), big);
        b.consume(big.size());
        b.prepare();
        ASSERT_EQ(b.capacity(), kInitial);
        receive(b, "small");
        ASSERT_EQ(b.data(), "small");
        b.consume(5);
    }
}

}  // namespace
