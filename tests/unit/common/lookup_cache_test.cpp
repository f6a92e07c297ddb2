#include "pampero/common/lookup_cache.hpp"

#include <gtest/gtest.h>

#include <thread>

using namespace pampero;

TEST(LookupCache, ReusesAnswersIncludingNegativeOnes) {
    LookupCache<bool> cache(std::chrono::seconds(60));
    int loads = 0;
    auto load = [&]() -> Result<bool> {
        ++loads;
        return false;
    };
    EXPECT_FALSE(*cache.get("k", load));
    EXPECT_FALSE(*cache.get("k", load));
    EXPECT_EQ(loads, 1);
    (void)cache.get("other", load);
    EXPECT_EQ(loads, 2);
}

TEST(LookupCache, NeverCachesErrors) {
    LookupCache<int> cache(std::chrono::seconds(60));
    int loads = 0;
    auto failing = [&]() -> Result<int> {
        ++loads;
        return Error::temporary("down");
    };
    EXPECT_FALSE(cache.get("k", failing));
    EXPECT_FALSE(cache.get("k", failing));
    EXPECT_EQ(loads, 2);
    auto working = [&]() -> Result<int> {
        ++loads;
        return 7;
    };
    EXPECT_EQ(*cache.get("k", working), 7);
    EXPECT_EQ(*cache.get("k", failing), 7);  // now cached
}

TEST(LookupCache, ZeroTtlDisablesCaching) {
    LookupCache<int> cache(std::chrono::seconds(0));
    int loads = 0;
    auto load = [&]() -> Result<int> { return ++loads; };
    EXPECT_EQ(*cache.get("k", load), 1);
    EXPECT_EQ(*cache.get("k", load), 2);
}

TEST(LookupCache, CapacityBoundsTheMap) {
    LookupCache<int> cache(std::chrono::seconds(60), 2);
    int loads = 0;
    auto load = [&]() -> Result<int> { return ++loads; };
    (void)cache.get("a", load);
    (void)cache.get("b", load);
    (void)cache.get("c", load);  // clears, then holds c
    EXPECT_EQ(loads, 3);
    (void)cache.get("a", load);  // reloaded
    EXPECT_EQ(loads, 4);
}

// An answer is reused until its TTL has passed, then loaded again (1 s real TTL, polled
// with a bound: the steady clock is what the cache reads).
TEST(LookupCache, ExpiresAfterTtl) {
    using Clock = std::chrono::steady_clock;
    LookupCache<int> cache(std::chrono::seconds(1));
    int loads = 0;
    auto load = [&]() -> Result<int> { return ++loads; };
    const auto t0 = Clock::now();
    EXPECT_EQ(*cache.get("k", load), 1);
    const int again = *cache.get("k", load);
    if (Clock::now() - t0 < std::chrono::seconds(1)) {
        EXPECT_EQ(again, 1);
    }
    const auto deadline = t0 + std::chrono::seconds(20);
    int v = again;
    while (v == 1 && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        v = *cache.get("k", load);
    }
    EXPECT_EQ(v, 2);
    EXPECT_GE(Clock::now() - t0, std::chrono::seconds(1));
    // The reloaded answer is cached afresh.
    if (Clock::now() - t0 < std::chrono::milliseconds(1900)) {
        EXPECT_EQ(*cache.get("k", load), 2);
    }
}
