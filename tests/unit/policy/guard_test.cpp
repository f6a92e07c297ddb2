#include "pampero/policy/guard.hpp"

#include <gtest/gtest.h>

#include "pampero/common/ip_prefix.hpp"

using namespace pampero;
using namespace pampero::policy;

namespace {
// A new guessed address at every call: each count_unknown() below is a distinct guess.
std::string guess() {
    static int n = 0;
    return "guess" + std::to_string(++n) + "@example.org";
}
struct Clock {
    std::chrono::steady_clock::time_point now{};
};
}  // namespace

TEST(Guard, BansAtTheLimitWithinTheWindow) {
    Clock c;
    auto state = make_memory_state([&] { return c.now; });
    Guard g(*state, GuardConfig{3, 60, 600});
    EXPECT_FALSE(*g.is_banned("192.0.2.1"));
    EXPECT_FALSE(*g.count_unknown("192.0.2.1", guess()));
    EXPECT_FALSE(*g.count_unknown("192.0.2.1", guess()));
    EXPECT_TRUE(*g.count_unknown("192.0.2.1", guess()));  // the third crosses the limit
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
        EXPECT_FALSE(*g.count_unknown("192.0.2.9", guess()));
        EXPECT_FALSE(*g.count_unknown("192.0.2.9", guess()));
        c.now += std::chrono::seconds(61);
    }
    EXPECT_FALSE(*g.is_banned("192.0.2.9"));
}

// Regression (issue 8): IPv6 clients were counted and banned per address, so rotating
// through the 2^64 addresses of one /64 escaped every ban.
TEST(Guard, IPv6ClientsOfOnePrefixAreCountedAndBannedTogether) {
    Clock c;
    auto state = make_memory_state([&] { return c.now; });
    GuardConfig cfg{3, 60, 600};
    Guard g(*state, cfg);
    EXPECT_FALSE(*g.count_unknown("2001:db8:1:2::1", guess()));
    EXPECT_FALSE(*g.count_unknown("2001:db8:1:2::2", guess()));
    EXPECT_TRUE(*g.count_unknown("2001:db8:1:2:aaaa:bbbb:cccc:dddd", guess()));
    EXPECT_TRUE(*g.is_banned("2001:db8:1:2:ffff:ffff:ffff:ffff"));
    EXPECT_FALSE(*g.is_banned("2001:db8:1:3::1"));  // the next /64 is another client
    EXPECT_FALSE(*g.is_banned("192.0.2.1"));
}

TEST(Guard, PrefixLengthsAreConfigurable) {
    Clock c;
    auto state = make_memory_state([&] { return c.now; });
    GuardConfig cfg{2, 60, 600};
    cfg.ipv4_prefix = 24;
    cfg.ipv6_prefix = 48;
    Guard g(*state, cfg);
    EXPECT_FALSE(*g.count_unknown("192.0.2.1", guess()));
    EXPECT_TRUE(*g.count_unknown("192.0.2.200", guess()));
    EXPECT_TRUE(*g.is_banned("192.0.2.9"));
    EXPECT_FALSE(*g.is_banned("192.0.3.9"));
    EXPECT_FALSE(*g.count_unknown("2001:db8:1:1::1", guess()));
    EXPECT_TRUE(*g.count_unknown("2001:db8:1:ffff::1", guess()));
    EXPECT_TRUE(*g.is_banned("2001:db8:1::"));
    EXPECT_FALSE(*g.is_banned("2001:db8:2::"));
}

