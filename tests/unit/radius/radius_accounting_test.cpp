// Accounting over the memory State: what each Acct-Status-Type records, retransmissions,
// stale Stops, Accounting-On/Off, drops, and no answer when State fails.
#include "radius_accounting.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "radius_admin.hpp"

using namespace pampero;
using namespace pampero::radius;
using namespace std::chrono_literals;
using K = Outcome::Kind;

namespace {

constexpr const char* kSecret = "s3cret";
constexpr const char* kNas = "192.0.2.1";

struct Clock {
    std::chrono::steady_clock::time_point now{};
};

struct Req {
    std::uint32_t status = kStart;
    std::string user = "alice";
    std::string ip = "10.0.0.1";
    std::string session = "s1";
    std::optional<std::uint32_t> interval = std::nullopt;
    std::uint8_t id = 1;
    std::string secret = kSecret;
};

std::string packet(const Req& r) {
    Packet p;
    p.identifier = r.id;
    p.attributes.push_back(integer_attribute(kAcctStatusType, r.status));
    if (!r.user.empty()) p.attributes.push_back(text_attribute(kUserName, r.user));
    if (!r.ip.empty()) {
        if (auto a = ipv4_attribute(kFramedIpAddress, r.ip))
            p.attributes.push_back(*a);
        else
            p.attributes.push_back(*ipv6_attribute(kFramedIpv6Address, r.ip));
    }
    if (!r.session.empty()) p.attributes.push_back(text_attribute(kAcctSessionId, r.session));
    if (r.interval) p.attributes.push_back(integer_attribute(kAcctInterimInterval, *r.interval));
    return *build_accounting_request(p, r.secret);
}

class AccountingTest : public ::testing::Test {
  protected:
    Clock clock;
    std::unique_ptr<MemoryState> state = make_memory_state([this] { return clock.now; });
    DuplicateCache dups{30s, [this] { return clock.now; }};
    Accounting acct{*state, AccountingSettings{3600s, 3, 30s}, dups};

    Outcome send(const Req& r, const std::string& nas = kNas, std::uint16_t port = 4000) {
        return acct.handle(packet(r), nas, port, kSecret);
    }
    std::optional<std::string> user_of(const std::string& ip) {
        return *state->get("radius:ip:" + ip);
    }
};

}  // namespace

TEST_F(AccountingTest, StartMapsTheAddressAndIsAnsweredAuthentically) {
    const std::string raw = packet({});
    const auto o = acct.handle(raw, kNas, 4000, kSecret);
    ASSERT_EQ(o.kind, K::recorded) << o.detail;
    const auto req = *parse_packet(raw);
    EXPECT_TRUE(verify_response(o.reply, req.authenticator, kSecret));
    EXPECT_EQ(static_cast<std::uint8_t>(o.reply[1]), req.identifier);
    EXPECT_EQ(user_of("10.0.0.1"), "alice");
    auto s = acct.session("10.0.0.1");
    ASSERT_TRUE(s && s->has_value());
    EXPECT_EQ((*s)->nas, kNas);
    EXPECT_EQ((*s)->session_id, "s1");
}

TEST_F(AccountingTest, IPv6SessionsToo) {
    ASSERT_EQ(send({.ip = "2001:db8::5"}).kind, K::recorded);
    EXPECT_EQ(user_of("2001:db8::5"), "alice");
    auto s = acct.session("2001:0db8:0::5");  // any spelling finds it
    ASSERT_TRUE(s && s->has_value());
    // An IPv4-mapped Framed-IPv6-Address is the IPv4 address (policy/ looks it up so).
    ASSERT_EQ(send({.ip = "::ffff:10.0.0.8", .id = 2}).kind, K::recorded);
    EXPECT_EQ(user_of("10.0.0.8"), "alice");
    s = acct.session("::ffff:10.0.0.8");
    ASSERT_TRUE(s && s->has_value());
}

