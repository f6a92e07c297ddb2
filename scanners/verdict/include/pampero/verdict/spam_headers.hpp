// spam_headers.hpp - the X-Spam-* headers pampero adds, and reads back.
//
// X-Spam-Score: 7.3                      (one decimal; what the store agent files by)
// X-Spam-Level: *******                  (one star per whole point, at most 50)
// X-Spam-Status: Yes, score=7.3 tag=5.0 tests=GTUBE,SUBJ_ALL_CAPS [scan=partial]
// "Yes" when the score reaches the default level's tag; "scan=partial" when part of the
// message lay past a scan bound (Verdict::partial), whatever the rules say of it. Every incoming
// header whose name starts with "X-Spam-" is removed first: only pampero may write them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pampero/verdict/levels.hpp"
#include "pampero/verdict/rule_hit.hpp"

namespace pampero::scan {

struct SpamHeaders {
    std::string score;
    std::string level;
    std::string status;
};

SpamHeaders format_spam_headers(double score, const std::vector<RuleHit>& hits,
                                const Level& reference, bool partial = false);

// The X-Spam-Score value back as a number; nullopt when absent or malformed.
std::optional<double> parse_spam_score(std::string_view value);

// True for the headers pampero owns ("X-Spam-" prefix, any case).
bool is_spam_header(std::string_view name);

}  // namespace pampero::scan
