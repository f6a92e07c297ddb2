// Per-domain / per-user classifier models (model_set.hpp): model keys, the fallback to
// the site model, the bounds (open models, models a message), a corrupt or missing model,
// and one message scored differently for two recipients (scan_message_for).
#include "pampero/classifier/model_set.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "bayes_engine.hpp"
#include "pampero/classifier/memory_store.hpp"
#include "pampero/scan/scan_message.hpp"

using namespace pampero;
using namespace pampero::classifier;

namespace {

std::string temp_dir() {
    static int n = 0;
    const auto dir =
        std::filesystem::temp_directory_path() /
        ("pampero-model-set-test-" + std::to_string(getpid()) + "-" + std::to_string(++n));
    std::filesystem::create_directories(dir);
    return dir.string();
}

std::string message(const std::string& subject, const std::string& body) {
    return "From: someone@example.org\r\nSubject: " + subject + "\r\n\r\n" + body + "\r\n";
}

const std::string kPills = message("cheap pills", "buy cheap pills online now viagra");
const std::string kMeeting = message("meeting notes", "the agenda for the project meeting");

// Learns `n` pill messages as `pills` and `n` meeting messages as the other class.
void learn_into(ClassifierStore& store, Class pills, int n = 5) {
    Learner l(store);
    const Class other = pills == Class::spam ? Class::ham : Class::spam;
    for (int i = 0; i < n; ++i) {
        const auto s = scan::parse_message(
            message("cheap pills " + std::to_string(i), "buy cheap pills online now viagra"),
            1 << 20);
        ASSERT_TRUE(l.learn(message_id(s), tokenize(s), pills));
        const auto h = scan::parse_message(
            message("meeting notes " + std::to_string(i), "the agenda for the project meeting"),
            1 << 20);
        ASSERT_TRUE(l.learn(message_id(h), tokenize(h), other));
    }
    ASSERT_TRUE(l.flush());
}

Options few() {
    Options o;
    o.min_spam = o.min_ham = 5;
    return o;
}

// A folder of per-user SQLite models, and a ModelSet over it.
struct Models {
    std::string dir = temp_dir();
    ModelSetOptions mo;
    Models(std::size_t max_open = 256, std::size_t per_message = 8) {
        mo.kind = ModelKind::user;
        mo.store_template = "sqlite:" + dir + "/bayes.d/%m.db";
        mo.max_open_models = max_open;
        mo.max_models_per_message = per_message;
    }
    std::string file(const std::string& address) const {
        return dir + "/bayes.d/" + *model_key(ModelKind::user, address) + ".db";
    }
    void train(const std::string& address, Class pills, int n = 5) const {
        auto s = open_model_store(model_spec(mo.store_template, *model_key(mo.kind, address)),
                                  OpenMode::create);
        ASSERT_TRUE(s) << s.error().message;
        learn_into(**s, pills, n);
    }
    ModelSet set(std::shared_ptr<const ScanClassifier> site = nullptr) const {
        return ModelSet(std::move(site), mo, few());
    }
};

std::shared_ptr<const ScanClassifier> site_model(Class pills) {
    auto store = std::make_shared<MemoryStore>();
    learn_into(*store, pills);
    return std::make_shared<ScanClassifier>(store, few());
}

std::vector<Vote> votes(const ModelSet& m, const std::string& raw, std::vector<std::string> rcpts) {
    return m.votes(scan::parse_message(raw, 1 << 20), rcpts);
}

std::shared_ptr<const scan::Engine> engine() {
    return test::bayes_engine(temp_dir());
}

TEST(ModelKey, DerivedAndEscaped) {
    const std::string long_local(kMaxModelKeyBytes - 8, 'a');  // + "@x.org" fits
    const std::string too_long(kMaxModelKeyBytes, 'a');
    const struct {
        ModelKind kind;
        std::string address;
        std::optional<std::string> key;
    } rows[] = {
        {ModelKind::user, "Bob@Example.COM", "bob@example.com"},
        {ModelKind::domain, "Bob@Example.COM", "example.com"},
        {ModelKind::site, "bob@example.com", std::nullopt},
        {ModelKind::user, "first.last+tag=x_y-z@example.com", "first.last+tag=x_y-z@example.com"},
        {ModelKind::user, "a/b@example.com", "a%2Fb@example.com"},
        {ModelKind::user, "../../etc/passwd@example.com", "%2E.%2F..%2Fetc%2Fpasswd@example.com"},
        {ModelKind::user, ".hidden@example.com", "%2Ehidden@example.com"},
        {ModelKind::domain, "a@..", "%2E."},
        {ModelKind::user, "a\nb\x01@example.com", "a%0Ab%01@example.com"},
        {ModelKind::user, "a:b%c&d?e b@example.com", "a%3Ab%25c%26d%3Fe%20b@example.com"},
        {ModelKind::user,
         "j\xc3\xb6rg@b\xc3\xbc"
         "cher.de",
         "j%C3%B6rg@b%C3%BCcher.de"},
        {ModelKind::domain,
         "x@B\xc3\x9c"
         "CHER.de",
         "b%C3%9Ccher.de"},
        {ModelKind::user, "no-at-sign", std::nullopt},
        {ModelKind::user, "@example.com", std::nullopt},
        {ModelKind::domain, "bob@", std::nullopt},
        {ModelKind::user, "", std::nullopt},
        {ModelKind::user, long_local + "@x.org", long_local + "@x.org"},
        {ModelKind::user, too_long + "@x.org", std::nullopt},
        {ModelKind::user, std::string(66, '/') + "@x.org", std::nullopt},  // escaped: 198 + 6
    };
    for (const auto& r : rows) {
        const auto k = model_key(r.kind, r.address);
        EXPECT_EQ(k, r.key) << r.address;
        if (k) {
            EXPECT_LE(k->size(), kMaxModelKeyBytes);
            EXPECT_EQ(k->find('/'), std::string::npos);
            EXPECT_NE(*k, "..");
        }
    }
    EXPECT_EQ(model_spec("sqlite:/var/lib/pampero/bayes.d/%m.db", "bob@x.org"),
              "sqlite:/var/lib/pampero/bayes.d/bob@x.org.db");
    EXPECT_EQ(model_spec("redis://h?prefix=b:%m:&x=%m", "k"), "redis://h?prefix=b:k:&x=k");
    EXPECT_EQ(model_spec("redis://h?prefix=b:%m:", "a%3Ab"), "redis://h?prefix=b:a%253Ab:");
    EXPECT_EQ(model_spec("sqlite:/d/%m.db", "a%3Ab"), "sqlite:/d/a%3Ab.db");
    EXPECT_EQ(parse_model_kind("user"), ModelKind::user);
    EXPECT_EQ(parse_model_kind("users"), std::nullopt);
}

TEST(ModelSet, OwnModelVotesElseTheSiteModel) {
    Models m;
    m.train("bob@example.org", Class::spam);
    const auto set = m.set(site_model(Class::ham));
    const auto v = votes(set, kPills, {"Bob@Example.org", "carol@example.org"});
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(v[0].model, "user:bob@example.org");
    ASSERT_TRUE(v[0].classification);
    EXPECT_GT(v[0].classification->probability, 0.9);
    EXPECT_EQ(v[1].model, "site (fallback)");
    ASSERT_TRUE(v[1].classification);
    EXPECT_LT(v[1].classification->probability, 0.1);
    // An address that names no model is the site's.
    EXPECT_EQ(votes(set, kPills, {"postmaster"})[0].model, "site");
}

TEST(ModelSet, UndertrainedModelFallsBackToTheSite) {
    Models m;
    m.train("bob@example.org", Class::spam, 2);  // 2 of the 5 needed
    {
        const auto set = m.set(site_model(Class::ham));
        const auto v = votes(set, kPills, {"bob@example.org"});
        EXPECT_EQ(v[0].model, "site (fallback)");
        ASSERT_TRUE(v[0].classification);
        EXPECT_LT(v[0].classification->probability, 0.1);
    }
    // No site model either: nobody votes, no classifier line.
    const auto set = m.set();
    const auto v = votes(set, kPills, {"bob@example.org", "carol@example.org"});
    EXPECT_EQ(v[0].model, "none");
    EXPECT_FALSE(v[0].classification);
    EXPECT_EQ(v[0].line(), "");
    EXPECT_EQ(v[1].model, "none");
}

TEST(ModelSet, OpenModelsAreBoundedLeastRecentlyUsedFirst) {
    Models m(2);
    for (const char* a : {"a@x.org", "b@x.org", "c@x.org"}) m.train(a, Class::spam);
    const auto set = m.set();
    EXPECT_TRUE(set.model("a@x.org"));
    EXPECT_TRUE(set.model("b@x.org"));
    EXPECT_TRUE(set.model("a@x.org"));  // a is now the most recent
    const auto c = set.model("c@x.org");
    EXPECT_TRUE(c);
    EXPECT_EQ(set.open_models(), 2u);
    // b was evicted: removing its file shows it is not open any more; a still is.
    std::filesystem::remove(m.file("b@x.org"));
    std::filesystem::remove(m.file("a@x.org"));
    EXPECT_TRUE(set.model("a@x.org"));
    EXPECT_FALSE(set.model("b@x.org"));
    EXPECT_EQ(set.missing_models(), 1u);
}

TEST(ModelSet, DistinctModelsPerMessageAreBounded) {
    Models m(256, 2);
    for (const char* a : {"a@x.org", "b@x.org", "c@x.org", "d@x.org"}) m.train(a, Class::spam);
    const auto set = m.set(site_model(Class::ham));
    const auto v = votes(set, kPills, {"a@x.org", "b@x.org", "c@x.org", "A@x.org", "d@x.org"});
    ASSERT_EQ(v.size(), 5u);
    EXPECT_EQ(v[0].model, "user:a@x.org");
    EXPECT_EQ(v[1].model, "user:b@x.org");
    EXPECT_EQ(v[2].model, "site");          // past the bound
    EXPECT_EQ(v[3].model, "user:a@x.org");  // a model already consulted costs nothing more
    EXPECT_EQ(v[4].model, "site");
    EXPECT_EQ(set.open_models(), 2u);  // c and d were never opened
}

TEST(ModelSet, MissingModelIsRememberedNotReopenedEachMessage) {
    Models m;
    const auto set = m.set();
    EXPECT_FALSE(set.model("bob@example.org"));
    EXPECT_EQ(set.missing_models(), 1u);
    EXPECT_EQ(set.open_models(), 0u);
    // Trained now: found on the next look after kReopenSeconds, not at once.
    m.train("bob@example.org", Class::spam);
    EXPECT_FALSE(set.model("bob@example.org"));
    // A fresh set (as after a restart) finds it.
    EXPECT_TRUE(m.set().model("bob@example.org"));
}

TEST(ModelSet, CorruptModelAbstainsForItsUserOnly) {
    Models m;
    m.train("carol@example.org", Class::spam);
    {
        std::ofstream f(m.file("bob@example.org"));
        for (int i = 0; i < 300; ++i) f << "this is not a database\n";
    }
    const auto set = m.set(site_model(Class::ham));
    const auto v = votes(set, kPills, {"bob@example.org", "carol@example.org"});
    EXPECT_EQ(v[0].model, "site (fallback)");
    EXPECT_EQ(v[1].model, "user:carol@example.org");
    EXPECT_EQ(set.missing_models(), 1u);
}

TEST(ModelSet, TwoRecipientsTwoVerdictsOneRuleMatch) {
    Models m;
    m.train("bob@example.org", Class::spam);
    m.train("carol@example.org", Class::ham);
    const auto set = m.set();
    const auto e = engine();
    const std::vector<std::string> rcpts = {"bob@example.org", "carol@example.org",
                                            "bob@example.org", "dave@example.org"};
    const auto rv = scan::scan_message_for(*e, nullptr, kPills, "", set, rcpts);
    ASSERT_EQ(rv.verdicts.size(), 3u);
    EXPECT_EQ(rv.of, (std::vector<std::size_t>{0, 1, 0, 2}));
    EXPECT_EQ(rv.models, (std::vector<std::string>{"user:bob@example.org", "user:carol@example.org",
                                                   "user:bob@example.org", "none"}));
    ASSERT_EQ(rv.verdicts[0].hits.size(), 1u);
    EXPECT_EQ(rv.verdicts[0].hits[0].name.rfind("BAYES_9", 0), 0u);
    EXPECT_EQ(rv.verdicts[0].score_set, scan::ScoreSet::classifier);
    ASSERT_EQ(rv.verdicts[1].hits.size(), 1u);
    EXPECT_EQ(rv.verdicts[1].hits[0].name, "BAYES_00");
    EXPECT_GT(rv.verdicts[0].score, rv.verdicts[1].score);
    EXPECT_TRUE(rv.verdicts[2].hits.empty());
    EXPECT_EQ(rv.verdicts[2].score_set, scan::ScoreSet::no_classifier);
    // Each verdict is what the one-model scan gives for that model.
    const auto bob = ScanClassifier::open("sqlite:" + m.file("bob@example.org"), few());
    ASSERT_TRUE(bob);
    const auto alone =
        scan::scan_message(*e, nullptr, kPills, "", nullptr, false, nullptr, bob->get());
    EXPECT_EQ(alone.score, rv.verdicts[0].score);
    ASSERT_EQ(alone.hits.size(), 1u);
    EXPECT_EQ(alone.hits[0].name, rv.verdicts[0].hits[0].name);
}

}  // namespace
