#include "pampero/common/state.hpp"

#include <gtest/gtest.h>

using namespace pampero;
using namespace std::chrono_literals;

namespace {
struct FakeClock {
    std::chrono::steady_clock::time_point now{};
    StateClock fn() {
        return [this] { return now; };
    }
};
}  // namespace

TEST(MemoryState, IncrementCountsWithinAFixedWindow) {
    FakeClock clock;
    auto s = make_memory_state(clock.fn());
    EXPECT_EQ(*s->increment("k", 10s), 1);
    clock.now += 5s;
    EXPECT_EQ(*s->increment("k", 10s), 2);  // the window does not slide
    clock.now += 5s;
    EXPECT_EQ(*s->increment("k", 10s), 1);  // expired at 10 s: a new window
}

TEST(MemoryState, PutGetExpireRemove) {
    FakeClock clock;
    auto s = make_memory_state(clock.fn());
    EXPECT_FALSE(s->get("ban")->has_value());
    ASSERT_TRUE(s->put("ban", "x", 3s));
    EXPECT_EQ(s->get("ban")->value(), "x");
    clock.now += 2s;
    EXPECT_TRUE(s->get("ban")->has_value());
    clock.now += 1s;
    EXPECT_FALSE(s->get("ban")->has_value());
    ASSERT_TRUE(s->put("ban", "y", 3s));
    ASSERT_TRUE(s->remove("ban"));
    EXPECT_FALSE(s->get("ban")->has_value());
}

TEST(MemoryState, UnknownBackendIsAConfigError) {
    auto s = open_state("cassandra");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().kind, ErrorKind::config);
    EXPECT_TRUE(open_state("memory"));
}
