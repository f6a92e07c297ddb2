// The `blocklists:` section of pampero.yaml: what it reads, and every refusal with FILE:LINE.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "pampero/common/config.hpp"
#include "test_support.hpp"

using namespace pampero;

namespace {

// Per process: ctest runs every test case in its own process, in parallel.
std::string write_config(const std::string& name, const std::string& text) {
    return pampero::testing::write_temp("pampero-blocklist-config-test", name, text);
}

TEST(BlocklistConfig, ReadsTheIssueExample) {
    const std::string path = write_config("ok.yaml", R"(blocklists:
  - zone: zen.spamhaus.org
    target: client_ip
    mode: mirror
    file: mirrors/zen.ip4set
    sync: rsync://rsync.example.net:8873/zen/zen.ip4set
    returns:
      127.0.0.2: { rule: RCVD_IN_SBL, score: 4.0 }
      127.0.0.4: { rule: RCVD_IN_XBL, score: 4.0, description: exploited host }
    action: reject
  - zone: Multi.SURBL.org.
    target: uri_domain
    mode: dns
    resolver: 127.0.0.1:5353
    timeout_ms: 300
    bitmask:
      8:  { rule: URIBL_PH_SURBL, score: 5.0 }
      64: { rule: URIBL_ABUSE_SURBL, score: 4.0 }
  - zone: bl.spamcop.net
    target: received_ip
    mode: dns
    resolver: "[::1]"
    rule: RCVD_IN_BL_SPAMCOP_NET
    score: 1.5
  - zone: tset.test
    target: uri_ip
    file: /var/lib/x/list.ip4tset
    rule: URI_IP_TSET
    score: 1
)");
    auto c = load_config(path);
    ASSERT_TRUE(c) << c.error().message;
    ASSERT_EQ(c->blocklists.size(), 4u);
    const auto& zen = c->blocklists[0];
    EXPECT_EQ(zen.zone, "zen.spamhaus.org");
    EXPECT_EQ(zen.target, BlocklistTarget::client_ip);
    EXPECT_EQ(zen.mode, BlocklistMode::mirror);
    EXPECT_EQ(zen.format, ZoneFormat::ip4set);
    EXPECT_EQ(zen.file,
              (std::filesystem::path(path).parent_path() / "mirrors/zen.ip4set").string());
    EXPECT_EQ(zen.sync, "rsync://rsync.example.net:8873/zen/zen.ip4set");
    ASSERT_EQ(zen.returns.size(), 2u);
    EXPECT_EQ(zen.returns[0].first, 0x7f000002u);
    EXPECT_EQ(zen.returns[0].second.rule, "RCVD_IN_SBL");
    EXPECT_DOUBLE_EQ(zen.returns[1].second.score, 4.0);
    EXPECT_EQ(zen.returns[1].second.description, "exploited host");
    EXPECT_TRUE(zen.reject);
    EXPECT_EQ(zen.where, path + ":2");

    const auto& surbl = c->blocklists[1];
    EXPECT_EQ(surbl.zone, "multi.surbl.org");
    EXPECT_EQ(surbl.mode, BlocklistMode::dns);
    EXPECT_EQ(surbl.resolver_host, "127.0.0.1");
    EXPECT_EQ(surbl.resolver_port, 5353);
    EXPECT_EQ(surbl.timeout_ms, 300);
    ASSERT_EQ(surbl.bitmask.size(), 2u);
    EXPECT_EQ(surbl.bitmask[0].first, 8u);
    EXPECT_EQ(surbl.bitmask[1].second.rule, "URIBL_ABUSE_SURBL");
    EXPECT_FALSE(surbl.reject);

    const auto& spamcop = c->blocklists[2];
    EXPECT_EQ(spamcop.resolver_host, "::1");
    EXPECT_EQ(spamcop.resolver_port, 53);
    EXPECT_EQ(spamcop.timeout_ms, 500);
    ASSERT_TRUE(spamcop.fallback);
    EXPECT_EQ(spamcop.fallback->rule, "RCVD_IN_BL_SPAMCOP_NET");

    EXPECT_EQ(c->blocklists[3].format, ZoneFormat::ip4tset);  // from the extension
}

TEST(BlocklistConfig, AbsentOrEmptyIsNoLists) {
    auto a = load_config(write_config("none.yaml", "{}\n"));
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_TRUE(a->blocklists.empty());
    auto b = load_config(write_config("empty.yaml", "blocklists:\n"));
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_TRUE(b->blocklists.empty());
}

TEST(BlocklistConfig, RefusalsNameFileAndLine) {
    struct Row {
        const char* body;   // items under "blocklists:\n"
        int line;           // expected line in the message
        const char* words;  // expected part of the message
    };
    const Row rows[] = {
        {"  - target: client_ip\n    file: z\n    rule: R\n    score: 1\n", 2,
         "missing required key 'zone'"},
        {"  - zone: z.test\n    file: z\n    rule: R\n    score: 1\n", 2,
         "missing required key 'target'"},
        {"  - zone: z.test\n    target: sender\n    file: z\n    rule: R\n    score: 1\n", 3,
         "must be client_ip"},
        {"  - zone: z..test\n    target: client_ip\n    file: z\n    rule: R\n    score: 1\n", 2,
         "not a DNS name"},
        {"  - zone: z.test\n    target: client_ip\n    mode: ldap\n    rule: R\n    score: 1\n", 4,
         "must be mirror or dns"},
        {"  - zone: z.test\n    target: client_ip\n    rule: R\n    score: 1\n", 2,
         "mirror mode needs 'file'"},
        {"  - zone: z.test\n    target: client_ip\n    mode: dns\n    rule: R\n    score: 1\n", 2,
         "dns mode needs 'resolver'"},
        {"  - zone: z.test\n    target: client_ip\n    file: z\n    resolver: 127.0.0.1\n    rule: "
         "R\n    score: 1\n",
         5, "only for mode: dns"},
        {"  - zone: z.test\n    target: client_ip\n    file: z\n    timeout_ms: 10\n    rule: R\n  "
         "  score: 1\n",
         5, "only for mode: dns"},
        {"  - zone: z.test\n    target: client_ip\n    mode: dns\n    resolver: 127.0.0.1\n    "
         "file: z\n    rule: R\n    score: 1\n",
         6, "only for mode: mirror"},
        {"  - zone: z.test\n    target: client_ip\n    mode: dns\n    resolver: localhost\n    "
         "rule: R\n    score: 1\n",
         5, "numeric address"},
        {"  - zone: z.test\n    target: client_ip\n    mode: dns\n    resolver: 127.0.0.1:0\n    "
         "rule: R\n    score: 1\n",
         5, "port must be"},
        {"  - zone: z.test\n    target: client_ip\n    mode: dns\n    resolver: 127.0.0.1\n    "
         "timeout_ms: 0\n    rule: R\n    score: 1\n",
         6, "between 1 and 10000"},
        {"  - zone: z.test\n    target: client_ip\n    mode: dns\n    resolver: 127.0.0.1\n    "
         "timeout_ms: 10001\n    rule: R\n    score: 1\n",
         6, "between 1 and 10000"},
        {"  - zone: z.test\n    target: client_ip\n    file: z\n", 2,
         "give returns, bitmask or rule+score"},
        {"  - zone: z.test\n    target: client_ip\n    file: z\n    returns:\n      10.0.0.2: { "
         "rule: R, score: 1 }\n",
         6, "not an address in 127.0.0.0/8"},
        {"  - zone: z.test\n    target: client_ip\n    file: z\n    returns:\n      "
         "127.255.255.254: { rule: R, score: 1 }\n",
         6, "error answer"},
        {"  - zone: z.test\n    target: client_ip\n    file: z\n    returns:\n      127.0.0.2: { "
         "rule: bad-name, score: 1 }\n",
         6, "[A-Z0-9_]"},
        {"  - zone: z.test\n    target: client_ip\n    file: z\n    returns:\n      127.0.0.2: { "
         "rule: R }\n",
         6, "missing required key 'score'"},
        {"  - zone: z.test\n    target: client_ip\n    file: z\n    returns:\n      127.0.0.2: { "
         "rule: R, score: 1, weight: 2 }\n",
         6, "unknown key 'weight'"},
        {"  - zone: z.test\n    target: uri_domain\n    file: z.dnset\n    bitmask:\n      1: { "
         "rule: R, score: 1 }\n",
         6, "one bit"},
        {"  - zone: z.test\n    target: uri_domain\n    file: z.dnset\n    bitmask:\n      12: { "
         "rule: R, score: 1 }\n",
         6, "one bit"},
        {"  - zone: z.test\n    target: uri_domain\n    file: z.dnset\n    bitmask:\n      256: { "
         "rule: R, score: 1 }\n",
         6, "one bit"},
        {"  - zone: z.test\n    target: uri_domain\n    file: z.dnset\n    bitmask:\n      2: { "
         "rule: R, score: 1 }\n    returns:\n      127.0.0.2: { rule: S, score: 1 }\n",
         6, "not both"},
        {"  - zone: z.test\n    target: uri_domain\n    file: z.ip4set\n    rule: R\n    score: "
         "1\n",
         2, "needs a dnset"},
        {"  - zone: z.test\n    target: uri_domain\n    file: z.dnset\n    rule: R\n    score: 1\n "
         "   action: reject\n",
         7, "needs target client_ip"},
        {"  - zone: z.test\n    target: client_ip\n    file: z\n    rule: R\n    score: 1\n    "
         "action: drop\n",
         7, "must be reject"},
        {"  - zone: z.test\n    target: client_ip\n    file: z\n    rule: R\n", 2,
         "'rule' needs 'score'"},
        {"  - zone: z.test\n    target: client_ip\n    file: z\n    score: 1\n", 5, "needs 'rule'"},
        {"  - zone: z.test\n    target: client_ip\n    file: z\n    sync: http://x/y/z\n    rule: "
         "R\n    score: 1\n",
         5, "rsync://HOST[:PORT]/MODULE/FILE"},
        {"  - zone: z.test\n    target: client_ip\n    file: z\n    sync: rsync://host/module\n    "
         "rule: R\n    score: 1\n",
         5, "rsync://HOST[:PORT]/MODULE/FILE"},
        {"  - zone: z.test\n    target: client_ip\n    file: z\n    format: cdb\n    rule: R\n    "
         "score: 1\n",
         5, "ip4set, ip4tset or dnset"},
        {"  - zone: z.test\n    target: client_ip\n    file: z\n    rule: R\n    score: 1\n    "
         "colour: red\n",
         7, "unknown key 'colour'"},
        {"  - zone: z.test\n    target: client_ip\n    file: z\n    rule: R\n    score: 1\n"
         "  - zone: z.test\n    target: client_ip\n    file: y\n    rule: R\n    score: 1\n",
         7, "given twice"},
    };
    int i = 0;
    for (const auto& r : rows) {
        const std::string path = write_config("bad" + std::to_string(i++) + ".yaml",
                                              std::string("blocklists:\n") + r.body);
        auto c = load_config(path);
        ASSERT_FALSE(c) << r.body;
        EXPECT_EQ(c.error().kind, ErrorKind::config);
        const std::string want_prefix = path + ":" + std::to_string(r.line) + ":";
        EXPECT_EQ(c.error().message.rfind(want_prefix, 0), 0u) << c.error().message << "\n--\n"
                                                               << r.body;
        EXPECT_NE(c.error().message.find(r.words), std::string::npos)
            << c.error().message << "\n--\n"
            << r.body;
    }
    auto notlist = load_config(write_config("notlist.yaml", "blocklists: {zone: x}\n"));
    ASSERT_FALSE(notlist);
    EXPECT_NE(notlist.error().message.find("must be a list"), std::string::npos);
}

}  // namespace
