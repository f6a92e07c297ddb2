// scan_message(): the one path the milter and `pamperoctl scan` share. Which Received hop
// is looked up (the newest public one that is not the client; private, loopback, CGNAT,
// reserved, IPv6 and the client's own hops skipped; older hops, which the sender could
// have forged, never), which URI IPs are, and that listings become scored hits.
#include "pampero/scan/scan_message.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "test_support.hpp"

using namespace pampero;
using namespace pampero::scan;

namespace {

std::string write_temp(const std::string& name, const std::string& text) {
    return pampero::testing::write_temp("pampero-scan-message-test", name, text);
}

// Each address answers its own code, so the rule that hits names the address looked up.
const char* kZone =
    "185.199.108.153 :2:\n"  // the real previous hop
    "45.33.32.156 :3:\n"     // a hop older than it: written by the sender, maybe forged
    "192.168.1.5 :4:\n"      // private
    "127.0.0.1 :5:\n"        // loopback
    "100.64.3.3 :6:\n"       // CGNAT
    "91.198.174.192 :7:\n"   // the SMTP client itself
    "203.0.113.9 :8:\n"      // TEST-NET-3 (reserved)
    "10.1.2.3 :9:\n";        // private, in a URI

BlocklistConfig list(BlocklistTarget target, const std::string& prefix) {
    BlocklistConfig c;
    c.zone = prefix + ".test";
    c.target = target;
    c.mode = BlocklistMode::mirror;
    c.format = ZoneFormat::ip4set;
    c.file = write_temp("hops.ip4set", kZone);
    const char* what[] = {"REAL",  "OLDER",  "PRIVATE",  "LOOPBACK",
                          "CGNAT", "CLIENT", "RESERVED", "TEN"};
    for (std::uint32_t i = 0; i < 8; ++i) {
        c.returns.emplace_back(0x7f000002u + i, BlocklistRule{prefix + "_" + what[i], 1.5, ""});
    }
    c.where = "test";
    return c;
}

struct Fixture {
    std::shared_ptr<const Engine> engine;
    std::shared_ptr<Blocklists> lists;
};

Fixture make(std::vector<BlocklistConfig> lists) {
    Fixture f;
    auto rules = RuleSet::load_files({write_temp("rules.yaml", R"(rules:
  - {name: SAYS_HELLO, target: body, regex: 'hello', score: 0.5}
)")});
    EXPECT_TRUE(rules) << rules.error().message;
    auto levels = load_levels(std::string(PAMPERO_SOURCE_DIR) + "/conf/levels.yaml");
    EXPECT_TRUE(levels) << levels.error().message;
    f.engine = std::make_shared<const Engine>(
        *rules, *levels, ScanBounds{.scan_limit = 1 << 20, .max_message = 1 << 20});
    if (!lists.empty()) {
        auto b = Blocklists::create(std::move(lists));
        EXPECT_TRUE(b) << b.error().message;
        f.lists = b ? *b : nullptr;
    }
    return f;
}

std::vector<std::string> hits_with(const Verdict& v, const std::string& prefix) {
    std::vector<std::string> out;
    for (const auto& h : v.hits) {
        if (h.name.rfind(prefix, 0) == 0) out.push_back(h.name);
    }
    return out;
}

using V = std::vector<std::string>;

const char* kClient = "91.198.174.192";

std::string received(const std::string& ip, const std::string& by = "mx.example.org") {
    return "Received: from h.example (h.example [" + ip + "])\r\n\tby " + by +
           " with ESMTP id X; Mon, 23 Nov 2026\r\n";
}

// Newest first, as MTAs prepend: our MX's hop from the client, then the hops inside the
// sender's network, then the previous public relay, then an older hop.
std::string chain() {
    return received(kClient) + received("192.168.1.5") + received("127.0.0.1") +
           received("100.64.3.3") + received("203.0.113.9") +
           "Received: from v6.example (v6.example [IPv6:2001:db8::1]) by relay\r\n" +
           "Received: by internal.example (Postfix, from userid 1000)\r\n" +
           received("185.199.108.153") + received("45.33.32.156") +
           "From: a@example.net\r\nSubject: x\r\n\r\nhello\r\n";
}

}  // namespace

TEST(ScanMessage, LooksUpTheNewestPublicHopThatIsNotTheClient) {
    auto f = make({list(BlocklistTarget::received_ip, "HOP")});
    ASSERT_TRUE(f.lists);
    const Verdict v = scan_message(*f.engine, f.lists.get(), chain(), kClient);
    EXPECT_EQ(hits_with(v, "HOP_"), V{"HOP_REAL"});
    const auto it = std::find_if(v.hits.begin(), v.hits.end(),
                                 [](const RuleHit& h) { return h.name == "HOP_REAL"; });
    ASSERT_NE(it, v.hits.end());
    EXPECT_NE(it->description.find("185.199.108.153 listed in HOP.test"), std::string::npos)
        << it->description;
    // The listing counts in the score, with the rules' hits.
    EXPECT_DOUBLE_EQ(v.score, 1.5 + 0.5);
}

TEST(ScanMessage, AnOlderHopIsNeverLookedUp) {
    // Once the newest public hop is clean, the hop below it (which the sender may have
    // written) does not count, though it is listed.
    auto f = make({list(BlocklistTarget::received_ip, "HOP")});
    ASSERT_TRUE(f.lists);
    const std::string raw = received(kClient) + received("198.51.99.1") + received("45.33.32.156") +
                            "Subject: x\r\n\r\nbody\r\n";
    EXPECT_EQ(hits_with(scan_message(*f.engine, f.lists.get(), raw, kClient), "HOP_"), V{});
}

TEST(ScanMessage, PrivateLoopbackReservedAndClientHopsAloneLookNothingUp) {
    auto f = make({list(BlocklistTarget::received_ip, "HOP")});
    ASSERT_TRUE(f.lists);
    const std::string raw = received(kClient) + received("192.168.1.5") + received("127.0.0.1") +
                            received("100.64.3.3") + received("203.0.113.9") +
                            received("10.1.2.3") + "Subject: x\r\n\r\nbody\r\n";
    EXPECT_EQ(hits_with(scan_message(*f.engine, f.lists.get(), raw, kClient), "HOP_"), V{});
    // The same message from another client: the first hop is public and not the client.
    EXPECT_EQ(hits_with(scan_message(*f.engine, f.lists.get(), raw, "185.199.108.153"), "HOP_"),
              V{"HOP_CLIENT"});
}

TEST(ScanMessage, ClientListsSeeOnlyTheClient) {
    auto f = make({list(BlocklistTarget::client_ip, "CLI")});
    ASSERT_TRUE(f.lists);
    EXPECT_EQ(hits_with(scan_message(*f.engine, f.lists.get(), chain(), kClient), "CLI_"),
              V{"CLI_CLIENT"});
    EXPECT_EQ(hits_with(scan_message(*f.engine, f.lists.get(), chain(), "198.51.99.1"), "CLI_"),
              V{});
}

TEST(ScanMessage, UriIpsAreLookedUp) {
    auto f =
        make({list(BlocklistTarget::uri_ip, "URI"), list(BlocklistTarget::received_ip, "HOP")});
    ASSERT_TRUE(f.lists);
    const std::string raw =
        "Subject: x\r\nContent-Type: text/html\r\n\r\n"
        "<a href=\"http://185.199.108.153/login\">bank</a> "
        "<a href=\"https://[2001:db8::7]/x\">v6</a> "
        "http://45.33.32.156:8080/path hello\r\n";
    const Verdict v = scan_message(*f.engine, f.lists.get(), raw, "198.51.99.1");
    EXPECT_EQ(hits_with(v, "URI_"), (V{"URI_REAL", "URI_OLDER"}));
    // A URI IP is not a hop: the received_ip list sees none of them.
    EXPECT_EQ(hits_with(v, "HOP_"), V{});
    EXPECT_DOUBLE_EQ(v.score, 1.5 + 1.5 + 0.5);
    // Host names are not IPs; a clean IP hits nothing.
    const std::string clean = "Subject: x\r\n\r\nhttp://example.com/ http://198.51.99.1/\r\n";
    EXPECT_EQ(hits_with(scan_message(*f.engine, f.lists.get(), clean, "198.51.99.1"), "URI_"), V{});
}

TEST(ScanMessage, WithoutListsOnlyRulesScore) {
    auto f = make({});
    const Verdict v = scan_message(*f.engine, nullptr, chain(), kClient);
    EXPECT_EQ(hits_with(v, "HOP_"), V{});
    EXPECT_EQ(hits_with(v, "SAYS_HELLO"), V{"SAYS_HELLO"});
    EXPECT_DOUBLE_EQ(v.score, 0.5);
}

TEST(ScanMessage, IsPublicIpv4) {
    for (const char* ip :
         {"185.199.108.153", "8.8.8.8", "100.63.255.255", "100.128.0.0", "172.15.255.255",
          "172.32.0.0", "198.17.255.255", "198.20.0.0", "223.255.255.255"}) {
        EXPECT_TRUE(is_public_ipv4(ip)) << ip;
    }
    for (const char* ip : {"0.1.2.3",
                           "10.0.0.1",
                           "100.64.0.0",
                           "100.127.255.255",
                           "127.0.0.1",
                           "169.254.1.1",
                           "172.16.0.0",
                           "172.31.255.255",
                           "192.0.0.8",
                           "192.0.2.1",
                           "192.168.0.1",
                           "198.18.0.1",
                           "198.19.255.255",
                           "198.51.100.1",
                           "203.0.113.1",
                           "224.0.0.1",
                           "240.0.0.1",
                           "255.255.255.255",
                           "::1",
                           "2001:db8::1",
                           "not-an-ip",
                           "1.2.3",
                           ""}) {
        EXPECT_FALSE(is_public_ipv4(ip)) << ip;
    }
}
