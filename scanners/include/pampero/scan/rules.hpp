// rules.hpp - the YAML rule set and its matcher.
//
// A rule file (rules_dir/*.yaml, read in name order) holds a list under `rules:`:
//   - name: SUBJ_ALL_CAPS          # [A-Z0-9_]+, unique across all files
//     target: header               # header | body | rawbody
//     header: Subject              # with target header: a name, or ALL
//     regex: '^[^a-z]{12,}$'       # PCRE2 syntax
//     flags: [nocase]              # optional: nocase, multiline, dotall
//     score: 1.5
//     description: Subject is all capitals
// Loading validates everything and fails with "FILE:LINE: rule NAME: why".
// A RuleSet is immutable once built and safe to match from many threads at once.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pampero/common/result.hpp"
#include "pampero/scan/message.hpp"

namespace pampero::scan {

enum class Target { header, body, rawbody };

struct RuleHit {
    std::string name;
    double score = 0;
    std::string description;
};

class RuleSet {
public:
    struct Rule;  // compiled rule, defined in rules.cpp

    ~RuleSet();
    RuleSet(const RuleSet&) = delete;
    RuleSet& operator=(const RuleSet&) = delete;

    // Loads every *.yaml in dir (sorted); an empty or missing dir is an error.
    static Result<std::shared_ptr<const RuleSet>> load_dir(const std::string& dir);
    static Result<std::shared_ptr<const RuleSet>> load_files(const std::vector<std::string>& files);

    // Hits in rule order.
    std::vector<RuleHit> match(const Message& msg) const;
    std::size_t size() const { return rules_.size(); }

private:
    RuleSet() = default;
    std::vector<std::unique_ptr<Rule>> rules_;
};

}  // namespace pampero::scan