TEST_F(AccountingTest, ExpiryFollowsTheInterimIntervalOrTheDefault) {
    ASSERT_EQ(send({.interval = 300}).kind, K::recorded);            // 3 * 300 + 60 s
    ASSERT_EQ(send({.ip = "10.0.0.2", .id = 2}).kind, K::recorded);  // default 3600 s
    clock.now += 959s;
    EXPECT_TRUE(user_of("10.0.0.1"));
    clock.now += 1s;
    EXPECT_FALSE(user_of("10.0.0.1"));
    EXPECT_TRUE(user_of("10.0.0.2"));
    clock.now += 3600s - 960s;
    EXPECT_FALSE(user_of("10.0.0.2"));
}

TEST_F(AccountingTest, InterimUpdateKeepsTheSessionAlive) {
    ASSERT_EQ(send({.interval = 300}).kind, K::recorded);
    clock.now += 900s;
    ASSERT_EQ(send({.status = kInterimUpdate, .interval = 300, .id = 2}).kind, K::recorded);
    clock.now += 900s;
    EXPECT_EQ(user_of("10.0.0.1"), "alice");
    // An Interim-Update for a session we never saw (a restart lost it) creates it.
    ASSERT_EQ(send({.status = kInterimUpdate, .user = "bob", .ip = "10.0.0.9", .id = 3}).kind,
              K::recorded);
    EXPECT_EQ(user_of("10.0.0.9"), "bob");
}

TEST_F(AccountingTest, StopRemovesItsOwnSession) {
    ASSERT_EQ(send({}).kind, K::recorded);
    ASSERT_EQ(send({.status = kStop, .id = 2}).kind, K::recorded);
    EXPECT_FALSE(user_of("10.0.0.1"));
    EXPECT_FALSE(acct.session("10.0.0.1")->has_value());
    EXPECT_TRUE(acct.sessions(100)->empty());
    // A Stop for what nobody holds is answered (recorded: nothing to do).
    EXPECT_EQ(send({.status = kStop, .id = 3}).kind, K::recorded);
}

TEST_F(AccountingTest, AStaleStopDoesNotEndTheNewSession) {
    ASSERT_EQ(send({.user = "alice", .session = "old"}).kind, K::recorded);
    // The address goes to bob's new session; alice's Stop arrives late.
    ASSERT_EQ(send({.user = "bob", .session = "new", .id = 2}).kind, K::recorded);
    const auto o = send({.status = kStop, .user = "alice", .session = "old", .id = 3});
    EXPECT_EQ(o.kind, K::recorded);  // answered, so the NAS stops resending it
    EXPECT_EQ(user_of("10.0.0.1"), "bob");
    // The same session id from another NAS is another session as well.
    EXPECT_EQ(send({.status = kStop, .user = "bob", .session = "new", .id = 4}, "192.0.2.2").kind,
              K::recorded);
    EXPECT_EQ(user_of("10.0.0.1"), "bob");
    // Without session ids, the user name decides.
    ASSERT_EQ(send({.user = "carol", .ip = "10.0.0.3", .session = "", .id = 5}).kind, K::recorded);
    send({.status = kStop, .user = "dave", .ip = "10.0.0.3", .session = "", .id = 6});
    EXPECT_EQ(user_of("10.0.0.3"), "carol");
    send({.status = kStop, .user = "carol", .ip = "10.0.0.3", .session = "", .id = 7});
    EXPECT_FALSE(user_of("10.0.0.3"));
}

