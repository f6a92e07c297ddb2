// The classifier's arithmetic (Robinson's f(w), Fisher's combination, buckets), when it
// abstains, and learning (learn once, relearn, forget).
#include "pampero/classifier/classifier.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "pampero/classifier/memory_store.hpp"

using namespace pampero;
using namespace pampero::classifier;

namespace {

TEST(Chi2, KnownValues) {
    EXPECT_DOUBLE_EQ(chi2q(0, 2), 1.0);
    EXPECT_NEAR(chi2q(3.0, 2), std::exp(-1.5), 1e-12);              // dof 2: e^(-x/2)
    EXPECT_NEAR(chi2q(4.0, 4), std::exp(-2.0) * (1 + 2.0), 1e-12);  // dof 4
    EXPECT_NEAR(chi2q(9.488, 4), 0.05, 1e-3);                       // the 5% critical value
    EXPECT_EQ(chi2q(5000, 300), 0.0);                               // far tail, no NaN
}

TEST(Combine, StrongEvidenceEachWay) {
    EXPECT_DOUBLE_EQ(combine({}), 0.5);
    EXPECT_GT(combine(std::vector<double>(20, 0.99)), 0.999);
    EXPECT_LT(combine(std::vector<double>(20, 0.01)), 0.001);
    // Strong evidence both ways is "unsure", not a vote.
    std::vector<double> both(10, 0.99);
    both.insert(both.end(), 10, 0.01);
    EXPECT_NEAR(combine(both), 0.5, 0.01);
}

TEST(Combine, LogOddsAgreesWithPAndStaysExactPastIt) {
    EXPECT_DOUBLE_EQ(combine_log_odds({}), 0.0);
    // Where p is representable, the log-odds are log10(p / (1 - p)).
    for (const auto& ps : {std::vector<double>{0.7, 0.8, 0.6}, std::vector<double>(8, 0.9),
                           std::vector<double>{0.2, 0.3, 0.1, 0.4}}) {
        const double p = combine(ps);
        EXPECT_NEAR(combine_log_odds(ps), std::log10(p / (1 - p)), 1e-6);
    }
    // Where p rounds to 1 (or 0), the log-odds still order the evidence.
    EXPECT_NEAR(combine(std::vector<double>(200, 0.99)), 1.0, 1e-12);
    const double strong = combine_log_odds(std::vector<double>(200, 0.99));
    const double stronger = combine_log_odds(std::vector<double>(300, 0.99));
    EXPECT_GT(strong, 20);
    EXPECT_GT(stronger, strong);
    EXPECT_LT(combine_log_odds(std::vector<double>(200, 0.01)), -20);
}

TEST(TokenProbability, PriorAndCounts) {
    const Options o;
    const Totals t{100, 100};
    EXPECT_DOUBLE_EQ(token_probability({0, 0}, t, o), 0.5);
    EXPECT_GT(token_probability({50, 0}, t, o), 0.97);
    EXPECT_LT(token_probability({0, 50}, t, o), 0.03);
    // Seen once: pulled halfway to the prior.
    EXPECT_DOUBLE_EQ(token_probability({1, 0}, t, o), 0.75);
    // Per class rates, not raw counts: 10 of 100 spam vs 10 of 1000 ham is spammy.
    EXPECT_GT(token_probability({10, 10}, {100, 1000}, o), 0.85);
}

TEST(TokenProbability, HamBiasCountsHamMore) {
    Options o;
    const Totals t{100, 100};
    const double even = token_probability({10, 10}, t, o);
    EXPECT_DOUBLE_EQ(even, 0.5);
    // Graham's bias: the ham rate counts twice, so a token seen as often in both leans ham:
    // b = 0.1, g = 0.2, p = 1/3, pulled towards 0.5 by one of 21: (0.5 + 20/3) / 21.
    o.ham_bias = 2;
    EXPECT_DOUBLE_EQ(token_probability({10, 10}, t, o), (0.5 + 20.0 / 3) / 21);
    // The ham rate is capped at 1 (Graham's min(1, 2g / ngood)); robs 0: no prior.
    o.robs = 0;
    EXPECT_DOUBLE_EQ(token_probability({10, 80}, t, o), 0.1 / 1.1);
    EXPECT_DOUBLE_EQ(token_probability({10, 50}, t, o), 0.1 / 1.1);
    o.robs = 1;
    EXPECT_DOUBLE_EQ(token_probability({50, 0}, t, o), token_probability({50, 0}, t, Options{}));
}

TEST(Buckets, Boundaries) {
    const std::pair<double, const char*> rows[] = {
        {0.0, "BAYES_00"},    {0.0099, "BAYES_00"}, {0.01, "BAYES_05"}, {0.05, "BAYES_20"},
        {0.2, "BAYES_40"},    {0.4, "BAYES_50"},    {0.5, "BAYES_50"},  {0.6, "BAYES_60"},
        {0.8, "BAYES_80"},    {0.95, "BAYES_95"},   {0.99, "BAYES_99"}, {0.9989, "BAYES_99"},
        {0.999, "BAYES_999"}, {1.0, "BAYES_999"}};
    for (const auto& [p, b] : rows) EXPECT_STREQ(bucket_of(p), b) << p;
}

// n messages of one class, each with the class's own tokens and some shared ones.
void train(Learner& l, Class c, int n, Token base) {
    for (int i = 0; i < n; ++i) {
        std::vector<Token> tokens = {base + 1, base + 2, base + 3, base + 4,
                                     base + 5, base + 6, 1000,     1001};
        tokens.push_back(base + 100 + static_cast<Token>(i));
        ASSERT_EQ(*l.learn(std::to_string(base) + "-" + std::to_string(i), tokens, c),
                  LearnOutcome::learned);
    }
}

TEST(Classifier, AbstainsUntilEnoughIsLearned) {
    MemoryStore store;
    Learner l(store);
    Options o;
    o.min_spam = o.min_ham = 20;
    const Classifier c(store, o);
    train(l, Class::spam, 20, 10'000);
    train(l, Class::ham, 19, 20'000);
    ASSERT_TRUE(l.flush());
    const std::vector<Token> spammy = {10'001, 10'002, 10'003, 10'004, 10'005, 10'006};
    EXPECT_FALSE(c.classify(spammy)->has_value());  // 19 ham: below min_ham
    train(l, Class::ham, 1, 30'000);
    ASSERT_TRUE(l.flush());
    const auto v = *c.classify(spammy);
    ASSERT_TRUE(v.has_value());
    EXPECT_GT(v->probability, 0.99);
    EXPECT_EQ(v->tokens, 6u);
    EXPECT_LT((*c.classify({20'001, 20'002, 20'003, 20'004, 20'005, 20'006}))->probability, 0.01);
    // Only tokens seen in both classes as often, or never: nothing to say.
    EXPECT_FALSE(c.classify({1000, 1001, 5, 6, 7, 8, 9})->has_value());
}

TEST(Classifier, MaxTokensKeepsTheMostTelling) {
    MemoryStore store;
    Learner l(store);
    Options o;
    o.min_spam = o.min_ham = 1;
    o.max_tokens = 6;
    train(l, Class::spam, 5, 10'000);
    train(l, Class::ham, 5, 20'000);
    ASSERT_TRUE(l.flush());
    const auto v = *Classifier(store, o).classify(
        {10'001, 10'002, 10'003, 10'004, 10'005, 10'006, 10'100, 10'101});
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->tokens, 6u);
}

// The per-thread table of f(w) for small counts is kept per store totals and options: a
// classifier with another ham_bias on the same thread must not read the first's values.
TEST(Classifier, HamBiasIsNotReadFromAnotherClassifiersTable) {
    MemoryStore store;
    Learner l(store);
    train(l, Class::spam, 5, 10'000);
    train(l, Class::ham, 5, 20'000);
    // Seen in 3 spam and 3 ham: 0.5 without bias, hammy with it.
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(l.learn("s" + std::to_string(i), {7, 8, 9, 10, 11}, Class::spam));
        ASSERT_TRUE(l.learn("h" + std::to_string(i), {7, 8, 9, 10, 11}, Class::ham));
    }
    ASSERT_TRUE(l.flush());
    Options o;
    o.min_spam = o.min_ham = 1;
    o.min_tokens = 1;
    const std::vector<Token> shared = {7, 8, 9, 10, 11};
    EXPECT_FALSE(Classifier(store, o).classify(shared)->has_value());  // nothing to say
    o.ham_bias = 3;
    const auto biased = *Classifier(store, o).classify(shared);
    ASSERT_TRUE(biased.has_value());
    EXPECT_LT(biased->probability, 0.3);
}

TEST(Learner, LearnOnceRelearnForget) {
    MemoryStore store;
    Learner l(store);
    const std::vector<Token> tokens = {1, 2, 3};
    EXPECT_EQ(*l.learn("m1", tokens, Class::spam), LearnOutcome::learned);
    EXPECT_EQ(*l.learn("m1", tokens, Class::spam), LearnOutcome::already);  // same batch
    ASSERT_TRUE(l.flush());
    EXPECT_EQ(*l.learn("m1", tokens, Class::spam), LearnOutcome::already);  // in the store
    EXPECT_EQ(store.totals()->spam, 1u);
    EXPECT_EQ((*store.get(tokens))[0].spam, 1u);

    EXPECT_EQ(*l.learn("m1", tokens, Class::ham), LearnOutcome::relearned);
    ASSERT_TRUE(l.flush());
    EXPECT_EQ(store.totals()->spam, 0u);
    EXPECT_EQ(store.totals()->ham, 1u);
    EXPECT_EQ((*store.get(tokens))[1].spam, 0u);
    EXPECT_EQ((*store.get(tokens))[1].ham, 1u);
    EXPECT_EQ(**store.learned("m1"), Class::ham);

    EXPECT_EQ(*l.forget("m1", tokens), LearnOutcome::forgotten);
    EXPECT_EQ(*l.forget("m1", tokens), LearnOutcome::unknown);  // forgotten in this batch
    ASSERT_TRUE(l.flush());
    EXPECT_EQ(store.totals()->ham, 0u);
    EXPECT_EQ(store.stats()->tokens, 0u);
    EXPECT_FALSE(store.learned("m1")->has_value());
    EXPECT_EQ(*l.forget("never", tokens), LearnOutcome::unknown);
}

// A store that bounds its updates (Redis: one script call each) gets whole messages, at
// most max_update_tokens() token deltas per apply() unless one message alone has more.
class BoundedStore final : public ClassifierStore {
  public:
    Result<std::vector<TokenCounts>> get(std::span<const Token> t) const override {
        return inner.get(t);
    }
    Result<Totals> totals() const override { return inner.totals(); }
    Result<std::optional<Class>> learned(const std::string& id) const override {
        return inner.learned(id);
    }
    Status apply(const Update& u) override {
        applies.emplace_back(u.tokens.size(), u.learned.size());
        return inner.apply(u);
    }
    Result<StoreStats> stats() const override { return inner.stats(); }
    std::string name() const override { return "bounded"; }
    std::size_t max_update_tokens() const override { return 10; }

    MemoryStore inner;
    std::vector<std::pair<std::size_t, std::size_t>> applies;  // (token deltas, ids)
};

std::vector<Token> range(Token from, Token n) {
    std::vector<Token> out;
    for (Token t = from; t < from + n; ++t) out.push_back(t);
    return out;
}

TEST(Learner, FlushesWholeMessagesWithinTheStoresBound) {
    BoundedStore store;
    Learner l(store);
    for (Token m = 0; m < 7; ++m)  // 4 tokens each: two messages fit in 10, not three
        ASSERT_EQ(*l.learn("m" + std::to_string(m), range(100 * m, 4), Class::spam),
                  LearnOutcome::learned);
    ASSERT_EQ(*l.learn("big", range(5000, 25), Class::ham), LearnOutcome::learned);
    ASSERT_EQ(*l.learn("m0", range(0, 4), Class::ham), LearnOutcome::relearned);
    ASSERT_TRUE(l.flush());
    using P = std::pair<std::size_t, std::size_t>;
    EXPECT_EQ(store.applies, (std::vector<P>{{8, 2}, {8, 2}, {8, 2}, {4, 1}, {25, 1}, {4, 1}}));
    EXPECT_EQ(store.totals()->spam, 6u);
    EXPECT_EQ(store.totals()->ham, 2u);
    EXPECT_EQ(**store.learned("m0"), Class::ham);
    EXPECT_EQ(store.stats()->tokens, 7u * 4 + 25);
    // Forgetting is bounded the same way.
    store.applies.clear();
    for (Token m = 1; m < 4; ++m)
        ASSERT_EQ(*l.forget("m" + std::to_string(m), range(100 * m, 4)), LearnOutcome::forgotten);
    ASSERT_TRUE(l.flush());
    EXPECT_EQ(store.applies, (std::vector<P>{{8, 2}, {4, 1}}));
    EXPECT_EQ(store.totals()->spam, 3u);
}

}  // namespace
