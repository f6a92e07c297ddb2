// The `radius:` section of pampero.yaml: defaults, and refusals that name the line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "pampero/common/config.hpp"

using namespace pampero;

namespace {
Result<Config> load(const std::string& text) {
    // One file per test and process: ctest runs each test as its own process, in parallel.
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string path = ::testing::TempDir() + "radius-config-" + info->name() + "-" +
                             std::to_string(::getpid()) + ".yaml";
    std::ofstream(path) << text;
    auto c = load_config(path);
    std::remove(path.c_str());
    return c;
}
}  // namespace

TEST(RadiusConfig, AbsentMeansNoListener) {
    auto c = load("state: memory\n");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_FALSE(c->radius.enabled);
}

TEST(RadiusConfig, DefaultsAndClients) {
    auto c = load(
        "radius:\n  clients:\n    - { address: 127.0.0.1, secret: S }\n"
        "    - { address: 10.0.0.0/8, secret: T }\n");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_TRUE(c->radius.enabled);
    EXPECT_EQ(c->radius.listen, std::vector<std::string>{"127.0.0.1:1813"});
    ASSERT_EQ(c->radius.clients.size(), 2u);
    EXPECT_EQ(c->radius.clients[1].address, "10.0.0.0/8");
    EXPECT_EQ(c->radius.clients[1].secret, "T");
    EXPECT_EQ(c->radius.session_ttl, 86400);
    EXPECT_EQ(c->radius.threads, 2);
    EXPECT_EQ(c->radius.max_sessions, 100000u);
    EXPECT_TRUE(c->radius.admin_socket.empty());
    c = load("radius:\n  max_sessions: 250000\n");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->radius.max_sessions, 250000u);
}

TEST(RadiusConfig, ListenTakesOneOrSeveralAddresses) {
    auto c = load("radius:\n  listen: \"[::1]:1813\"\n");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->radius.listen, std::vector<std::string>{"[::1]:1813"});
    c = load("radius:\n  listen: [127.0.0.1:1813, \"[::1]:11813\"]\n");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->radius.listen.size(), 2u);
}

TEST(RadiusConfig, RefusalsNameTheLine) {
    const char* bad[] = {
        "radius:\n  listen: localhost:1813\n",
        "radius:\n  listen: 127.0.0.1:0\n",
        "radius:\n  listen: 127.0.0.1:65536\n",
        "radius:\n  listen: ::1:1813\n",
        "radius:\n  clients:\n    - { address: 127.0.0.1 }\n",
        "radius:\n  clients:\n    - { address: 127.0.0.1, secret: \"\" }\n",
        "radius:\n  clients:\n    - { address: not-an-ip, secret: S }\n",
        "radius:\n  clients:\n    - { address: 127.0.0.1, secret: S, extra: 1 }\n",
        "radius:\n  session_ttl: 5\n",
        "radius:\n  unknown: 1\n",
        "radius:\n  threads: 0\n",
        "radius:\n  max_sessions: 99\n",
        "radius:\n  clients: { address: 127.0.0.1, secret: S }\n",
    };
    for (const char* text : bad) {
        auto c = load(text);
        ASSERT_FALSE(c) << text;
        EXPECT_NE(c.error().message.find(".yaml:"), std::string::npos) << c.error().message;
    }
}

// Issue 10: the admin socket is the daemon's (bans, counters, sessions): policyd.admin_socket,
// with radius.admin_socket, its older name, still read when the new one is absent.
TEST(RadiusConfig, AdminSocketIsPolicydsAndTheOldNameStillWorks) {
    auto none = load("state: memory\n");
    ASSERT_TRUE(none) << none.error().message;
    EXPECT_TRUE(none->policyd.admin_socket.empty());
    auto c = load("policyd:\n  admin_socket: /run/a.sock\n");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->policyd.admin_socket, "/run/a.sock");
    EXPECT_FALSE(c->radius.enabled);
    auto old = load("radius:\n  admin_socket: /run/old.sock\n");
    ASSERT_TRUE(old) << old.error().message;
    EXPECT_EQ(old->policyd.admin_socket, "/run/old.sock");
    auto both =
        load("policyd:\n  admin_socket: /run/new.sock\nradius:\n  admin_socket: /run/old.sock\n");
    ASSERT_TRUE(both) << both.error().message;
    EXPECT_EQ(both->policyd.admin_socket, "/run/new.sock");
}
