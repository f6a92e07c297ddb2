// The contract every classifier store keeps (memory, SQLite, and Redis on a private
// redis-server: a missing redis-server fails, never skips), then what only the SQLite
// file does: persistence, read-only opening, and the errors for a missing, foreign or
// corrupt file. What only Redis does: redis_store_test.cpp.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "pampero/classifier/memory_store.hpp"
#include "pampero/classifier/redis_store.hpp"
#include "pampero/classifier/sqlite_store.hpp"
#include "test_redis.hpp"

using namespace pampero;
using namespace pampero::classifier;

namespace {

std::string temp_path(const std::string& name) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("pampero-classifier-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const auto p = dir / name;
    std::filesystem::remove(p);
    std::filesystem::remove(p.string() + "-wal");
    std::filesystem::remove(p.string() + "-shm");
    return p.string();
}

struct MemoryFactory {
    static std::unique_ptr<ClassifierStore> make() { return std::make_unique<MemoryStore>(); }
};
struct SqliteFactory {
    static std::unique_ptr<ClassifierStore> make() {
        static int n = 0;
        auto s = SqliteStore::open(temp_path("contract" + std::to_string(++n) + ".db"),
                                   OpenMode::create);
        EXPECT_TRUE(s) << s.error().message;
        return std::move(s).value();
    }
};

// One redis-server for the suite; each store under a prefix of its own (which also shows
// that models under different prefixes do not see each other).
struct RedisFactory {
    static std::unique_ptr<ClassifierStore> make() {
        static pampero::testing::TestRedis redis;
        static int n = 0;
        auto s = open_store(redis.url() + "?prefix=contract" + std::to_string(++n) + ":",
                            OpenMode::create);
        EXPECT_TRUE(s) << s.error().message;
        return std::move(s).value();
    }
};

template <typename F>
class StoreContract : public ::testing::Test {};
using Backends = ::testing::Types<MemoryFactory, SqliteFactory, RedisFactory>;
TYPED_TEST_SUITE(StoreContract, Backends);

const Token kBig = 0xfedcba9876543210ull;  // high bit set: stored as a negative integer

TYPED_TEST(StoreContract, EmptyStoreKnowsNothing) {
    auto s = TypeParam::make();
    const std::vector<Token> asked = {1, kBig};
    const auto got = *s->get(asked);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].spam + got[0].ham + got[1].spam + got[1].ham, 0u);
    EXPECT_EQ(s->totals()->spam + s->totals()->ham, 0u);
    EXPECT_FALSE(s->learned("x")->has_value());
    EXPECT_EQ(s->stats()->tokens, 0u);
}

TYPED_TEST(StoreContract, BatchedIncrementsAndBatchedReadInOrder) {
    auto s = TypeParam::make();
    Update u;
    u.tokens = {{1, 2, 0}, {kBig, 0, 3}, {7, 1, 1}};
    u.spam_messages = 2;
    u.ham_messages = 3;
    u.learned = {{"a", Class::spam}, {"b", Class::ham}};
    ASSERT_TRUE(s->apply(u));
    ASSERT_TRUE(s->apply(u));
    const std::vector<Token> asked = {7, 99, kBig, 1};
    const auto got = *s->get(asked);
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[0].spam, 2u);
    EXPECT_EQ(got[0].ham, 2u);
    EXPECT_EQ(got[1].spam + got[1].ham, 0u);
    EXPECT_EQ(got[2].ham, 6u);
    EXPECT_EQ(got[3].spam, 4u);
    EXPECT_EQ(s->totals()->spam, 4u);
    EXPECT_EQ(s->totals()->ham, 6u);
    EXPECT_EQ(**s->learned("a"), Class::spam);
    EXPECT_EQ(**s->learned("b"), Class::ham);
    const auto st = *s->stats();
    EXPECT_EQ(st.tokens, 3u);
    EXPECT_EQ(st.learned, 2u);
}

