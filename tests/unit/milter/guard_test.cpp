#include "guard.hpp"

#include <gtest/gtest.h>

using namespace pampero;
using namespace pampero::milter;

namespace {
struct Clock {
    std::chrono::steady_clock::time_point now{};
};
}  // namespace

TEST(Guard, BansAtTheLimitWithinTheWindow) {
    Clock c;
    auto state = make_memory_state([&] { return c.now; });
    Guard g(*state, GuardConfig{3, 60, 600});
    EXPECT_FALSE(*g.is_banned("192.0.2.1"));
    EXPECT_FALSE(*g.count_unknown("192.0.2.1"));
    EXPECT_FALSE(*g.count_unknown("192.0.2.1"));
    EXPECT_TRUE(*g.count_unknown("192.0.2.1"));  // the third crosses the limit
    EXPECT_TRUE(*g.is_banned("192.0.2.1"));
    EXPECT_FALSE(*g.is_banned("192.0.2.2"));
    c.now += std::chrono::seconds(599);
    EXPECT_TRUE(*g.is_banned("192.0.2.1"));
    c.now += std::chrono::seconds(1);
    EXPECT_FALSE(*g.is_banned("192.0.2.1"));  // the ban expires
}

TEST(Guard, SlowGuessesOutsideTheWindowAreNotBanned) {
    Clock c;
    auto state = make_memory_state([&] { return c.now; });
    Guard g(*state, GuardConfig{3, 60, 600});
    for (int i = 0; i < 10; ++i) {
        EXPECT_FALSE(*g.count_unknown("192.0.2.9"));
        EXPECT_FALSE(*g.count_unknown("192.0.2.9"));
        c.now += std::chrono::seconds(61);
    }
    EXPECT_FALSE(*g.is_banned("192.0.2.9"));
}
