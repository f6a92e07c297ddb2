// What only the Redis classifier store does (redis_store.hpp), on a private redis-server
// (test_redis.hpp; a missing redis-server fails): its URL parameters, prefixes that keep
// models apart, what opening finds under a prefix, the failures a scan and a learn meet
// (all temporary; the scan abstains), a restart healing, and one round trip a message
// (a timed note of the per-message cost, printed, not asserted).
#include "pampero/classifier/redis_store.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <ctime>
#include <fstream>
#include <thread>

#include "pampero/classifier/classifier.hpp"
#include "pampero/classifier/scan_classifier.hpp"
#include "test_redis.hpp"

using namespace pampero;
using namespace pampero::classifier;
using pampero::testing::TestRedis;

namespace {

class RedisStoreTest : public ::testing::Test {
  protected:
    void SetUp() override { signal(SIGPIPE, SIG_IGN); }  // as the daemons (redis_client.hpp)
};

std::unique_ptr<ClassifierStore> open_or_fail(const std::string& spec, OpenMode mode) {
    auto s = open_store(spec, mode);
    if (!s) throw std::runtime_error(s.error().message);
    return std::move(s).value();
}

Update learn_one(std::vector<Token> tokens, Class c, const std::string& id) {
    Update u;
    for (const Token t : tokens)
        u.tokens.push_back({t, c == Class::spam ? 1 : 0, c == Class::ham ? 1 : 0});
    (c == Class::spam ? u.spam_messages : u.ham_messages) = 1;
    u.learned = {{id, c}};
    return u;
}

std::string message(const std::string& subject, const std::string& body) {
    return "From: someone@example.org\r\nSubject: " + subject + "\r\n\r\n" + body + "\r\n";
}

TEST_F(RedisStoreTest, PrefixesKeepModelsApartAndReadModeIsReadOnly) {
    TestRedis redis;
    auto a = open_or_fail(redis.url() + "?prefix=bayes:a.example:", OpenMode::create);
    auto b = open_or_fail(redis.url() + "?prefix=bayes:b.example:", OpenMode::create);
    ASSERT_TRUE(a->apply(learn_one({1, 2}, Class::spam, "m1")));
    EXPECT_EQ(a->totals()->spam, 1u);
    EXPECT_EQ(b->totals()->spam, 0u);
    EXPECT_FALSE(b->learned("m1")->has_value());
    EXPECT_EQ(a->name(),
              "redis://127.0.0.1:" + std::to_string(redis.port()) + "/0?prefix=bayes:a.example:");
    // The default prefix, and the keys under it.
    auto d = open_or_fail(redis.url(), OpenMode::create);
    ASSERT_TRUE(d->apply(learn_one({0xabcd000000000001ull}, Class::ham, "h")));
    EXPECT_EQ(redis.cmd({"HGET", "bayes:meta", "ham"}), "1");
    EXPECT_EQ(redis.cmd({"HGET", "bayes:learned", "h"}), "ham");
    EXPECT_EQ(redis.cmd({"HLEN", "bayes:t:abcd"}), "1");
    // A scanner opens read-only: it never writes.
    auto r = open_or_fail(redis.url() + "?prefix=bayes:a.example:", OpenMode::read);
    const std::vector<Token> asked = {2};
    EXPECT_EQ((*r->get(asked))[0].spam, 1u);
    const auto st = r->apply(learn_one({3}, Class::ham, "x"));
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().kind, ErrorKind::temporary);
}

