// bayes_engine.hpp - a rule engine with the shipped BAYES_* rules only
// (conf/rules.d/45-classifier.yaml) and the shipped levels, for the classifier's scan tests.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "pampero/rules/engine.hpp"

namespace pampero::test {

// The rules file is copied into `dir` (an existing folder) first.
inline std::shared_ptr<const scan::Engine> bayes_engine(const std::string& dir) {
    const auto rules = (std::filesystem::path(dir) / "45-classifier.yaml").string();
    std::filesystem::copy_file(std::string(PAMPERO_SOURCE_DIR) + "/conf/rules.d/45-classifier.yaml",
                               rules, std::filesystem::copy_options::overwrite_existing);
    auto rs = scan::RuleSet::load_files({rules});
    EXPECT_TRUE(rs) << rs.error().message;
    auto levels = scan::load_levels(std::string(PAMPERO_SOURCE_DIR) + "/conf/levels.yaml");
    EXPECT_TRUE(levels);
    return std::make_shared<scan::Engine>(*rs, *levels, scan::ScanBounds{});
}

}  // namespace pampero::test