TEST(ClientPrefix, KeysTheNetworkTheGuardCountsAsOneClient) {
    struct Row {
        const char* ip;
        int v4, v6;
        const char* key;
    };
    const Row rows[] = {
        {"192.0.2.1", 32, 64, "192.0.2.1"},
        {"192.0.2.77", 24, 64, "192.0.2.0/24"},
        {"192.0.2.255", 31, 64, "192.0.2.254/31"},
        {"203.0.113.200", 16, 64, "203.0.0.0/16"},
        {"::ffff:192.0.2.1", 32, 64, "192.0.2.1"},  // IPv4-mapped: the IPv4 client
        {"2001:db8:1:2::1", 32, 64, "2001:db8:1:2::/64"},
        {"2001:db8:1:2:ffff:ffff:ffff:ffff", 32, 64, "2001:db8:1:2::/64"},
        {"2001:db8:1:3::", 32, 64, "2001:db8:1:3::/64"},
        {"2001:db8:1:2::1", 32, 128, "2001:db8:1:2::1"},
        {"2001:db8:1:2::1", 32, 127, "2001:db8:1:2::/127"},
        {"2001:db8:1:2::1", 32, 48, "2001:db8:1::/48"},
        {"2001:db8:1:2f::1", 32, 60, "2001:db8:1:20::/60"},
        {"2001:db8:ffff::1", 32, 33, "2001:db8:8000::/33"},
        {"2001:db8:7fff::1", 32, 33, "2001:db8::/33"},
        {"2001:db8:ffff::1", 32, 32, "2001:db8::/32"},
        {"::1", 32, 64, "::/64"},
        {"unknown", 32, 64, "unknown"},  // not an address: kept as given
        {"", 32, 64, ""},
    };
    for (const auto& r : rows) {
        EXPECT_EQ(client_prefix(r.ip, r.v4, r.v6), r.key) << r.ip << " /" << r.v4 << " /" << r.v6;
    }
}

// Issue 10: bans are listable (an expiring set next to the ban key) and can be lifted.
TEST(Guard, BansAreListedUntilTheyExpireOrAreLifted) {
    Clock c;
    auto state = make_memory_state([&] { return c.now; });
    Guard g(*state, GuardConfig{2, 60, 600});
    EXPECT_TRUE(g.bans(10)->empty());
    (void)g.count_unknown("192.0.2.1", guess());
    EXPECT_TRUE(*g.count_unknown("192.0.2.1", guess()));
    (void)g.count_unknown("2001:db8:1:2::1", guess());
    EXPECT_TRUE(*g.count_unknown("2001:db8:1:2::2", guess()));
    c.now += std::chrono::seconds(100);
    auto list = g.bans(10);
    ASSERT_TRUE(list);
    ASSERT_EQ(list->size(), 2u);
    for (const auto& b : *list) {
        EXPECT_TRUE(b.net == "192.0.2.1" || b.net == "2001:db8:1:2::/64") << b.net;
        EXPECT_EQ(b.unknown, 2);
        EXPECT_EQ(b.left, std::chrono::seconds(500));
    }
    EXPECT_EQ(g.bans(1)->size(), 1u);  // the bound holds

    // Lifting takes the ban, the counter and the listing: one more miss does not re-ban.
    EXPECT_TRUE(*g.unban("192.0.2.1"));
    EXPECT_FALSE(*g.is_banned("192.0.2.1"));
    EXPECT_FALSE(*g.count_unknown("192.0.2.1", guess()));
    ASSERT_EQ(g.bans(10)->size(), 1u);
    EXPECT_EQ(g.bans(10)->front().net, "2001:db8:1:2::/64");
    EXPECT_FALSE(*g.unban("192.0.2.1"));         // nothing in force any more
    EXPECT_TRUE(*g.unban("2001:db8:1:2::/64"));  // the network as listed works too
    EXPECT_TRUE(g.bans(10)->empty());

    (void)g.count_unknown("192.0.2.7", guess());
    EXPECT_TRUE(*g.count_unknown("192.0.2.7", guess()));
    c.now += std::chrono::seconds(600);
    EXPECT_TRUE(g.bans(10)->empty());  // expired with its ban
}

namespace {
// A State whose every call fails, as Redis does while it is down.
class DownState : public State {
  public:
    Result<std::int64_t> increment(const std::string&, std::chrono::seconds) override {
        return Error::temporary("state down");
    }
    Status put(const std::string&, const std::string&, std::chrono::seconds) override {
        return Error::temporary("state down");
    }
    Result<std::optional<std::string>> get(const std::string&) override {
        return Error::temporary("state down");
    }
    Status remove(const std::string&) override { return Error::temporary("state down"); }
};
}  // namespace

