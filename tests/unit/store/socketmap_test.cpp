// The socketmap maps against a real SQLite directory: what Postfix gets for each key.
#include "socketmap.hpp"

#include <gtest/gtest.h>

#include "fixture.hpp"

using namespace pampero;
using namespace pampero::store;
using namespace store_test;

namespace {

TEST(SocketmapRequest, Parse) {
    auto r = parse_socketmap_request("mailbox u@example.com");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->map, "mailbox");
    EXPECT_EQ(r->key, "u@example.com");
    r = parse_socketmap_request("alias a b");  // the key may contain spaces
    ASSERT_TRUE(r);
    EXPECT_EQ(r->key, "a b");
    EXPECT_FALSE(parse_socketmap_request(""));
    EXPECT_FALSE(parse_socketmap_request("mailbox"));
    EXPECT_FALSE(parse_socketmap_request("mailbox "));
    EXPECT_FALSE(parse_socketmap_request(" u@example.com"));
    EXPECT_FALSE(parse_socketmap_request(std::string("mailbox u\0x", 11)));
    EXPECT_FALSE(parse_socketmap_request("mailbox u\n"));
}

TEST(Socketmap, Answers) {
    World w("  nodes:\n    n2: inet:2424@10.1.2.3\n    n3: unix:/run/pampero/lmtp\n");
    ASSERT_TRUE(w.directory->add_user(user("alice@example.com", "n1", "example.com/alice/")).ok());
    ASSERT_TRUE(w.directory->add_user(user("bob@example.com", "n2", "example.com/bob/")).ok());
    ASSERT_TRUE(w.directory->add_user(user("carol@example.com", "n3", "c/")).ok());
    ASSERT_TRUE(w.directory->add_user(user("dave@example.com", "n9", "d/")).ok());
    ASSERT_TRUE(w.directory->add_alias({"team@example.com", "alice@example.com"}).ok());
    ASSERT_TRUE(w.directory->add_alias({"team@example.com", "bob@example.com"}).ok());
    SocketmapService m(*w.directory, *w.holder);

    const std::pair<const char*, const char*> rows[] = {
        {"domain example.com", "OK example.com"},
        {"domain EXAMPLE.com", "OK example.com"},
        {"domain other.org", "NOTFOUND "},
        {"mailbox alice@example.com", "OK example.com/alice/"},
        {"mailbox ALICE@example.com", "OK example.com/alice/"},
        {"mailbox nobody@example.com", "NOTFOUND "},
        {"mailbox @example.com", "NOTFOUND "},  // Postfix's catch-all probe
        {"mailbox alice", "NOTFOUND "},
        {"mailbox ../x@example.com", "NOTFOUND "},
        {"alias team@example.com", "OK alice@example.com,bob@example.com"},
        {"alias alice@example.com", "NOTFOUND "},
        {"transport alice@example.com", "OK lmtp:inet:127.0.0.1:1"},  // this node: store.lmtp
        {"transport bob@example.com", "OK lmtp:inet:10.1.2.3:2424"},
        {"transport carol@example.com", "OK lmtp:unix:/run/pampero/lmtp"},
        {"transport example.com", "NOTFOUND "},
        {"transport team@example.com", "NOTFOUND "},  // aliases are rewritten first
        {"frobnicate alice@example.com", "PERM unknown map 'frobnicate'"},
        {"nokey", "PERM malformed request: expected 'NAME KEY'"},
    };
    for (const auto& [req, want] : rows) EXPECT_EQ(m.answer(req), want) << req;
    // A user on a node this store does not know: defer, do not guess.
    EXPECT_TRUE(m.answer("transport dave@example.com").starts_with("TEMP "));
}

TEST(Socketmap, DirectoryDownIsTemp) {
    World w;
    auto broken = open_directory("sqlite:" + w.dir + "/missing.db", OpenMode::read_only);
    ASSERT_TRUE(broken.ok());
    SocketmapService m(**broken, *w.holder);
    for (const char* req : {"domain example.com", "mailbox a@example.com", "alias a@example.com",
                            "transport a@example.com"}) {
        EXPECT_TRUE(m.answer(req).starts_with("TEMP ")) << req;
    }
}

}  // namespace