TEST_F(RedisStoreTest, WhatOpeningFindsUnderThePrefix) {
    TestRedis redis;
    // Nothing learned yet: reading or forgetting is temporary (the scanner abstains),
    // learning creates it.
    for (auto mode : {OpenMode::read, OpenMode::write}) {
        auto s = open_store(redis.url(), mode);
        ASSERT_FALSE(s);
        EXPECT_EQ(s.error().kind, ErrorKind::temporary);
        EXPECT_NE(s.error().message.find("nothing learned yet"), std::string::npos);
    }
    EXPECT_EQ(redis.cmd({"EXISTS", "bayes:meta"}), "0");
    ASSERT_TRUE(open_store(redis.url(), OpenMode::create));
    EXPECT_EQ(redis.cmd({"HGET", "bayes:meta", "version"}), "1");
    EXPECT_TRUE(open_store(redis.url(), OpenMode::read));
    // Someone else's key, or another version: a config error naming the store.
    EXPECT_EQ(redis.cmd({"SET", "other:meta", "x"}), "OK");
    auto other = open_store(redis.url() + "?prefix=other:", OpenMode::create);
    ASSERT_FALSE(other);
    EXPECT_EQ(other.error().kind, ErrorKind::config);
    EXPECT_NE(other.error().message.find("not a classifier store"), std::string::npos);
    EXPECT_EQ(redis.cmd({"HSET", "newer:meta", "version", "2"}), "1");
    auto newer = open_store(redis.url() + "?prefix=newer:", OpenMode::read);
    ASSERT_FALSE(newer);
    EXPECT_EQ(newer.error().kind, ErrorKind::config);
    EXPECT_NE(newer.error().message.find("version 2"), std::string::npos);
}

TEST_F(RedisStoreTest, UrlParametersAndThePasswordFile) {
    TestRedis redis({"--requirepass", "s3cret"});
    const auto pw = redis.dir() + "/pw";
    std::ofstream(pw) << "s3cret\n";
    const auto port = std::to_string(redis.port());
    auto s = open_or_fail(
        "redis://127.0.0.1:" + port + "/2?prefix=m%3A&timeout_ms=200&password_file=" + pw,
        OpenMode::create);
    ASSERT_TRUE(s->apply(learn_one({5}, Class::spam, "p")));
    EXPECT_EQ(redis.cmd({"SELECT", "2"}, "s3cret"), "OK");
    EXPECT_EQ(s->name().find("s3cret"), std::string::npos);  // never the password
    auto unix_db2 = open_or_fail(
        "redis+unix:" + redis.socket() + "?db=2&prefix=m:&password_file=" + pw, OpenMode::read);
    EXPECT_EQ(unix_db2->totals()->spam, 1u);
    // A wrong password is temporary (the store may be fixed without a reload).
    auto wrong = open_store("redis://:nope@127.0.0.1:" + port, OpenMode::read);
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error().kind, ErrorKind::temporary);
    for (const std::string bad : {"?colour=blue", "?timeout_ms=5", "?timeout_ms=x", "?prefix",
                                  "?password_file=pw", "?prefix=%zz", "?db=1"}) {
        auto r = open_store("redis://127.0.0.1:" + port + bad, OpenMode::read);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().kind, ErrorKind::config) << bad << ": " << r.error().message;
    }
    auto both =
        open_store("redis://:s3cret@127.0.0.1:" + port + "?password_file=" + pw, OpenMode::read);
    ASSERT_FALSE(both);
    EXPECT_EQ(both.error().kind, ErrorKind::config);
}

// Redis down: every call is temporary, learning included (pamperoctl exits 75); a
// restart heals the same store object without reopening it.
TEST_F(RedisStoreTest, DownIsTemporaryAndARestartHeals) {
    TestRedis redis;
    auto s = open_or_fail(redis.url() + "?timeout_ms=300", OpenMode::create);
    ASSERT_TRUE(s->apply(learn_one({1}, Class::spam, "a")));
    redis.stop();
    const std::vector<Token> asked = {1};
    auto failed = [](const auto& r) { return !r && r.error().kind == ErrorKind::temporary; };
    EXPECT_TRUE(failed(s->get(asked)));
    EXPECT_TRUE(failed(s->learned("a")));
    EXPECT_TRUE(failed(s->stats()));
    EXPECT_TRUE(failed(s->apply(learn_one({2}, Class::ham, "b"))));
    auto opened = open_store(redis.url(), OpenMode::create);
    EXPECT_TRUE(failed(opened));
    redis.start();  // no persistence: back empty
    ASSERT_TRUE(s->apply(learn_one({2}, Class::ham, "b"))) << "the script is loaded again";
    EXPECT_EQ((*s->get(asked))[0].spam, 0u);
    EXPECT_EQ(s->stats()->totals.ham, 1u);
}

