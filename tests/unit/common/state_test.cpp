// The state contract (state.hpp): every backend must pass the StateContract tests, run
// here on memory and on a private redis-server (test_redis.hpp; a missing redis-server
// fails them). MemoryState tests cover what only the memory backend has (its bounds).
#include "pampero/common/state.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>

#include "test_redis.hpp"

using namespace pampero;
using namespace std::chrono_literals;

namespace {
struct FakeClock {
    std::chrono::steady_clock::time_point now{};
    StateClock fn() {
        return [this] { return now; };
    }
};

// A backend under test, with a way to let time pass that the backend believes.
class Backend {
  public:
    virtual ~Backend() = default;
    virtual State& state() = 0;
    virtual void advance(std::chrono::milliseconds d) = 0;
    virtual MemoryState* memory() { return nullptr; }
};

class MemoryBackend final : public Backend {
  public:
    State& state() override { return *state_; }
    void advance(std::chrono::milliseconds d) override { clock_.now += d; }
    MemoryState* memory() override { return state_.get(); }

  private:
    FakeClock clock_;
    std::unique_ptr<MemoryState> state_ = make_memory_state(clock_.fn());
};

// Redis keeps its own clock: advance() moves every expiry nearer instead (TestRedis).
class RedisBackend final : public Backend {
  public:
    RedisBackend() {
        auto s = open_state(redis_.url());
        if (!s) throw std::runtime_error(s.error().message);
        state_ = std::move(s).value();
    }
    State& state() override { return *state_; }
    void advance(std::chrono::milliseconds d) override { redis_.advance(d.count()); }

  private:
    pampero::testing::TestRedis redis_;
    std::unique_ptr<State> state_;
};

class StateContract : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        signal(SIGPIPE, SIG_IGN);  // as the daemons do (redis_state.hpp)
        if (GetParam() == "memory") {
            backend_ = std::make_unique<MemoryBackend>();
        } else {
            backend_ = std::make_unique<RedisBackend>();  // throws (fails) without redis-server
        }
        s = &backend_->state();
    }
    void advance(std::chrono::milliseconds d) { backend_->advance(d); }
    std::unique_ptr<Backend> backend_;
    State* s = nullptr;
};

}  // namespace

INSTANTIATE_TEST_SUITE_P(Backends, StateContract, ::testing::Values("memory", "redis"),
                         [](const auto& info) { return info.param; });

TEST_P(StateContract, IncrementCountsWithinAFixedWindow) {
    EXPECT_EQ(*s->increment("k", 10s), 1);
    advance(5s);
    EXPECT_EQ(*s->increment("k", 10s), 2);  // the window does not slide
    advance(5s);
    EXPECT_EQ(*s->increment("k", 10s), 1);  // expired at 10 s: a new window
}

