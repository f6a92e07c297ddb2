#include "pampero/common/lookup_cache.hpp"

#include <gtest/gtest.h>

using namespace pampero;

TEST(LookupCache, ReusesAnswersIncludingNegativeOnes) {
    LookupCache<bool> cache(std::chrono::seconds(60));
    int loads = 0;
    auto load = [&]() -> Result<bool> { ++loads; return false; };
    EXPECT_FALSE(*cache.get("k", load));
    EXPECT_FALSE(*cache.get("k", load));
    EXPECT_EQ(loads, 1);
    (void)cache.get("other", load);
    EXPECT_EQ(loads, 2);
}

TEST(LookupCache, NeverCachesErrors) {
    LookupCache<int> cache(std::chrono::seconds(60));
    int loads = 0;
    auto failing = [&]() -> Result<int> { ++loads; return Error::temporary("down"); };
    EXPECT_FALSE(cache.get("k", failing));
    EXPECT_FALSE(cache.get("k", failing));
    EXPECT_EQ(loads, 2);
    auto working = [&]() -> Result<int> { ++loads; return 7; };
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
