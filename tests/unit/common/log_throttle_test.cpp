// LogThrottle (log_throttle.hpp): one line per period at most, every occurrence counted
// in some line, the last burst reported by flush().
#include "pampero/common/log_throttle.hpp"

#include <gtest/gtest.h>

using pampero::LogThrottle;
using namespace std::chrono_literals;

namespace {

TEST(LogThrottle, FirstOccurrenceIsReportedAtOnce) {
    LogThrottle t;
    const auto t0 = LogThrottle::Clock::time_point{} + 100s;
    EXPECT_EQ(t.event(t0), 1u);
    EXPECT_EQ(t.pending(), 0u);
}

TEST(LogThrottle, AFloodGivesOneLineAPeriodWithItsCount) {
    LogThrottle t;
    const auto t0 = LogThrottle::Clock::time_point{} + 100s;
    std::uint64_t reported = 0;
    int lines = 0;
    // 10,000 occurrences over 2.5 s.
    for (int i = 0; i < 10000; ++i) {
        if (auto n = t.event(t0 + std::chrono::microseconds(i * 250))) {
            reported += *n;
            ++lines;
        }
    }
    EXPECT_EQ(lines, 3);                 // at 0 s, 1 s, 2 s
    EXPECT_FALSE(t.flush(t0 + 2600ms));  // not a period since the last line yet
    auto rest = t.flush(t0 + 3s);
    ASSERT_TRUE(rest);
    EXPECT_EQ(reported + *rest, 10000u);
    EXPECT_FALSE(t.flush(t0 + 10s));  // nothing left
}

TEST(LogThrottle, DueIsOnePeriodAfterTheLastLine) {
    LogThrottle t(2s);
    const auto t0 = LogThrottle::Clock::time_point{} + 100s;
    ASSERT_TRUE(t.event(t0));
    EXPECT_FALSE(t.event(t0 + 1s));
    EXPECT_EQ(t.due(), t0 + 2s);
    EXPECT_EQ(t.pending(), 1u);
    EXPECT_EQ(t.flush(t.due()), 1u);
}

}  // namespace
