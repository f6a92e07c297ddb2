#include "pampero/scan/spam_headers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "pampero/common/strings.hpp"
#include "pampero/scan/message.hpp"

namespace pampero::scan {

SpamHeaders format_spam_headers(double score, const std::vector<RuleHit>& hits,
                                const Level& reference, bool partial) {
    SpamHeaders h;
    h.score = fmt::format("{:.1f}", score);
    const int stars = score <= 0 ? 0 : std::min(50, static_cast<int>(std::floor(score)));
    h.level = std::string(static_cast<std::size_t>(stars), '*');
    std::string tests;
    for (const auto& hit : hits) {
        if (!tests.empty()) tests += ',';
        tests += hit.name;
    }
    if (tests.empty()) tests = "none";
    h.status = fmt::format("{}, score={:.1f} tag={:.1f} tests={}",
                           score >= reference.tag ? "Yes" : "No", score, reference.tag, tests);
    if (partial) h.status += " scan=partial";
    return h;
}

std::optional<double> parse_spam_score(std::string_view value) {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
    while (!value.empty() &&
           (value.back() == ' ' || value.back() == '\t' || value.back() == '\r')) {
        value.remove_suffix(1);
    }
    double v = 0;
    const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || ptr != value.data() + value.size() || !std::isfinite(v)) {
        return std::nullopt;
    }
    return v;
}

bool is_spam_header(std::string_view name) {
    return name.size() >= 7 && iequals(name.substr(0, 7), "X-Spam-");
}

}  // namespace pampero::scan
