#include "pampero/verdict/levels.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test_support.hpp"

using namespace pampero;
using namespace pampero::scan;

namespace {
std::string write_temp(const std::string& name, const std::string& text) {
    return pampero::testing::write_temp("pampero-levels-test", name, text);
}

std::string five(const std::string& tweak_last = "{ level: 5, name: e, tag: 3, cutoff: 6 }") {
    return "default: 3\nlevels:\n"
           "  - { level: 1, name: a, tag: 8, cutoff: 30 }\n"
           "  - { level: 2, name: b, tag: 6, cutoff: 20 }\n"
           "  - { level: 3, name: c, tag: 5, cutoff: 15 }\n"
           "  - { level: 4, name: d, tag: 4, cutoff: 10 }\n"
           "  - " +
           tweak_last + "\n";
}
}  // namespace

TEST(Levels, ShippedFileLoads) {
    auto l = load_levels(std::string(PAMPERO_SOURCE_DIR) + "/conf/levels.yaml");
    ASSERT_TRUE(l) << l.error().message;
    EXPECT_GE(l->levels.size(), kMinLevels);
    EXPECT_EQ(l->fallback().number, l->default_level);
}

TEST(Levels, ForUserFallsBackToDefault) {
    auto l = load_levels(write_temp("ok.yaml", five()));
    ASSERT_TRUE(l) << l.error().message;
    EXPECT_EQ(l->for_user(std::nullopt).number, 3);
    EXPECT_EQ(l->for_user(1).number, 1);
    EXPECT_EQ(l->for_user(5).number, 5);
    EXPECT_EQ(l->for_user(9).number, 3);  // unknown level: the default, never a crash
    EXPECT_EQ(l->for_user(0).number, 3);
    EXPECT_EQ(l->find(6), nullptr);
}

struct BadLevels {
    const char* name;
    std::string text;
    const char* expect;
};

class BadLevelFiles : public ::testing::TestWithParam<BadLevels> {};

TEST_P(BadLevelFiles, Refused) {
    const auto& row = GetParam();
    const std::string path = write_temp(std::string(row.name) + ".yaml", row.text);
    auto l = load_levels(path);
    ASSERT_FALSE(l);
    EXPECT_EQ(l.error().kind, ErrorKind::config);
    EXPECT_NE(l.error().message.find(path + ":"), std::string::npos) << l.error().message;
    EXPECT_NE(l.error().message.find(row.expect), std::string::npos) << l.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Rows, BadLevelFiles,
    ::testing::Values(
        BadLevels{"too_few", "default: 1\nlevels:\n  - { level: 1, name: a, tag: 8, cutoff: 30 }\n",
                  "at least 5"},
        BadLevels{"tag_over_cutoff", five("{ level: 5, name: e, tag: 7, cutoff: 6 }"),
                  "tag must be below cutoff"},
        BadLevels{"not_stricter", five("{ level: 5, name: e, tag: 4.5, cutoff: 9 }"),
                  "stricter level"},
        BadLevels{"gap", five("{ level: 6, name: e, tag: 3, cutoff: 6 }"), "numbered 1, 2, 3"},
        BadLevels{"unknown_key", five("{ level: 5, name: e, tag: 3, cutoff: 6, colour: red }"),
                  "unknown key 'colour'"},
        BadLevels{"no_default", five().substr(11), "missing 'default'"},
        BadLevels{"default_out_of_range", "default: 9\n" + five().substr(11), "between 1 and 5"}),
    [](const auto& info) { return info.param.name; });