TEST(Guard, StateErrorsAreErrorsUnlessOnStateErrorIsContinue) {
    DownState down;
    Guard tempfail(down, GuardConfig{3, 60, 600});
    auto b = tempfail.is_banned("192.0.2.1");
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().kind, ErrorKind::temporary);
    ASSERT_FALSE(tempfail.count_unknown("192.0.2.1", "a@example.org"));
    ASSERT_FALSE(tempfail.bans(10));

    GuardConfig cfg{3, 60, 600};
    cfg.continue_on_state_error = true;
    Guard on(down, cfg);
    for (int i = 0; i < 5; ++i) {  // the guard is off: never banned, never counted
        auto banned = on.is_banned("192.0.2.1");
        ASSERT_TRUE(banned) << banned.error().message;
        EXPECT_FALSE(*banned);
        auto crossed = on.count_unknown("192.0.2.1", "a@example.org");
        ASSERT_TRUE(crossed) << crossed.error().message;
        EXPECT_FALSE(*crossed);
    }
    // The admin's listing and unban still report the failure.
    EXPECT_FALSE(on.bans(10));
    EXPECT_FALSE(on.unban("192.0.2.1"));
}

// Issue 12: on an MX running pampero-policyd and pampero-milter on one state, both saw
// every guess (policyd at its check, the milter at Postfix's refusal) and both counted
// it, so the ban came after about half of unknown_limit. Two Guards over one state are
// the two daemons: each guess now counts once, whichever asks first.
TEST(Guard, TwoDaemonsOnOneStateCountEachGuessOnce) {
    Clock c;
    auto state = make_memory_state([&] { return c.now; });
    Guard policyd(*state, GuardConfig{3, 60, 600});
    Guard milter(*state, GuardConfig{3, 60, 600});
    for (const char* a : {"a@example.org", "b@example.org"}) {
        EXPECT_FALSE(*policyd.count_unknown("192.0.2.1", a)) << a;
        EXPECT_FALSE(*milter.count_unknown("192.0.2.1", a)) << a;
        EXPECT_FALSE(*policyd.is_banned("192.0.2.1")) << a;
    }
    EXPECT_EQ(state->get("unk:192.0.2.1")->value(), "2");
    // The milter may see a guess first (its own directory check): policyd then skips it.
    EXPECT_TRUE(*milter.count_unknown("192.0.2.1", "c@example.org"));  // the third address
    EXPECT_FALSE(*policyd.count_unknown("192.0.2.1", "c@example.org"));
    EXPECT_TRUE(*policyd.is_banned("192.0.2.1"));
    EXPECT_EQ(state->get("ban:192.0.2.1")->value(), "3");
}

// A client retrying one address (or an MTA resending it) is one guess per window.
TEST(Guard, ARetriedAddressCountsOncePerWindow) {
    Clock c;
    auto state = make_memory_state([&] { return c.now; });
    Guard g(*state, GuardConfig{3, 60, 600});
    for (int i = 0; i < 10; ++i) EXPECT_FALSE(*g.count_unknown("192.0.2.1", "a@example.org"));
    EXPECT_FALSE(*g.count_unknown("192.0.2.2", "b@example.org"));  // another client's guess
    EXPECT_FALSE(*g.count_unknown("192.0.2.1", "b@example.org"));  // is not this one's
    EXPECT_FALSE(*g.is_banned("192.0.2.1"));
    c.now += std::chrono::seconds(60);  // the window and its markers are over
    EXPECT_FALSE(*g.count_unknown("192.0.2.1", "a@example.org"));
    EXPECT_FALSE(*g.count_unknown("192.0.2.1", "b@example.org"));
    EXPECT_TRUE(*g.count_unknown("192.0.2.1", "c@example.org"));
}
