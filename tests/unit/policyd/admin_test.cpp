// The policy questions of pampero-policyd's admin socket (issue 10): ban list, ban del,
// ratelimit show.
#include "admin.hpp"

#include <gtest/gtest.h>

#include "pampero/policy/guard.hpp"
#include "pampero/policy/rate_limit.hpp"

using namespace pampero;
using namespace pampero::policyd;
using namespace std::chrono_literals;

namespace {
// A new guessed address at every call: each count_unknown() below is a distinct guess.
std::string guess() {
    static int n = 0;
    return "guess" + std::to_string(++n) + "@example.org";
}

struct AdminAnswers : ::testing::Test {
    std::chrono::steady_clock::time_point now{};
    std::unique_ptr<MemoryState> state = make_memory_state([this] { return now; });
    GuardConfig guard{2, 60, 600};
    RateLimitConfig limits{5, 20, 10};
    Directory* directory = nullptr;

    std::string ask(std::string_view q) {
        auto a = answer_policy_admin(*state, directory, guard, limits, q);
        return a ? *a : "(not mine)";
    }
};

}  // namespace

TEST_F(AdminAnswers, BanListShowsEachBanWithItsCountAndTimeLeft) {
    EXPECT_EQ(ask("ban list"), "ok 0\n");
    policy::Guard g(*state, guard);
    (void)g.count_unknown("192.0.2.1", guess());
    ASSERT_TRUE(*g.count_unknown("192.0.2.1", guess()));
    now += 10s;
    EXPECT_EQ(ask("ban list"), "ok 1\n192.0.2.1\t2\t590\n");
    EXPECT_EQ(ask("ban list\r"), "ok 1\n192.0.2.1\t2\t590\n");
}

TEST_F(AdminAnswers, BanDelLiftsTheBanAndSaysWhetherThereWasOne) {
    policy::Guard g(*state, guard);
    (void)g.count_unknown("2001:db8::5", guess());
    ASSERT_TRUE(*g.count_unknown("2001:db8::6", guess()));
    EXPECT_EQ(ask("ban del 2001:db8::7"), "ok 1\n2001:db8::/64\t1\n");
    EXPECT_FALSE(*g.is_banned("2001:db8::5"));
    EXPECT_EQ(ask("ban list"), "ok 0\n");
    EXPECT_EQ(ask("ban del 2001:db8::7"), "ok 1\n2001:db8::/64\t0\n");
    EXPECT_EQ(ask("ban del nonsense").substr(0, 16), "error permanent ");
    EXPECT_EQ(ask("ban del 192.0.2.1\t1").substr(0, 16), "error permanent ");
}

TEST_F(AdminAnswers, RatelimitShowFollowsTheCounters) {
    EXPECT_EQ(ask("ratelimit show alice@example.org"),
              "ok 4\n"
              "user:alice@example.org\tmessages_per_hour\t0\t5\t0\n"
              "user:alice@example.org\trecipients_per_hour\t0\t20\t0\n"
              "sub:alice@example.org\tmessages_per_hour\t0\t5\t0\n"
              "sub:alice@example.org\trecipients_per_hour\t0\t20\t0\n");
    policy::RateLimiter rl(*state, limits);
    const std::vector<std::string> ids{"user:alice@example.org", "ip:192.0.2.0/24"};
    ASSERT_TRUE(rl.recipient(ids, "A1"));
    ASSERT_TRUE(rl.recipient(ids, "A1"));
    ASSERT_TRUE(rl.message(ids));
    now += 60s;
    EXPECT_EQ(ask("ratelimit show alice@example.org"),
              "ok 4\n"
              "user:alice@example.org\tmessages_per_hour\t1\t5\t3540\n"
              "user:alice@example.org\trecipients_per_hour\t2\t20\t3540\n"
              "sub:alice@example.org\tmessages_per_hour\t0\t5\t0\n"
              "sub:alice@example.org\trecipients_per_hour\t0\t20\t0\n");
    guard.ipv4_prefix = 24;  // an address is shown under its network, as counted
    EXPECT_EQ(ask("ratelimit show 192.0.2.77"),
              "ok 2\n"
              "ip:192.0.2.0/24\tmessages_per_hour\t1\t5\t3540\n"
              "ip:192.0.2.0/24\trecipients_per_hour\t2\t20\t3540\n");
    EXPECT_EQ(ask("ratelimit show a\tb").substr(0, 16), "error permanent ");
}

TEST_F(AdminAnswers, OtherQuestionsAreLeftToRadius) {
    EXPECT_EQ(ask("sessions"), "(not mine)");
    EXPECT_EQ(ask("session 10.0.0.1"), "(not mine)");
    EXPECT_EQ(ask("ban everyone").substr(0, 16), "error permanent ");
}

namespace {
// Only find_user matters here: alice has her own messages_per_hour.
class OneUserDirectory : public Directory {
  public:
    bool down = false;
    Result<bool> is_local_domain(const std::string&) override { return true; }
    Result<std::optional<User>> find_user(const std::string& a) override {
        if (down) return Error::temporary("directory down");
        if (a != "alice@example.org") return std::optional<User>{};
        User u;
        u.address = a;
        u.limits.messages_per_hour = 50;
        u.limits.recipients_per_hour = 0;
        return std::optional<User>{u};
    }
    Result<std::vector<std::string>> find_alias(const std::string&) override {
        return std::vector<std::string>{};
    }
    Result<Listing> sender_listing(const std::string&, const std::string&) override {
        return Listing::none;
    }
    Result<bool> is_contact(const std::string&, const std::string&) override { return false; }
};
}  // namespace

TEST_F(AdminAnswers, RatelimitShowGivesAUsersOwnLimits) {
    OneUserDirectory dir;
    directory = &dir;
    EXPECT_EQ(ask("ratelimit show ALICE@example.org"),
              "ok 4\n"
              "user:ALICE@example.org\tmessages_per_hour\t0\t50\t0\n"
              "user:ALICE@example.org\trecipients_per_hour\t0\t0\t0\n"
              "sub:ALICE@example.org\tmessages_per_hour\t0\t50\t0\n"
              "sub:ALICE@example.org\trecipients_per_hour\t0\t0\t0\n");
    EXPECT_EQ(ask("ratelimit show bob@example.org").substr(0, 48),
              "ok 4\nuser:bob@example.org\tmessages_per_hour\t0\t5\t");
    dir.down = true;
    EXPECT_EQ(ask("ratelimit show alice@example.org").substr(0, 16), "error temporary ");
}