TEST_F(AccountingTest, AccountingOnAndOffDropEverySessionOfThatNasOnly) {
    for (std::uint8_t i = 1; i <= 5; ++i)
        ASSERT_EQ(send({.ip = "10.0.0." + std::to_string(i), .id = i}).kind, K::recorded);
    ASSERT_EQ(send({.ip = "10.9.0.1", .id = 9}, "192.0.2.2").kind, K::recorded);
    // 10.0.0.5 moved to the other NAS since: not the first NAS's to drop.
    ASSERT_EQ(send({.user = "eve", .ip = "10.0.0.5", .id = 10}, "192.0.2.2").kind, K::recorded);
    const auto o = send({.status = kAccountingOn, .user = "", .ip = "", .session = "", .id = 20});
    ASSERT_EQ(o.kind, K::recorded) << o.detail;
    EXPECT_NE(o.detail.find("4 sessions"), std::string::npos) << o.detail;
    for (int i = 1; i <= 4; ++i) EXPECT_FALSE(user_of("10.0.0." + std::to_string(i)));
    EXPECT_EQ(user_of("10.0.0.5"), "eve");
    EXPECT_EQ(user_of("10.9.0.1"), "alice");
    const auto off = send({.status = kAccountingOff, .user = "", .ip = "", .session = "", .id = 21},
                          "192.0.2.2");
    ASSERT_EQ(off.kind, K::recorded);
    EXPECT_FALSE(user_of("10.0.0.5"));
    EXPECT_FALSE(user_of("10.9.0.1"));
}

TEST_F(AccountingTest, RetransmissionIsAnsweredAgainAndNotRecordedTwice) {
    ASSERT_EQ(send({}).kind, K::recorded);
    const std::string on = packet({.status = kAccountingOn, .user = "", .ip = "", .id = 7});
    ASSERT_EQ(acct.handle(on, kNas, 4000, kSecret).kind, K::recorded);
    // A new session starts, then the Accounting-On is retransmitted (its answer was lost):
    // it must not wipe the new session.
    ASSERT_EQ(send({.user = "bob", .ip = "10.0.0.2", .id = 8}).kind, K::recorded);
    const auto again = acct.handle(on, kNas, 4000, kSecret);
    EXPECT_EQ(again.kind, K::retransmission);
    EXPECT_TRUE(verify_response(again.reply, parse_packet(on)->authenticator, kSecret));
    EXPECT_EQ(user_of("10.0.0.2"), "bob");
    // From another source port it is another packet (RFC 5080 2.2.2).
    EXPECT_EQ(acct.handle(on, kNas, 4001, kSecret).kind, K::recorded);
    EXPECT_FALSE(user_of("10.0.0.2"));
    // After duplicate_window the same octets are a new packet.
    ASSERT_EQ(send({.user = "bob", .ip = "10.0.0.2", .id = 8}).kind, K::retransmission);
    clock.now += 31s;
    EXPECT_EQ(acct.handle(on, kNas, 4000, kSecret).kind, K::recorded);
}

TEST_F(AccountingTest, WrongSecretMalformedAndOtherCodesAreDroppedUnanswered) {
    const auto bad = acct.handle(packet({.secret = "wrong"}), kNas, 4000, kSecret);
    EXPECT_EQ(bad.kind, K::bad_authenticator);
    EXPECT_TRUE(bad.reply.empty());
    EXPECT_FALSE(user_of("10.0.0.1"));
    EXPECT_EQ(acct.handle("garbage", kNas, 4000, kSecret).kind, K::malformed);
    std::string access = packet({});
    access[0] = 1;  // Access-Request: not ours
    EXPECT_EQ(acct.handle(access, kNas, 4000, kSecret).kind, K::not_accounting);
    // No Acct-Status-Type: invalid (RFC 2866 5.1 "MUST"), dropped.
    Packet p;
    p.attributes = {text_attribute(kUserName, "x")};
    EXPECT_EQ(acct.handle(*build_accounting_request(p, kSecret), kNas, 4000, kSecret).kind,
              K::malformed);
}

TEST_F(AccountingTest, UnusableNamesAndMissingAddressesAreAnsweredNotRecorded) {
    EXPECT_EQ(send({.user = std::string("ev\nil")}).kind, K::recorded);
    EXPECT_FALSE(user_of("10.0.0.1"));
    EXPECT_EQ(send({.user = "", .id = 2}).kind, K::recorded);
    EXPECT_FALSE(user_of("10.0.0.1"));
    EXPECT_EQ(send({.ip = "", .id = 3}).kind, K::recorded);
    EXPECT_EQ(send({.status = 15, .id = 4}).kind, K::recorded);  // Failed: nothing to record
    EXPECT_EQ(state->size(), 0u);                                // nothing recorded
}