TYPED_TEST(StoreContract, DecrementsStopAtZeroAndEmptyTokensGo) {
    auto s = TypeParam::make();
    Update up;
    up.tokens = {{1, 1, 0}, {2, 1, 1}};
    up.spam_messages = 1;
    ASSERT_TRUE(s->apply(up));
    Update down;
    down.tokens = {{1, -5, 0}, {2, -1, 0}};
    down.spam_messages = -3;
    ASSERT_TRUE(s->apply(down));
    const std::vector<Token> asked = {1, 2};
    const auto got = *s->get(asked);
    EXPECT_EQ(got[0].spam, 0u);
    EXPECT_EQ(got[1].spam, 0u);
    EXPECT_EQ(got[1].ham, 1u);
    EXPECT_EQ(s->totals()->spam, 0u);
    EXPECT_EQ(s->stats()->tokens, 1u);  // token 1 has no count left
}

TYPED_TEST(StoreContract, LearnedIdsChangeClassAndGo) {
    auto s = TypeParam::make();
    Update u;
    u.learned = {{"m", Class::spam}};
    ASSERT_TRUE(s->apply(u));
    u.learned = {{"m", Class::ham}};
    ASSERT_TRUE(s->apply(u));
    EXPECT_EQ(**s->learned("m"), Class::ham);
    u.learned = {{"m", std::nullopt}};
    ASSERT_TRUE(s->apply(u));
    EXPECT_FALSE(s->learned("m")->has_value());
}

TEST(SqliteStore, PersistsAndReopensReadOnly) {
    const auto path = temp_path("persist.db");
    {
        auto s = SqliteStore::open(path, OpenMode::create);
        ASSERT_TRUE(s) << s.error().message;
        Update u;
        u.tokens = {{kBig, 1, 0}};
        u.spam_messages = 1;
        u.learned = {{"m", Class::spam}};
        ASSERT_TRUE((*s)->apply(u));
    }
    auto r = open_store("sqlite:" + path, OpenMode::read);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ((*r)->totals()->spam, 1u);
    const std::vector<Token> asked = {kBig};
    EXPECT_EQ((*(*r)->get(asked))[0].spam, 1u);
    EXPECT_EQ((*r)->name(), "sqlite:" + path);
    // Read-only: a scanner never writes.
    Update u;
    u.spam_messages = 1;
    const auto st = (*r)->apply(u);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().kind, ErrorKind::temporary);
}

TEST(SqliteStore, MissingFileIsTemporaryUnlessCreating) {
    const auto path = temp_path("missing.db");
    for (auto mode : {OpenMode::read, OpenMode::write}) {
        auto r = open_store("sqlite:" + path, mode);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().kind, ErrorKind::temporary);
        EXPECT_NE(r.error().message.find(path), std::string::npos);
        EXPECT_FALSE(std::filesystem::exists(path));  // scanning or forgetting never creates it
    }
}

TEST(SqliteStore, WriteModeChangesAnExistingStore) {
    // `learn forget` opens read-write without creating (it was opened read-only once,
    // and every forget failed with "attempt to write a readonly database").
    const auto path = temp_path("forget.db");
    ASSERT_TRUE(SqliteStore::open(path, OpenMode::create));
    auto w = open_store("sqlite:" + path, OpenMode::write);
    ASSERT_TRUE(w) << w.error().message;
    Update u;
    u.ham_messages = 1;
    EXPECT_TRUE((*w)->apply(u));
    EXPECT_EQ((*w)->totals()->ham, 1u);
}

TEST(SqliteStore, ANewStoreIsGroupWritableWhateverTheUmask) {
    // root creates bayes.db with `pamperoctl learn`; the mail user then learns from IMAP
    // moves through Dovecot and must write it (and its -wal) as a member of the group.
    const auto path = temp_path("group.db");
    const mode_t old = ::umask(022);
    auto s = SqliteStore::open(path, OpenMode::create);
    ::umask(old);
    ASSERT_TRUE(s) << s.error().message;
    Update u;
    u.spam_messages = 1;
    ASSERT_TRUE((*s)->apply(u));
    for (const auto& p : {path, path + "-wal"}) {
        struct stat st {};
        ASSERT_EQ(::stat(p.c_str(), &st), 0) << p;
        EXPECT_EQ(st.st_mode & (S_IRGRP | S_IWGRP), S_IRGRP | S_IWGRP) << p;
        EXPECT_EQ(st.st_mode & S_IWOTH, 0u) << p;
    }
}

