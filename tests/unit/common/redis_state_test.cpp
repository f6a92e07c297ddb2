// What only the Redis state has (redis_state.hpp): its URLs, its options, and the ways a
// real redis-server fails (restart, wrong password, a pause, a key of the wrong type).
// The contract every backend keeps is in state_test.cpp.
#include "pampero/common/redis_state.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "pampero/common/config.hpp"
#include "test_redis.hpp"

using namespace pampero;
using namespace std::chrono_literals;
using pampero::testing::TestRedis;

namespace {

std::unique_ptr<State> open_or_fail(const std::string& spec) {
    auto s = open_state(spec);
    if (!s) throw std::runtime_error(s.error().message);
    return std::move(s).value();
}

std::unique_ptr<State> open_redis(const std::string& url, std::chrono::milliseconds timeout,
                                  std::size_t pool = 16) {
    auto t = parse_redis_url(url);
    if (!t) throw std::runtime_error(t.error().message);
    RedisOptions o;
    o.timeout = timeout;
    o.pool = pool;
    return make_redis_state(*t, o);
}

// The kind of a failed call; nullopt when it succeeded.
template <class R>
std::optional<ErrorKind> failed_as(const R& r) {
    if (r) return std::nullopt;
    return r.error().kind;
}

class RedisState : public ::testing::Test {
  protected:
    void SetUp() override { signal(SIGPIPE, SIG_IGN); }  // as the daemons (redis_state.hpp)
};

}  // namespace

TEST(RedisUrl, Forms) {
    struct Row {
        const char* url;
        const char* host;
        int port;
        const char* path;
        int db;
        const char* user;
        const char* password;
    };
    const Row rows[] = {
        {"redis://127.0.0.1", "127.0.0.1", 6379, "", 0, "", ""},
        {"redis://127.0.0.1:6380/", "127.0.0.1", 6380, "", 0, "", ""},
        {"redis://redis.example:1/15", "redis.example", 1, "", 15, "", ""},
        {"redis://[::1]:7000/2", "::1", 7000, "", 2, "", ""},
        {"redis://:s3cret@10.0.0.5:6379/1", "10.0.0.5", 6379, "", 1, "", "s3cret"},
        {"redis://pampero:p%40ss%3Aw@h:2/0", "h", 2, "", 0, "pampero", "p@ss:w"},
        {"redis+unix:/run/redis/redis.sock", "", 6379, "/run/redis/redis.sock", 0, "", ""},
        {"redis+unix:///run/redis.sock?db=4", "", 6379, "/run/redis.sock", 4, "", ""},
    };
    for (const auto& r : rows) {
        auto t = parse_redis_url(r.url);
        ASSERT_TRUE(t) << r.url << ": " << t.error().message;
        EXPECT_EQ(t->host, r.host) << r.url;
        EXPECT_EQ(t->port, r.port) << r.url;
        EXPECT_EQ(t->unix_path, r.path) << r.url;
        EXPECT_EQ(t->db, r.db) << r.url;
        EXPECT_EQ(t->user, r.user) << r.url;
        EXPECT_EQ(t->password, r.password) << r.url;
    }
}

TEST(RedisUrl, MalformedIsAConfigError) {
    for (const char* url :
         {"redis://", "redis://:6379", "redis://h:0", "redis://h:65536", "redis://h:x",
          "redis://h/x", "redis://h/-1", "redis://pw@h", "redis://:@h", "redis://:%zz@h",
          "redis://[::1", "redis://[::1]x", "redis+unix:", "redis+unix:relative.sock",
          "redis+unix:/s.sock?database=1", "redis+unix:/s.sock?db=", "rediss://h"}) {
        auto s = open_state(url);
        ASSERT_FALSE(s) << url;
        EXPECT_EQ(s.error().kind, ErrorKind::config) << url;
    }
}

