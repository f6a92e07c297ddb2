#include "pampero/verdict/decision.hpp"

#include <gtest/gtest.h>

using namespace pampero;
using namespace pampero::scan;

struct DecisionRow {
    double score;
    Listing listing;
    bool contact;
    Action expected;
};

class DecisionTable : public ::testing::TestWithParam<DecisionRow> {};

TEST_P(DecisionTable, Decides) {
    const Level level{3, "standard", 5.0, 15.0};
    const auto& r = GetParam();
    EXPECT_EQ(decide(r.score, r.listing, r.contact, level), r.expected)
        << "score " << r.score << " listing " << static_cast<int>(r.listing) << " contact "
        << r.contact;
}

INSTANTIATE_TEST_SUITE_P(
    Rows, DecisionTable,
    ::testing::Values(DecisionRow{-3.0, Listing::none, false, Action::inbox},
                      DecisionRow{0.0, Listing::none, false, Action::inbox},
                      DecisionRow{4.99, Listing::none, false, Action::inbox},
                      DecisionRow{5.0, Listing::none, false, Action::spam},  // at tag: Spam folder
                      DecisionRow{14.99, Listing::none, false, Action::spam},
                      DecisionRow{15.0, Listing::none, false,
                                  Action::reject},  // at cutoff: refused
                      DecisionRow{1000.0, Listing::none, false, Action::reject},
                      DecisionRow{1000.0, Listing::white, false, Action::inbox},
                      DecisionRow{1000.0, Listing::none, true, Action::inbox},
                      DecisionRow{0.0, Listing::black, false, Action::reject},
                      DecisionRow{0.0, Listing::black, true,
                                  Action::inbox}));  // a contact wins over a black list

TEST(Decision, ActionNames) {
    EXPECT_STREQ(to_string(Action::inbox), "inbox");
    EXPECT_STREQ(to_string(Action::spam), "spam");
    EXPECT_STREQ(to_string(Action::reject), "reject");
}