namespace {
// A State whose writes can be made to fail, as a Redis that went away.
class FailingState : public State {
  public:
    explicit FailingState(State& inner) : inner_(inner) {}
    bool fail = false;
    Result<std::int64_t> increment(const std::string& k, std::chrono::seconds w) override {
        if (fail) return Error::temporary("down");
        return inner_.increment(k, w);
    }
    Status put(const std::string& k, const std::string& v, std::chrono::seconds t) override {
        if (fail) return Error::temporary("down");
        return inner_.put(k, v, t);
    }
    Result<std::optional<std::string>> get(const std::string& k) override {
        return inner_.get(k);  // reads still work: the write is what fails
    }
    Status remove(const std::string& k) override {
        if (fail) return Error::temporary("down");
        return inner_.remove(k);
    }
    Status set_add(const std::string& k, const std::string& m, std::chrono::seconds t) override {
        if (fail) return Error::temporary("down");
        return inner_.set_add(k, m, t);
    }
    Status set_remove(const std::string& k, const std::string& m) override {
        if (fail) return Error::temporary("down");
        return inner_.set_remove(k, m);
    }
    Result<std::vector<std::string>> set_members(const std::string& k) override {
        return inner_.set_members(k);
    }

  private:
    State& inner_;
};
}  // namespace

TEST_F(AccountingTest, NotRecordedMeansNotAnsweredAndTheRetryIsRecorded) {
    FailingState failing(*state);
    DuplicateCache dups_a{30s};
    Accounting a(failing, AccountingSettings{3600s, 3, 30s}, dups_a);
    const std::string start = packet({});
    failing.fail = true;
    const auto o = a.handle(start, kNas, 4000, kSecret);
    EXPECT_EQ(o.kind, K::state_failed);
    EXPECT_TRUE(o.reply.empty());
    failing.fail = false;
    // The NAS sends the same packet again: recorded now, not taken for a retransmission.
    EXPECT_EQ(a.handle(start, kNas, 4000, kSecret).kind, K::recorded);
    EXPECT_EQ(user_of("10.0.0.1"), "alice");
    // A backend without sets (the State default) fails closed too.
    struct NoSets : FailingState {
        using FailingState::FailingState;
        Status set_add(const std::string& k, const std::string& m,
                       std::chrono::seconds t) override {
            return State::set_add(k, m, t);
        }
    } nosets(*state);
    DuplicateCache dups_b{30s};
    Accounting b(nosets, AccountingSettings{3600s, 3, 30s}, dups_b);
    EXPECT_EQ(b.handle(packet({.ip = "10.0.0.7", .id = 9}), kNas, 4000, kSecret).kind,
              K::state_failed);
}

TEST(DuplicateCache, ForgetsAfterTheWindowAndBeyondItsBound) {
    Clock clock;
    DuplicateCache d{10s, [&clock] { return clock.now; }, 32};
    EXPECT_FALSE(d.seen("a"));
    d.remember("a");
    EXPECT_TRUE(d.seen("a"));
    clock.now += 9s;
    EXPECT_TRUE(d.seen("a"));
    clock.now += 1s;
    EXPECT_FALSE(d.seen("a"));
    // 32 keys in 16 stripes of 2: a thousand new keys push the old ones out.
    d.remember("b");
    for (int i = 0; i < 1000; ++i) d.remember("k" + std::to_string(i));
    EXPECT_FALSE(d.seen("b"));
    EXPECT_TRUE(d.seen("k999"));
}