TEST_F(RedisState, DatabasesPrefixAndThePasswordFileFromTheConfig) {
    TestRedis redis({"--requirepass", "pw0rd"});
    const auto pwfile = redis.dir() + "/password";
    std::ofstream(pwfile) << "pw0rd\n";
    Config cfg;
    cfg.state = "redis+unix:" + redis.socket() + "?db=3";
    cfg.state_password_file = pwfile;
    cfg.state_prefix = "pampero:";
    auto s = open_state(cfg);
    ASSERT_TRUE(s) << s.error().message;
    ASSERT_TRUE((*s)->put("ban:192.0.2.1", "5", 60s));
    ASSERT_TRUE((*s)->set_add("bans", "192.0.2.1", 60s));
    // The same database over TCP, the password in the URL and no prefix.
    auto tcp = open_or_fail("redis://:pw0rd@127.0.0.1:" + std::to_string(redis.port()) + "/3");
    EXPECT_EQ((*tcp->get("pampero:ban:192.0.2.1"))->c_str(), std::string("5"));
    EXPECT_FALSE(tcp->get("ban:192.0.2.1")->has_value());
    EXPECT_EQ(*tcp->set_members("pampero:bans"), std::vector<std::string>{"192.0.2.1"});
    auto db0 = open_or_fail("redis://:pw0rd@127.0.0.1:" + std::to_string(redis.port()));
    EXPECT_FALSE(db0->get("pampero:ban:192.0.2.1")->has_value());

    cfg.state = "redis://:pw0rd@127.0.0.1:" + std::to_string(redis.port());
    auto both = open_state(cfg);  // a password in the URL and in the file
    ASSERT_FALSE(both);
    EXPECT_EQ(both.error().kind, ErrorKind::config);
    cfg.state = "redis://127.0.0.1:" + std::to_string(redis.port());
    cfg.state_password_file = redis.dir() + "/absent";
    auto absent = open_state(cfg);
    ASSERT_FALSE(absent);
    EXPECT_EQ(absent.error().kind, ErrorKind::config);
}

// A Redis restart: every call during the outage fails as temporary (4xx upstream, never a
// permit), and the same State serves again once Redis is back, without being reopened:
// the first call after the restart included (its idle connections are dead and replaced).
TEST_F(RedisState, ARestartHealsWithoutReopening) {
    TestRedis redis;
    auto s = open_redis(redis.url(), 500ms, 4);
    ASSERT_TRUE(s->put("ban:a", "1", 60s));
    ASSERT_TRUE(s->set_add("bans", "a", 60s));  // the scripts are loaded now

    redis.stop();
    EXPECT_EQ(failed_as(s->get("ban:a")), ErrorKind::temporary);
    EXPECT_EQ(failed_as(s->increment("unk:a", 60s)), ErrorKind::temporary);
    EXPECT_EQ(failed_as(s->put("ban:a", "1", 60s)), ErrorKind::temporary);
    EXPECT_EQ(failed_as(s->remove("ban:a")), ErrorKind::temporary);
    EXPECT_EQ(failed_as(s->set_add("bans", "a", 60s)), ErrorKind::temporary);
    EXPECT_EQ(failed_as(s->set_remove("bans", "a")), ErrorKind::temporary);
    EXPECT_EQ(failed_as(s->set_members("bans")), ErrorKind::temporary);
    EXPECT_EQ(failed_as(s->ttl("ban:a")), ErrorKind::temporary);

    redis.start();  // no persistence: it comes back empty, and without our scripts
    EXPECT_FALSE(s->get("ban:a")->has_value());
    ASSERT_TRUE(s->set_add("bans", "b", 60s)) << "NOSCRIPT after a restart is reloaded";
    EXPECT_EQ(*s->set_members("bans"), std::vector<std::string>{"b"});
    EXPECT_EQ(*s->increment("unk:a", 60s), 1);

    // Idle connections whose server went away while nobody called: the first call after
    // the restart succeeds, with no failed call in between.
    ASSERT_TRUE(s->put("k", "v", 60s));
    redis.stop();
    redis.start();
    EXPECT_TRUE(s->put("k", "v2", 60s));
    EXPECT_EQ(s->get("k")->value(), "v2");
}

TEST_F(RedisState, AWrongOrMissingPasswordIsTemporary) {
    TestRedis redis({"--requirepass", "right"});
    const auto at = "@127.0.0.1:" + std::to_string(redis.port());
    auto wrong = open_or_fail("redis://:wrong" + at);
    auto r = wrong->get("k");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::temporary);
    EXPECT_NE(r.error().message.find("AUTH"), std::string::npos) << r.error().message;
    auto none = open_or_fail(redis.url());
    auto n = none->put("k", "v", 10s);
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().kind, ErrorKind::temporary);
    EXPECT_NE(n.error().message.find("NOAUTH"), std::string::npos) << n.error().message;
    auto right = open_or_fail("redis://:right" + at);
    ASSERT_TRUE(right->put("k", "v", 10s));
    EXPECT_EQ(right->get("k")->value(), "v");
}