TEST(SqliteStore, GarbageFileIsConfigErrorNamingIt) {
    const auto path = temp_path("garbage.db");
    std::ofstream(path) << std::string(8192, 'x');
    for (auto mode : {OpenMode::read, OpenMode::write, OpenMode::create}) {
        auto r = open_store("sqlite:" + path, mode);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().kind, ErrorKind::config) << r.error().message;
        EXPECT_NE(r.error().message.find(path), std::string::npos) << r.error().message;
    }
}

TEST(SqliteStore, ForeignDatabaseAndOtherVersionAreConfigErrors) {
    const auto foreign = temp_path("foreign.db");
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(foreign.c_str(), &db), SQLITE_OK);
    sqlite3_exec(db, "CREATE TABLE users(x)", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    auto r = open_store("sqlite:" + foreign, OpenMode::create);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::config);
    EXPECT_NE(r.error().message.find("not a classifier store"), std::string::npos);

    const auto newer = temp_path("newer.db");
    ASSERT_TRUE(SqliteStore::open(newer, OpenMode::create));
    ASSERT_EQ(sqlite3_open(newer.c_str(), &db), SQLITE_OK);
    sqlite3_exec(db, "UPDATE bayes_meta SET value=2 WHERE key='version'", nullptr, nullptr,
                 nullptr);
    sqlite3_close(db);
    r = open_store("sqlite:" + newer, OpenMode::read);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::config);
    EXPECT_NE(r.error().message.find("version 2"), std::string::npos) << r.error().message;
}

TEST(OpenStore, Schemes) {
    EXPECT_EQ((*open_store("memory", OpenMode::read))->name(), "memory");
    auto redis = open_store("redis://127.0.0.1:6379?colour=blue", OpenMode::read);
    ASSERT_FALSE(redis);
    EXPECT_EQ(redis.error().kind, ErrorKind::config);
    EXPECT_FALSE(open_store("bdb:/x", OpenMode::read));
}

}  // namespace

namespace {

TEST(SqliteStore, CopyToMemoryAndDataVersion) {
    // What ScanClassifier scans from: a copy equal to the file, refreshed when another
    // connection (pamperoctl learn) has committed.
    const auto path = temp_path("copy.db");
    auto writer = SqliteStore::open(path, OpenMode::create);
    ASSERT_TRUE(writer);
    Update u;
    u.tokens = {{1, 2, 3}, {kBig, 4, 0}};
    u.spam_messages = 4;
    u.ham_messages = 3;
    ASSERT_TRUE((*writer)->apply(u));
    auto reader = SqliteStore::open(path, OpenMode::read);
    ASSERT_TRUE(reader);
    const auto v1 = *(*reader)->data_version();
    auto copy = (*reader)->copy_to_memory(10);
    ASSERT_TRUE(copy && *copy);
    const std::vector<Token> asked = {kBig, 1, 5};
    const auto a = *(*copy)->get(asked);
    const auto b = *(*reader)->get(asked);
    for (std::size_t i = 0; i < asked.size(); ++i) {
        EXPECT_EQ(a[i].spam, b[i].spam);
        EXPECT_EQ(a[i].ham, b[i].ham);
    }
    EXPECT_EQ((*copy)->totals()->spam, 4u);
    EXPECT_EQ((*copy)->totals()->ham, 3u);
    EXPECT_EQ(*(*reader)->data_version(), v1);  // nothing changed
    ASSERT_TRUE((*writer)->apply(u));
    EXPECT_NE(*(*reader)->data_version(), v1);  // the other connection committed
    // Too many tokens for the bound: no copy, read in place.
    auto none = (*reader)->copy_to_memory(1);
    ASSERT_TRUE(none);
    EXPECT_EQ(none->get(), nullptr);
}

}  // namespace