TEST_F(AccountingTest, AdminAnswers) {
    ASSERT_EQ(send({.user = "alice", .ip = "10.0.0.1"}).kind, K::recorded);
    ASSERT_EQ(send({.user = "bob", .ip = "10.0.0.2", .session = "s\t2", .id = 2}).kind,
              K::recorded);
    const auto list = answer_admin(acct, "sessions");
    EXPECT_EQ(list.substr(0, 5), "ok 2\n") << list;
    EXPECT_NE(list.find("10.0.0.1\talice\t192.0.2.1\ts1\t"), std::string::npos) << list;
    EXPECT_NE(list.find("10.0.0.2\tbob\t192.0.2.1\ts\\x092\t"), std::string::npos) << list;
    EXPECT_EQ(answer_admin(acct, "session 10.0.0.2").substr(0, 14), "ok 1\n10.0.0.2\t");
    EXPECT_EQ(answer_admin(acct, "session 10.0.0.3"), "ok 0\n");
    EXPECT_EQ(answer_admin(acct, "session nope").substr(0, 16), "error permanent ");
    EXPECT_EQ(answer_admin(acct, "what").substr(0, 16), "error permanent ");
}

// Sessions have their own bound in the memory State (state.hpp, radius.max_sessions): an
// ISP's 60,000 customers online, each session expiring later than a ban, used to fill the
// value table shared with bans (guard.max_tracked, 100,000: two values a session) and
// evict the bans nearest their expiry, and the "bans" set's members with them.
TEST_F(AccountingTest, SixtyThousandSessionsDoNotEvictABan) {
    ASSERT_TRUE(state->put("ban:192.0.2.99", "5", 600s));  // as the guard bans (guard.cpp)
    ASSERT_TRUE(state->set_add("bans", "192.0.2.99", 600s));
    constexpr int kSessions = 60000;
    for (int i = 0; i < kSessions; ++i) {
        Req r;
        r.user = "u" + std::to_string(i);
        r.ip = fmt::format("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        r.session = "s" + std::to_string(i);
        r.id = static_cast<std::uint8_t>(i);
        const auto o = send(r, kNas, static_cast<std::uint16_t>(4000 + (i >> 8)));
        ASSERT_EQ(o.kind, K::recorded) << i << ": " << o.detail;
    }
    EXPECT_EQ(state->get("ban:192.0.2.99")->value_or(""), "5");
    EXPECT_EQ(*state->set_members("bans"), std::vector<std::string>{"192.0.2.99"});
    // ... and every session is still there.
    EXPECT_EQ(user_of("10.0.0.0"), "u0");
    EXPECT_EQ(user_of(fmt::format("10.0.{}.{}", (kSessions - 1) >> 8, (kSessions - 1) & 255)),
              fmt::format("u{}", kSessions - 1));
    EXPECT_EQ(acct.sessions(kSessions + 1)->size(), static_cast<std::size_t>(kSessions));
}

// The sessions' own bound holds: past max_sessions the session nearest its expiry goes,
// and the bans stay.
TEST(SessionBound, FullSessionTablesEvictSessionsNotBans) {
    std::chrono::steady_clock::time_point now{};
    auto state = make_memory_state([&now] { return now; }, 100, 100);
    ASSERT_TRUE(state->put("ban:192.0.2.99", "5", 10s));
    for (int i = 0; i < 500; ++i) {
        const std::string ip = fmt::format("10.0.{}.{}", i >> 8, i & 255);
        ASSERT_TRUE(state->put("radius:ip:" + ip, "u", std::chrono::seconds(1000 + i)));
        ASSERT_TRUE(state->put("radius:session:" + ip, "x", std::chrono::seconds(1000 + i)));
        ASSERT_TRUE(state->set_add("radius:nas:192.0.2.1", ip, std::chrono::seconds(1000 + i)));
    }
    EXPECT_TRUE(state->get("ban:192.0.2.99")->has_value());
    EXPECT_FALSE(state->get("radius:ip:10.0.0.0")->has_value());   // the oldest went
    EXPECT_TRUE(state->get("radius:ip:10.0.1.243")->has_value());  // the newest stays
    EXPECT_EQ(state->set_members("radius:nas:192.0.2.1")->size(), 200u);
    EXPECT_EQ(state->size(), 1u + 200u + 200u);
}
