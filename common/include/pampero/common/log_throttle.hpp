// log_throttle.hpp - at most one log line per period about an event that may repeat
// thousands of times a second (connections refused over the cap, accept() out of
// descriptors), each line saying how many happened since the previous one. A flood
// then costs one line a second, not one per attempt, and the count is not lost.
//
// Use: call event() for each occurrence; when it returns a count, log that line now.
// When it returns nullopt the occurrence is counted for a later line: call flush() once
// the period is over (a timer), so the last burst is reported even if nothing follows it.
//
// Pure (the caller passes the time); not thread-safe: one thread uses it (the accepting
// loop's).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace pampero {

class LogThrottle {
  public:
    using Clock = std::chrono::steady_clock;

    explicit LogThrottle(Clock::duration period = std::chrono::seconds(1)) : period_(period) {}

    // One occurrence at `now`. A count (this one included) when a line is due: the first
    // occurrence, or the first one a period or more after the last line.
    std::optional<std::uint64_t> event(Clock::time_point now) {
        ++pending_;
        return flush(now);
    }

    // The occurrences not reported yet, when there are some and the period since the last
    // line is over; nullopt otherwise.
    std::optional<std::uint64_t> flush(Clock::time_point now) {
        if (pending_ == 0 || (logged_ && now - last_ < period_)) return std::nullopt;
        const std::uint64_t n = pending_;
        pending_ = 0;
        last_ = now;
        logged_ = true;
        return n;
    }

    // Occurrences counted and not reported yet.
    std::uint64_t pending() const { return pending_; }
    // When flush() can next report them.
    Clock::time_point due() const { return last_ + period_; }

  private:
    Clock::duration period_;
    Clock::time_point last_{};
    bool logged_ = false;
    std::uint64_t pending_ = 0;
};

}  // namespace pampero
