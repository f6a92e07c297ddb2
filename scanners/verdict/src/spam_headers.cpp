#include "pampero/verdict/spam_headers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "pampero/common/strings.hpp"

namespace pampero::scan {

namespace {

// ASCII case-insensitive prefix test. Not message.hpp's iequals: this file is part of the
// verdict library, which pampero-store links without the MIME parser (and its GMime).
bool starts_with_nocase(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() &&
           std::equal(prefix.begin(), prefix.end(), s.begin(), [](char p, char c) {
               return std::tolower(static_cast<unsigned char>(p)) ==
                      std::tolower(static_cast<unsigned char>(c));
           });
}

}  // namespace

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
    return starts_with_nocase(name, "X-Spam-");
}

}  // namespace pampero::scan