TEST_P(StateContract, PutGetExpireRemove) {
    EXPECT_FALSE(s->get("ban")->has_value());
    ASSERT_TRUE(s->put("ban", "x", 3s));
    EXPECT_EQ(s->get("ban")->value(), "x");
    advance(2s);
    EXPECT_TRUE(s->get("ban")->has_value());
    advance(1s);
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

// Regression (issue 8): expired keys were swept only every 4096 writes, and a get() of an
// unknown key (every ban check of a new client) inserted an empty entry that no sweep
// before the next 4096th write removed.
TEST(MemoryState, ExpiredKeysGoWithoutWaitingFor4096Writes) {
    FakeClock clock;
    auto s = make_memory_state(clock.fn());
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(s->put("ban:" + std::to_string(i), "1", 1s));
    EXPECT_EQ(s->size(), 1000u);
    clock.now += 2s;
    for (int i = 0; i < 100; ++i) ASSERT_FALSE(s->get("ban:new" + std::to_string(i))->has_value());
    EXPECT_EQ(s->size(), 0u);  // 100 reads swept 1000 expired keys, and stored nothing
}

// Regression (issue 8): a flood of fresh client IPs grew the map without bound.
// Counters are bounded and evicted among themselves: the flood never lifts a ban.
TEST(MemoryState, AFloodOfCountersStaysBoundedAndNeverEvictsValues) {
    FakeClock clock;
    auto s = make_memory_state(clock.fn(), 1000);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(s->put("ban:" + std::to_string(i), "5", 3600s));
    for (int i = 0; i < 100000; ++i) {
        ASSERT_EQ(*s->increment("unk:" + std::to_string(i), 600s), 1);
        if (i % 1000 == 0) clock.now += 1s;  // the flood spreads over time: oldest go first
    }
    EXPECT_LE(s->size(), 1010u);
    for (int i = 0; i < 10; ++i) EXPECT_TRUE(s->get("ban:" + std::to_string(i))->has_value()) << i;
    EXPECT_TRUE(s->get("unk:99999")->has_value());  // the newest counters are kept
    EXPECT_FALSE(s->get("unk:0")->has_value());     // the oldest went first
}

TEST(MemoryState, FullValuesEvictTheOneNearestItsExpiry) {
    FakeClock clock;
    auto s = make_memory_state(clock.fn(), 3);
    ASSERT_TRUE(s->put("a", "1", 10s));
    ASSERT_TRUE(s->put("b", "1", 30s));
    ASSERT_TRUE(s->put("c", "1", 20s));
    ASSERT_TRUE(s->put("b", "2", 40s));  // an update takes no new room
    EXPECT_TRUE(s->get("a")->has_value());
    ASSERT_TRUE(s->put("d", "1", 50s));
    EXPECT_FALSE(s->get("a")->has_value());
    EXPECT_EQ(s->get("b")->value(), "2");
    EXPECT_TRUE(s->get("c")->has_value());
    EXPECT_TRUE(s->get("d")->has_value());
    EXPECT_EQ(s->size(), 3u);
}

TEST_P(StateContract, CountersAndValuesShareOneKeySpaceAsInRedis) {
    EXPECT_EQ(*s->increment("k", 10s), 1);
    EXPECT_EQ(s->get("k")->value(), "1");
    ASSERT_TRUE(s->put("k", "7", 100s));  // SET replaces the counter
    EXPECT_EQ(*s->increment("k", 10s), 8);
    advance(50s);
    EXPECT_EQ(s->get("k")->value(), "8");  // INCR kept the value's TTL
    ASSERT_TRUE(s->put("t", "text", 10s));
    auto bad = s->increment("t", 10s);  // INCR of a non-number is an error, not a throw
    ASSERT_FALSE(bad);
    ASSERT_TRUE(s->remove("k"));
    EXPECT_FALSE(s->get("k")->has_value());
}

TEST_P(StateContract, SetMembersExpireOneByOne) {
    EXPECT_TRUE(s->set_members("nas")->empty());
    ASSERT_TRUE(s->set_add("nas", "a", 10s));
    ASSERT_TRUE(s->set_add("nas", "b", 20s));
    ASSERT_TRUE(s->set_add("other", "a", 20s));
    EXPECT_EQ(s->set_members("nas")->size(), 2u);
    advance(10s);
    EXPECT_EQ(*s->set_members("nas"), std::vector<std::string>{"b"});
    ASSERT_TRUE(s->set_add("nas", "b", 30s));  // re-adding moves the expiry
    advance(15s);
    EXPECT_EQ(*s->set_members("nas"), std::vector<std::string>{"b"});
    EXPECT_TRUE(s->set_members("other")->empty());
    ASSERT_TRUE(s->set_remove("nas", "b"));
    EXPECT_TRUE(s->set_members("nas")->empty());
    if (auto* m = backend_->memory()) {
        EXPECT_EQ(m->size(), 0u);
    }
}

TEST_P(StateContract, SetsAndKeysAreApart) {
    ASSERT_TRUE(s->set_add("nas:1", "10.0.0.1", 60s));
    ASSERT_TRUE(s->put("ip:10.0.0.1", "alice", 60s));
    EXPECT_EQ(*s->set_members("nas:1"), std::vector<std::string>{"10.0.0.1"});
    EXPECT_EQ(s->get("ip:10.0.0.1")->value(), "alice");
    ASSERT_TRUE(s->set_remove("nas:1", "absent"));  // removing what is not there is fine
    ASSERT_TRUE(s->set_remove("none", "x"));
    ASSERT_TRUE(s->remove("none"));
}

TEST(MemoryState, FullSetsEvictTheMemberNearestItsExpiry) {
    FakeClock clock;
    auto s = make_memory_state(clock.fn(), 3);
    ASSERT_TRUE(s->set_add("a", "1", 100s));
    ASSERT_TRUE(s->set_add("a", "2", 50s));
    ASSERT_TRUE(s->set_add("b", "x", 10s));
    ASSERT_TRUE(s->set_add("a", "2", 60s));   // refreshing a member takes no room
    ASSERT_TRUE(s->set_add("a", "3", 100s));  // full: "x" (10 s) goes
    auto a = *s->set_members("a");
    std::sort(a.begin(), a.end());
    EXPECT_EQ(a, (std::vector<std::string>{"1", "2", "3"}));
    EXPECT_TRUE(s->set_members("b")->empty());
    ASSERT_TRUE(s->set_add("c", "y", 100s));  // then "2" (60 s)
    a = *s->set_members("a");
    std::sort(a.begin(), a.end());
    EXPECT_EQ(a, (std::vector<std::string>{"1", "3"}));
    EXPECT_EQ(*s->set_members("c"), std::vector<std::string>{"y"});
    EXPECT_EQ(s->size(), 3u);
}

// Issue 10: the admin's view needs the seconds a counter or ban has left (Redis TTL).
TEST_P(StateContract, TtlOfCountersAndValuesRoundsUp) {
    EXPECT_FALSE(s->ttl("none")->has_value());
    ASSERT_TRUE(s->increment("c", 3600s));
    ASSERT_TRUE(s->put("v", "x", 600s));
    advance(100s);
    EXPECT_EQ(s->ttl("c")->value(), 3500s);
    EXPECT_EQ(s->ttl("v")->value(), 500s);
    advance(499s + 800ms);
    EXPECT_EQ(s->ttl("v")->value(), 1s);  // 0.2 s left: still there, so 1 s
    advance(200ms);
    EXPECT_FALSE(s->ttl("v")->has_value());
}