// A Redis that stops answering (SIGSTOP: accepts nothing, answers nothing) costs a call
// its timeout, not forever; once it runs again, the next calls are served.
TEST_F(RedisState, APausedRedisTimesOut) {
    TestRedis redis;
    auto s = open_redis(redis.url(), 300ms, 2);
    ASSERT_TRUE(s->put("k", "v", 60s));  // a pooled, idle connection exists
    ASSERT_EQ(::kill(redis.pid(), SIGSTOP), 0);
    const auto start = std::chrono::steady_clock::now();
    auto on_pooled = s->get("k");
    auto on_pooled_too = s->increment("c", 60s);
    const auto took = std::chrono::steady_clock::now() - start;
    ::kill(redis.pid(), SIGCONT);
    ASSERT_FALSE(on_pooled);
    EXPECT_EQ(on_pooled.error().kind, ErrorKind::temporary);
    EXPECT_NE(on_pooled.error().message.find("timed out"), std::string::npos)
        << on_pooled.error().message;
    ASSERT_FALSE(on_pooled_too);
    EXPECT_EQ(on_pooled_too.error().kind, ErrorKind::temporary);
    EXPECT_LT(took, 5s);  // a bound (2 x 300 ms expected), not a measurement
    EXPECT_EQ(s->get("k")->value(), "v");
}

TEST_F(RedisState, AKeyOfTheWrongTypeIsTemporary) {
    TestRedis redis;
    auto s = open_or_fail(redis.url());
    ASSERT_TRUE(s->set_add("z", "m", 60s));
    EXPECT_EQ(failed_as(s->get("z")), ErrorKind::temporary);
    EXPECT_EQ(failed_as(s->increment("z", 60s)), ErrorKind::temporary);
    ASSERT_TRUE(s->put("str", "text", 60s));
    EXPECT_EQ(failed_as(s->set_add("str", "m", 60s)), ErrorKind::temporary);
    EXPECT_EQ(failed_as(s->set_members("str")), ErrorKind::temporary);
    EXPECT_EQ(failed_as(s->set_remove("str", "m")), ErrorKind::temporary);
    EXPECT_EQ(failed_as(s->increment("str", 60s)), ErrorKind::temporary);
    EXPECT_EQ(redis.cmd({"SET", "forever", "1"}), "OK");  // no expiry: not pampero's
    EXPECT_EQ(failed_as(s->ttl("forever")), ErrorKind::temporary);
    EXPECT_EQ(s->get("str")->value(), "text");  // a failed call broke nothing
}

// Many threads share a bounded pool: every call is served, never more connections.
TEST_F(RedisState, ThePoolIsBoundedAndShared) {
    TestRedis redis;
    auto s = open_redis(redis.url(), 5000ms, 3);
    constexpr int kThreads = 8, kCalls = 200;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < kCalls; ++i)
                if (!s->increment("shared", 600s)) ++failures;
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(s->get("shared")->value(), std::to_string(kThreads * kCalls));
    // connected_clients counts the 3 pooled connections and the one asking.
    const auto info = redis.cmd({"INFO", "clients"});
    EXPECT_NE(info.find("connected_clients:4\r"), std::string::npos) << info;
    const auto ttl = s->ttl("shared");
    ASSERT_TRUE(ttl && ttl->has_value());
    EXPECT_GT(**ttl, 590s);  // the window was set once, by the call that created the key
}

TEST(RedisConfig, StateKeysReadDefaultedAndBounded) {
    char tmpl[] = "/tmp/pampero-redis-config-XXXXXX";
    ASSERT_TRUE(::mkdtemp(tmpl));
    const std::string dir = tmpl;
    const auto load = [&](const std::string& text) {
        std::ofstream(dir + "/pampero.yaml") << text;
        return load_config(dir + "/pampero.yaml");
    };
    auto d = load("{}\n");
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d->state_password_file, "");
    EXPECT_EQ(d->state_timeout_ms, 500);
    EXPECT_EQ(d->state_pool, 16);
    EXPECT_EQ(d->state_prefix, "");
    auto c = load(
        "state: redis://127.0.0.1:6379/2\nstate_password_file: redis.pw\n"
        "state_timeout_ms: 200\nstate_pool: 4\nstate_prefix: \"mx:\"\n");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->state, "redis://127.0.0.1:6379/2");
    EXPECT_EQ(c->state_password_file, dir + "/redis.pw");  // relative to the file
    EXPECT_EQ(c->state_timeout_ms, 200);
    EXPECT_EQ(c->state_pool, 4);
    EXPECT_EQ(c->state_prefix, "mx:");
    for (const char* bad : {"state_timeout_ms: 5\n", "state_timeout_ms: 60001\n", "state_pool: 0\n",
                            "state_pool: 1025\n"}) {
        auto r = load(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().kind, ErrorKind::config) << bad;
    }
    std::filesystem::remove_all(dir);
}