// The scan path: a store that went away makes the classifier abstain for that message
// (no line, no exception), and vote again once Redis is back.
TEST_F(RedisStoreTest, TheScanAbstainsWhileRedisIsDown) {
    TestRedis redis;
    const auto spec = redis.url() + "?timeout_ms=300";
    {
        auto w = open_or_fail(spec, OpenMode::create);
        Learner l(*w);
        for (int i = 0; i < 5; ++i) {
            const auto s = scan::parse_message(
                message("cheap pills " + std::to_string(i), "buy cheap pills online now viagra"),
                1 << 20);
            ASSERT_TRUE(l.learn(message_id(s), tokenize(s), Class::spam));
            const auto h = scan::parse_message(
                message("meeting notes " + std::to_string(i), "the agenda for the project meeting"),
                1 << 20);
            ASSERT_TRUE(l.learn(message_id(h), tokenize(h), Class::ham));
        }
        ASSERT_TRUE(l.flush());
    }
    Options o;
    o.min_spam = o.min_ham = 5;
    o.min_tokens = 1;
    auto c = ScanClassifier::open(spec, o);
    ASSERT_TRUE(c) << c.error().message;
    const auto spam = scan::parse_message(message("cheap pills", "buy cheap pills now"), 1 << 20);
    EXPECT_NE((*c)->summary_line(spam).find("classifier BAYES_9"), std::string::npos);
    redis.stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // past the totals' second
    EXPECT_EQ((*c)->summary_line(spam), "");
    redis.start();  // back empty: abstains (too little learned), without failing
    EXPECT_EQ((*c)->summary_line(spam), "");
}

// Scanning, a failed read is not retried for 2 s: a paused Redis (SIGSTOP) costs the
// first scan its timeout, the next ones nothing; once it answers again, reads resume.
TEST_F(RedisStoreTest, AScannerDoesNotAskAFailedRedisAgainAtOnce) {
    TestRedis redis;
    ASSERT_TRUE(
        open_or_fail(redis.url(), OpenMode::create)->apply(learn_one({1}, Class::spam, "a")));
    auto s = open_or_fail(redis.url() + "?timeout_ms=200", OpenMode::read);
    const std::vector<Token> asked = {1};
    ASSERT_TRUE(s->get(asked));
    ASSERT_EQ(::kill(redis.pid(), SIGSTOP), 0);
    auto first = s->get(asked);
    auto second = s->get(asked);
    ::kill(redis.pid(), SIGCONT);
    ASSERT_FALSE(first);
    EXPECT_NE(first.error().message.find("timed out (timeout_ms)"), std::string::npos)
        << first.error().message;
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().kind, ErrorKind::temporary);
    EXPECT_NE(second.error().message.find("not asked again yet"), std::string::npos)
        << second.error().message;
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    auto later = s->get(asked);
    ASSERT_TRUE(later) << later.error().message;
    EXPECT_EQ((*later)[0].spam, 1u);
}

