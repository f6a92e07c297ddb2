// rule_hit.hpp - one reason a message scored: a rule that matched, or a blocklist listing.
//
// Made by the rule engine (rules.hpp) and the blocklists (blocklists.hpp), read by the
// X-Spam-Status header (spam_headers.hpp). It lives here, with the verdict, so that the
// verdict library (what pampero-store links) needs neither the rule engine nor GMime.
// A plain value: copy and share freely.
#pragma once

#include <string>

namespace pampero::scan {

struct RuleHit {
    std::string name;  // the rule's name ([A-Z0-9_]+, at most 64): what X-Spam-Status lists
    double score = 0;
    std::string description;
};

}  // namespace pampero::scan
