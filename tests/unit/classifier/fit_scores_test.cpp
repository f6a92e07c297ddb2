// Rule scores fitted from labelled rows (cross_validation.hpp): what the fit must do with
// a rule that fires only on spam, one that fires on ham as often as on spam, the BAYES_*
// sign constraints, fixed scores, and the false-positive cost.
#include <gtest/gtest.h>

#include "pampero/classifier/cross_validation.hpp"

using namespace pampero::classifier;

namespace {

struct Rows {
    std::vector<std::vector<std::string>> rows;
    std::vector<bool> spam;
    void add(std::vector<std::string> r, bool s, int times) {
        for (int i = 0; i < times; ++i) {
            rows.push_back(r);
            spam.push_back(s);
        }
    }
};

TEST(FitScores, SpamOnlyRuleEarnsTheTagAndSharedRuleStaysNearZero) {
    Rows d;
    d.add({"SPAMMY", "SHARED"}, true, 100);
    d.add({"SHARED"}, false, 100);
    d.add({}, false, 900);
    const auto s = fit_scores(d.rows, d.spam, {}, FitOptions{});
    EXPECT_GE(s.at("SPAMMY") + s.at("SHARED"), 5.0);  // the spam leaves the Inbox
    EXPECT_LT(s.at("SHARED"), 5.0);                   // the ham stays
    EXPECT_LT(s.at("SHARED"), 1.0);
}

TEST(FitScores, RulesNeverNegativeUnlessAllowedAndBucketsKeepTheirSigns) {
    Rows d;
    d.add({"HAMMY", "BAYES_00"}, false, 200);
    d.add({"BAYES_99"}, true, 100);
    d.add({"HAMMY", "BAYES_99"}, true, 5);
    d.add({"BAYES_00"}, true, 5);  // the classifier is wrong on a few spam
    const auto s = fit_scores(d.rows, d.spam, {}, FitOptions{});
    EXPECT_GE(s.at("HAMMY"), 0.0);
    EXPECT_LE(s.at("BAYES_00"), 0.0);
    EXPECT_GE(s.at("BAYES_99"), 5.0);
    FitOptions o;
    o.nonnegative_rules = false;
    EXPECT_LT(fit_scores(d.rows, d.spam, {}, o).at("HAMMY"), 0.0);
}

TEST(FitScores, FixedScoresKeptAndCostProtectsHam) {
    Rows d;
    d.add({"GTUBE"}, true, 3);
    d.add({"MIXED"}, true, 30);
    d.add({"MIXED"}, false, 10);
    d.add({}, false, 500);
    const auto cheap = fit_scores(d.rows, d.spam, {{"GTUBE", 1000}}, FitOptions{.cost = 1.0});
    EXPECT_EQ(cheap.at("GTUBE"), 1000);
    EXPECT_GE(cheap.at("MIXED"), 5.0);  // 3 spam for each ham: worth taking at cost 1
    const auto dear = fit_scores(d.rows, d.spam, {{"GTUBE", 1000}}, FitOptions{.cost = 20.0});
    EXPECT_LT(dear.at("MIXED"), 5.0);  // not at cost 20
}

}  // namespace