namespace {

TEST(FrozenStore, SameCountsAsTheStoreItCopies) {
    MemoryStore m;
    Update u;
    for (Token t = 1; t <= 5000; ++t) u.tokens.push_back({t * 0x10001, int(t % 7), int(t % 3)});
    u.tokens.push_back({kBig, 1, 0});
    u.tokens.push_back({0, 2, 2});  // token 0 is a token like any other
    u.spam_messages = 9;
    u.ham_messages = 8;
    ASSERT_TRUE(m.apply(u));
    const auto f = FrozenStore::copy_of(m);
    std::vector<Token> asked;
    for (Token t = 0; t <= 5100; ++t) asked.push_back(t * 0x10001);  // known and unknown
    asked.push_back(kBig);
    const auto a = *m.get(asked);
    const auto b = *f->get(asked);
    for (std::size_t i = 0; i < asked.size(); ++i) {
        EXPECT_EQ(a[i].spam, b[i].spam) << asked[i];
        EXPECT_EQ(a[i].ham, b[i].ham) << asked[i];
    }
    EXPECT_EQ(f->totals()->spam, 9u);
    EXPECT_EQ(f->stats()->tokens, m.stats()->tokens);
    EXPECT_FALSE(f->apply(u));
    EXPECT_FALSE(f->learned("x"));
}

// The scan's table: 8-byte entries at most 3/4 full (about one core's L2 for the corpus
// model), counts through a table of the distinct pairs. Every known token answers its own
// counts, unknown ones {0, 0} (fingerprints collide with probability ~2^-32 a probe: none
// among these fixed tokens), including runs that wrap past the table's end.
TEST(FrozenStore, DenseTableAnswersKnownAndUnknownTokens) {
    std::uint64_t x = 0x243f6a8885a308d3ull;
    auto next = [&] {  // splitmix64
        std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    };
    std::vector<std::pair<Token, TokenCounts>> entries;
    std::vector<Token> unknown;
    constexpr std::size_t kTokens = 100000;
    for (std::size_t i = 0; i < kTokens; ++i) {
        const Token t = next();
        // Mostly small counts, as learned tokens are, and some beyond 32 bits.
        TokenCounts c{next() % 5, next() % 4};
        if (i % 1000 == 0) c = {std::uint64_t{1} << 40, i};
        if (c.spam == 0 && c.ham == 0) c.ham = 1;
        entries.emplace_back(t, c);
        unknown.push_back(next());
    }
    const FrozenStore f({10, 10}, entries);
    EXPECT_EQ(f.stats()->tokens, kTokens);
    EXPECT_LE(f.table_bytes(), kTokens * 11);  // 8 bytes an entry at 3/4 load (was 16 at 1/2)
    EXPECT_LT(f.distinct_counts(), 200u);
    std::vector<Token> asked;
    for (const auto& e : entries) asked.push_back(e.first);
    asked.insert(asked.end(), unknown.begin(), unknown.end());
    const auto got = *f.get(asked);
    for (std::size_t i = 0; i < kTokens; ++i) {
        const std::uint64_t spam = std::min<std::uint64_t>(entries[i].second.spam, 0xffffffffu);
        ASSERT_EQ(got[i].spam, spam) << i;
        ASSERT_EQ(got[i].ham, entries[i].second.ham) << i;
        ASSERT_EQ(got[kTokens + i].spam, 0u) << i;
        ASSERT_EQ(got[kTokens + i].ham, 0u) << i;
    }
    // A table of one line (8 slots).
    const FrozenStore small({1, 1}, {{1, {1, 0}}, {2, {0, 1}}, {3, {2, 2}}});
    const auto s = *small.get(std::vector<Token>{3, 2, 1, 4});
    EXPECT_EQ(s[0].spam, 2u);
    EXPECT_EQ(s[1].ham, 1u);
    EXPECT_EQ(s[2].spam, 1u);
    EXPECT_EQ(s[3].spam + s[3].ham, 0u);
}

}  // namespace
