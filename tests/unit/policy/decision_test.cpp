// The relay, rate and guard decision (policy/decision.hpp) with the memory state, a fake
// clock and a directory held in memory.
#include "pampero/policy/decision.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

using namespace pampero;
using namespace pampero::policy;
using Kind = Verdict::Kind;

namespace {

struct Clock {
    std::chrono::steady_clock::time_point now{};
};

class FakeDirectory : public Directory {
  public:
    std::set<std::string> domains{"example.org"};
    std::set<std::string> users{"alice@example.org"};
    std::map<std::string, UserLimits> limits;  // users' own rate limits
    bool down = false;

    Result<bool> is_local_domain(const std::string& d) override {
        if (down) return Error::temporary("directory down");
        return domains.count(d) > 0;
    }
    Result<std::optional<User>> find_user(const std::string& a) override {
        if (down) return Error::temporary("directory down");
        if (!users.count(a)) return std::optional<User>{};
        User u;
        u.address = a;
        if (auto it = limits.find(a); it != limits.end()) u.limits = it->second;
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

// A State that answers like the wrapped one until it is told to fail.
class SwitchableState : public State {
  public:
    explicit SwitchableState(State& inner) : inner_(inner) {}
    bool down = false;
    Result<std::int64_t> increment(const std::string& k, std::chrono::seconds w) override {
        if (down) return Error::temporary("state down");
        return inner_.increment(k, w);
    }
    Status put(const std::string& k, const std::string& v, std::chrono::seconds t) override {
        if (down) return Error::temporary("state down");
        return inner_.put(k, v, t);
    }
    Result<bool> put_if_absent(const std::string& k, const std::string& v,
                               std::chrono::seconds t) override {
        if (down) return Error::temporary("state down");
        return inner_.put_if_absent(k, v, t);
    }
    Result<std::optional<std::string>> get(const std::string& k) override {
        if (down) return Error::temporary("state down");
        return inner_.get(k);
    }
    Status remove(const std::string& k) override {
        if (down) return Error::temporary("state down");
        return inner_.remove(k);
    }

  private:
    State& inner_;
};

class Decide : public ::testing::Test {
  protected:
    Decide() : memory_(make_memory_state([this] { return clock_.now; })), state_(*memory_) {
        limits_.messages_per_hour = 3;
        limits_.recipients_per_hour = 5;
        limits_.recipients_per_message = 4;
        remake();
    }
    void remake() {
        engine_ = std::make_unique<Engine>(state_, dir_, subs_, GuardConfig{3, 600, 3600}, limits_);
    }
    Verdict rcpt(std::string_view ip, std::string_view rcpt, std::string_view sasl = "",
                 std::string_view instance = "i1") {
        auto v = engine_->decide({Stage::rcpt, ip, sasl, rcpt, instance, "test"});
        EXPECT_TRUE(v) << v.error().message;
        return v ? *v : Verdict{};
    }
    Verdict eom(std::string_view ip, std::string_view sasl = "", std::string_view instance = "i1") {
        auto v = engine_->decide({Stage::end_of_message, ip, sasl, "", instance, "test"});
        EXPECT_TRUE(v) << v.error().message;
        return v ? *v : Verdict{};
    }
    void session(const std::string& ip, const std::string& user) {
        ASSERT_TRUE(memory_->put(subscriber_key(ip), user, std::chrono::seconds(600)));
    }

    Clock clock_;
    std::unique_ptr<MemoryState> memory_;
    SwitchableState state_;
    FakeDirectory dir_;
    StateSubscriberLookup subs_{state_};
    RateLimitConfig limits_;
    std::unique_ptr<Engine> engine_;
};

}  // namespace

TEST_F(Decide, RelayWithoutLoginOrSessionIsDenied) {
    for (int i = 1; i < 255; i += 7) {
        const std::string ip = "127.0." + std::to_string(i) + "." + std::to_string(255 - i);
        const Verdict v = rcpt(ip, "<bob@example.net>");
        EXPECT_EQ(v.kind, Kind::reject) << ip;
        EXPECT_EQ(v.action(), "554 5.7.1 <bob@example.net>: Relay access denied");
    }
}

TEST_F(Decide, LocalRecipientsAreLeftToTheOtherChecks) {
    EXPECT_EQ(rcpt("192.0.2.1", "alice@example.org").action(), "DUNNO");
    EXPECT_EQ(rcpt("192.0.2.1", "<Alice@EXAMPLE.org>").action(), "DUNNO");
}

TEST_F(Decide, SaslUsersAndCurrentCustomersMayRelay) {
    EXPECT_EQ(rcpt("192.0.2.1", "bob@example.net", "alice").action(), "OK");
    EXPECT_EQ(rcpt("192.0.2.2", "bob@example.net").kind, Kind::reject);
    session("192.0.2.2", "customer-1");
    EXPECT_EQ(rcpt("192.0.2.2", "bob@example.net").action(), "OK");
    clock_.now += std::chrono::seconds(600);  // the session expired
    EXPECT_EQ(rcpt("192.0.2.2", "bob@example.net").kind, Kind::reject);
}

TEST_F(Decide, SubscriberKeyIsCanonical) {
    EXPECT_EQ(subscriber_key("192.0.2.1"), "radius:ip:192.0.2.1");
    EXPECT_EQ(subscriber_key("::ffff:192.0.2.1"), "radius:ip:192.0.2.1");
    EXPECT_EQ(subscriber_key("2001:DB8:0::1"), "radius:ip:2001:db8::1");
}

TEST_F(Decide, RecipientsPerHourDeferAtTheLimitAndNotBefore) {
    limits_.recipients_per_message = 0;
    remake();
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(rcpt("192.0.2.1", "bob@example.net", "alice", std::to_string(i)).action(), "OK")
            << i;
    }
    const Verdict v = rcpt("192.0.2.1", "bob@example.net", "alice", "5");
    EXPECT_EQ(v.kind, Kind::defer);
    EXPECT_EQ(v.action(), "450 4.7.1 Rate limit recipients_per_hour (5) reached, try again later");
    clock_.now += std::chrono::seconds(3600);  // a new window
    EXPECT_EQ(rcpt("192.0.2.1", "bob@example.net", "alice", "6").action(), "OK");
}

TEST_F(Decide, RecipientsPerMessage) {
    limits_.recipients_per_hour = 0;
    remake();
    for (int i = 0; i < 4; ++i)
        EXPECT_EQ(rcpt("192.0.2.1", "b@example.net", "alice").action(), "OK");
    const Verdict v = rcpt("192.0.2.1", "b@example.net", "alice");
    EXPECT_EQ(v.kind, Kind::defer);
    EXPECT_NE(v.text.find("recipients_per_message (4)"), std::string::npos);
    EXPECT_EQ(rcpt("192.0.2.1", "b@example.net", "alice", "i2").action(), "OK");  // next message
}

TEST_F(Decide, MessagesPerHourCountAtEndOfMessageAndStopTheNextAtRcpt) {
    limits_.recipients_per_hour = 0;
    remake();
    for (int i = 0; i < 3; ++i) {
        const std::string inst = "m" + std::to_string(i);
        EXPECT_EQ(rcpt("192.0.2.1", "b@example.net", "alice", inst).action(), "OK");
        EXPECT_EQ(eom("192.0.2.1", "alice", inst).action(), "DUNNO");
    }
    // Three sent: a fourth is stopped at its first RCPT, before DATA.
    const Verdict v = rcpt("192.0.2.1", "b@example.net", "alice", "m3");
    EXPECT_EQ(v.kind, Kind::defer);
    EXPECT_NE(v.text.find("messages_per_hour (3)"), std::string::npos);
    // A message that got through RCPT anyway (the state was shared, another node counted)
    // is refused at its end.
    EXPECT_EQ(eom("192.0.2.1", "alice", "m4").kind, Kind::defer);
}

TEST_F(Decide, LimitsApplyPerIdentity) {
    limits_.recipients_per_message = 0;
    remake();
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(rcpt("192.0.2.1", "b@example.net", "alice").action(), "OK");
    EXPECT_EQ(rcpt("192.0.2.1", "b@example.net", "alice").kind, Kind::defer);
    // Another user from another address has its own counters ...
    EXPECT_EQ(rcpt("192.0.2.7", "b@example.net", "carol").action(), "OK");
    // ... but the same address counts for everyone sending from it.
    EXPECT_EQ(rcpt("192.0.2.1", "b@example.net", "dave").kind, Kind::defer);
    // A RADIUS customer is counted by subscriber name.
    session("192.0.2.9", "cust");
    for (int i = 0; i < 5; ++i) EXPECT_EQ(rcpt("192.0.2.9", "b@example.net").action(), "OK");
    const Verdict v = rcpt("192.0.2.9", "b@example.net");
    EXPECT_EQ(v.kind, Kind::defer);
    EXPECT_EQ(*memory_->get("rl:r:sub:cust"), std::optional<std::string>("6"));
}

TEST_F(Decide, UnknownLocalRecipientsAreCountedAndBanned) {
    EXPECT_EQ(rcpt("192.0.2.5", "nobody@example.org").action(),
              "550 5.1.1 Recipient address rejected: User unknown");
    EXPECT_EQ(rcpt("192.0.2.5", "nobody2@example.org").kind, Kind::reject);
    const Verdict v = rcpt("192.0.2.5", "nobody3@example.org");
    EXPECT_EQ(v.action(), "421 4.7.0 Too many unknown recipients, try again later");
    // Banned: every step of that client, also for known users and with a login.
    EXPECT_EQ(rcpt("192.0.2.5", "alice@example.org").kind, Kind::disconnect);
    EXPECT_EQ(rcpt("192.0.2.5", "b@example.net", "alice").kind, Kind::disconnect);
    auto other = engine_->decide({Stage::other, "192.0.2.5", "", "", "", "t"});
    ASSERT_TRUE(other);
    EXPECT_EQ(other->kind, Kind::disconnect);
}

// The same keys as pampero-milter's guard: a ban one sets, the other honours.
TEST_F(Decide, BansAreTheGuardsKeys) {
    Guard milter_guard(state_, GuardConfig{3, 600, 3600});
    for (int i = 0; i < 3; ++i)
        ASSERT_TRUE(
            milter_guard.count_unknown("192.0.2.66", "g" + std::to_string(i) + "@example.org"));
    EXPECT_EQ(rcpt("192.0.2.66", "alice@example.org").kind, Kind::disconnect);
    EXPECT_TRUE(memory_->get("ban:192.0.2.66")->has_value());
    for (int i = 0; i < 3; ++i) rcpt("192.0.2.67", "x" + std::to_string(i) + "@example.org");
    EXPECT_TRUE(*milter_guard.is_banned("192.0.2.67"));
}

TEST_F(Decide, StateFailureIsATemporaryErrorNeverAPermit) {
    state_.down = true;
    for (auto stage : {Stage::rcpt, Stage::end_of_message, Stage::other}) {
        auto v = engine_->decide({stage, "192.0.2.1", "alice", "b@example.net", "i", "t"});
        ASSERT_FALSE(v);
        EXPECT_EQ(v.error().kind, ErrorKind::temporary);
    }
    // Local submission (no client address): the ban check is skipped, the rates are not.
    auto v = engine_->decide({Stage::rcpt, "", "alice", "b@example.net", "i", "t"});
    ASSERT_FALSE(v);
}

// on_state_error: continue: mail for local users goes on without the State (guard off,
// rates skipped, a warning); relaying still fails (4xx), never permitted nor denied 5xx.
TEST_F(Decide, ContinueOnStateErrorNeverOpensRelaying) {
    GuardConfig g{3, 600, 3600};
    g.continue_on_state_error = true;
    engine_ = std::make_unique<Engine>(state_, dir_, subs_, g, limits_);
    session("192.0.2.9", "customer");  // a RADIUS customer: may relay while the State works
    EXPECT_EQ(rcpt("192.0.2.9", "b@example.net").kind, Kind::permit);
    state_.down = true;
    // Local recipients: the ban check, the subscriber lookup and the rates are skipped.
    EXPECT_EQ(rcpt("192.0.2.1", "alice@example.org").kind, Kind::dunno);
    EXPECT_EQ(rcpt("192.0.2.9", "alice@example.org").kind, Kind::dunno);
    EXPECT_EQ(rcpt("192.0.2.1", "alice@example.org", "alice").kind, Kind::dunno);
    // An unknown local user is still refused (the directory says so); it is not counted.
    EXPECT_EQ(rcpt("192.0.2.1", "nobody@example.org").kind, Kind::reject);
    // Relaying: the customer, a SASL user and a stranger all get the error (4xx).
    for (auto [ip, sasl] : {std::pair{"192.0.2.9", ""}, std::pair{"192.0.2.1", "alice"},
                            std::pair{"192.0.2.1", ""}}) {
        auto v = engine_->decide({Stage::rcpt, ip, sasl, "b@example.net", "i", "t"});
        ASSERT_FALSE(v) << ip << " " << sasl << ": " << (v ? v->action() : "");
        EXPECT_EQ(v.error().kind, ErrorKind::temporary);
    }
    // END-OF-MESSAGE permits nothing: its count is skipped.
    EXPECT_EQ(eom("192.0.2.9").kind, Kind::dunno);
    EXPECT_EQ(eom("192.0.2.1", "alice").kind, Kind::dunno);
    // The directory failing is an error whatever on_state_error says.
    dir_.down = true;
    EXPECT_FALSE(engine_->decide({Stage::rcpt, "192.0.2.1", "", "alice@example.org", "i", "t"}));
}

TEST_F(Decide, DirectoryFailureIsATemporaryError) {
    dir_.down = true;
    auto v = engine_->decide({Stage::rcpt, "192.0.2.1", "alice", "b@example.net", "i", "t"});
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().kind, ErrorKind::temporary);
}