// What a scan costs: one pipelined round trip for ~1,000 tokens. A timed note for the
// report (printed); the assertion is on the round trips, counted by Redis.
TEST_F(RedisStoreTest, OneRoundTripAMessage) {
    TestRedis redis;
    auto s = open_or_fail(redis.url(), OpenMode::create);
    Update u;
    for (Token t = 0; t < 200'000; ++t) u.tokens.push_back({t * 0x9e3779b97f4a7c15ull, 1, 0});
    u.spam_messages = 1;
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(s->apply(u));
    const auto learn_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::vector<Token> asked;
    for (Token t = 0; t < 1000; ++t) asked.push_back((t * 7) * 0x9e3779b97f4a7c15ull);
    ASSERT_TRUE(s->get(asked));  // a connection in the pool
    const auto before = redis.cmd({"INFO", "stats"});
    constexpr int kMessages = 200;
    const std::clock_t cpu0 = std::clock();  // this process: the client's side alone
    t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kMessages; ++i) {
        auto r = s->get(asked);
        ASSERT_TRUE(r);
        ASSERT_EQ((*r)[1].spam, 1u);
    }
    const auto per =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
        kMessages;
    const double cpu_per =
        1e6 * static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC / kMessages;
    const auto after = redis.cmd({"INFO", "stats"});
    const auto count = [](const std::string& info, const std::string& key) {
        const auto at = info.find(key + ":");
        return std::stoll(info.substr(at + key.size() + 1));
    };
    // One HMGET per token and one for the totals, all in kMessages reads.
    EXPECT_EQ(count(after, "total_commands_processed") - count(before, "total_commands_processed"),
              kMessages * 1001 + 1);  // + the INFO itself
    EXPECT_EQ(count(after, "total_net_input_bytes") > count(before, "total_net_input_bytes"), true);
    // Where the time goes: Redis's own accounting (usec, usec_per_call) per command.
    const auto stats = redis.cmd({"INFO", "commandstats"});
    for (const char* cmd : {"cmdstat_evalsha:", "cmdstat_hmget:"}) {
        const auto at = stats.find(cmd);
        if (at != std::string::npos)
            std::printf("%s\n", stats.substr(at, stats.find('\r', at) - at).c_str());
    }
    std::printf(
        "redis store: learning 200,000 tokens in one apply %.0f ms; "
        "a message's 1,000 lookups %.0f us (one round trip), of which %.0f us of the client's "
        "CPU\n",
        learn_ms, per, cpu_per);
}

// A learn batch is bounded per script call (kMaxScriptTokens token deltas, redis_store.hpp):
// many messages go in several EVALSHA, each holding whole messages with their ids, so
// other clients wait ~0.1 s at most and learning everything again counts each once; an
// oversized update from elsewhere is split too.
TEST_F(RedisStoreTest, LearnBatchIsBoundedPerScriptCall) {
    TestRedis redis;
    auto s = open_or_fail(redis.url(), OpenMode::create);
    const auto evalsha_calls = [&] {
        const auto stats = redis.cmd({"INFO", "commandstats"});
        const auto at = stats.find("cmdstat_evalsha:calls=");
        return at == std::string::npos ? 0LL : std::stoll(stats.substr(at + 22));
    };
    // 12 messages of 3,000 distinct tokens: 3 fit in one call (9,000 <= 10,000), 4 do not.
    static_assert(kMaxScriptTokens == 10'000, "the counts below assume it");
    const auto tokens_of = [](Token m) {
        std::vector<Token> t;
        for (Token i = 0; i < 3000; ++i) t.push_back((m * 3000 + i + 1) * 0x9e3779b97f4a7c15ull);
        return t;
    };
    // One call first, so that the script is loaded (its digest is kept per process).
    ASSERT_TRUE(s->apply(learn_one({1}, Class::ham, "warm")));
    const auto before = evalsha_calls();
    Learner learner(*s);
    for (Token m = 0; m < 12; ++m)
        ASSERT_EQ(*learner.learn("m" + std::to_string(m), tokens_of(m), Class::spam),
                  LearnOutcome::learned);
    ASSERT_TRUE(learner.flush());
    EXPECT_EQ(evalsha_calls() - before, 4);
    auto st = s->stats();
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_EQ(st->totals.spam, 12u);
    EXPECT_EQ(st->tokens, 36'001u);
    EXPECT_EQ(st->learned, 13u);
    for (Token m = 0; m < 12; ++m)
        EXPECT_EQ(*learner.learn("m" + std::to_string(m), tokens_of(m), Class::spam),
                  LearnOutcome::already);
    // An update of 25,000 token deltas handed to apply() directly: three calls, the
    // totals and the id with the last.
    Update u;
    for (Token t = 0; t < 25'000; ++t) u.tokens.push_back({(t + 1) * 0x51afd7ed558ccd1dull, 0, 1});
    u.ham_messages = 1;
    u.learned = {{"big", Class::ham}};
    ASSERT_TRUE(s->apply(u));
    EXPECT_EQ(evalsha_calls() - before, 7);
    st = s->stats();
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_EQ(st->totals.ham, 2u);
    EXPECT_EQ(st->tokens, 61'001u);
    EXPECT_EQ(**s->learned("big"), Class::ham);
}

}  // namespace