TEST_F(Decide, OtherStagesOnlyCheckTheBan) {
    for (auto s : {"CONNECT", "HELO", "MAIL", "DATA", "VRFY", "ETRN", ""}) {
        EXPECT_EQ(stage_from(s), Stage::other);
    }
    EXPECT_EQ(stage_from("RCPT"), Stage::rcpt);
    EXPECT_EQ(stage_from("END-OF-MESSAGE"), Stage::end_of_message);
    auto v = engine_->decide({Stage::other, "192.0.2.1", "", "", "", "t"});
    ASSERT_TRUE(v);
    EXPECT_EQ(v->action(), "DUNNO");
}

// Issue 10: a directory user's own limits replace the site's, for a SASL user and for a
// subscriber whose name is a directory user; others keep the site's.
TEST_F(Decide, AUsersOwnLimitsReplaceTheSites) {
    dir_.users.insert("big@example.org");
    dir_.users.insert("small@example.org");
    dir_.limits["big@example.org"] = UserLimits{10, 100, std::nullopt};
    dir_.limits["small@example.org"] = UserLimits{1, std::nullopt, std::nullopt};
    int sent = 0;
    for (; sent < 12; ++sent) {
        const std::string inst = "b" + std::to_string(sent);
        if (rcpt("192.0.2.10", "bob@example.net", "big@example.org", inst).kind != Kind::permit)
            break;
        (void)eom("192.0.2.10", "big@example.org", inst);
    }
    EXPECT_EQ(sent, 10);  // not the site's 3
    EXPECT_EQ(rcpt("192.0.2.11", "bob@example.net", "small@example.org", "s1").kind, Kind::permit);
    (void)eom("192.0.2.11", "small@example.org", "s1");
    EXPECT_EQ(rcpt("192.0.2.11", "bob@example.net", "small@example.org", "s2").kind, Kind::defer);
    // recipients_per_message is left to the site (4) for big too.
    for (int i = 0; i < 4; ++i)
        EXPECT_EQ(
            rcpt("192.0.2.12", "r" + std::to_string(i) + "@example.net", "alice@example.org", "a1")
                .kind,
            Kind::permit);
    EXPECT_EQ(rcpt("192.0.2.12", "r4@example.net", "alice@example.org", "a1").kind, Kind::defer);
    // A RADIUS subscriber named as a directory user gets that user's limits.
    session("198.51.100.7", "small@example.org");
    EXPECT_EQ(rcpt("198.51.100.7", "bob@example.net", "", "t1").kind, Kind::permit);
    (void)eom("198.51.100.7", "", "t1");
    EXPECT_EQ(rcpt("198.51.100.7", "bob@example.net", "", "t2").kind, Kind::defer);
}
