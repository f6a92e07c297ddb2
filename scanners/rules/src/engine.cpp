#include "pampero/rules/engine.hpp"

#include <algorithm>

namespace pampero::scan {

Engine::Engine(std::shared_ptr<const RuleSet> rules, Levels levels, ScanBounds bounds)
    : rules_(std::move(rules)), levels_(std::move(levels)), bounds_(bounds) {
    bounds_.max_message = std::max(bounds_.max_message, bounds_.scan_limit);
}

namespace {

// What Engine::parse and MessageParser::parse both hand parse_message().
ParseOptions parse_options(const ScanBounds& bounds,
                           const std::shared_ptr<const DomainReducer>& domains,
                           const ParsedMime* parsed, bool cut) {
    ParseOptions o;
    o.limit = bounds.scan_limit;
    o.max_headers = bounds.max_headers;
    o.max_header_bytes = bounds.max_header_bytes;
    o.cut = cut;
    o.domains = domains;
    o.parsed = parsed;
    return o;
}

ScanBounds bounds_of(const Config& config) {
    ScanBounds bounds;
    bounds.scan_limit = config.milter.scan_limit;
    bounds.max_headers = static_cast<std::size_t>(config.milter.max_headers);
    bounds.max_header_bytes = config.milter.max_header_bytes;
    bounds.max_message = config.milter.max_message_memory;
    return bounds;
}

}  // namespace

Message Engine::parse(std::string_view raw_message, const ParsedMime* parsed, bool cut) const {
    return parse_message(raw_message, parse_options(bounds_, rules_->domains(), parsed, cut));
}

Message MessageParser::parse(std::string_view raw_message, const ParsedMime* parsed,
                             bool cut) const {
    return parse_message(raw_message, parse_options(bounds_, domains_, parsed, cut));
}

Verdict Engine::scan(const Message& msg) const {
    return scan(msg, ScanContext{});
}

namespace {

// A verdict from the rules' hits: the caller's extra hits added, the score summed.
Verdict verdict_of(std::vector<RuleHit> hits, ScoreSet set, const Message& msg,
                   const ScanContext& context) {
    Verdict v;
    v.hits = std::move(hits);
    v.score_set = set;
    v.hits.insert(v.hits.end(), context.extra_hits.begin(), context.extra_hits.end());
    for (const auto& h : v.hits) v.score += h.score;
    v.uris.reserve(msg.uris.size());
    for (const auto& u : msg.uris) v.uris.push_back(u.url);
    v.partial = msg.partial;
    return v;
}

}  // namespace

Verdict Engine::scan(const Message& msg, const ScanContext& context) const {
    return verdict_of(rules_->match(msg, context.score_set), context.score_set, msg, context);
}

std::vector<Verdict> Engine::scan_variants(const Message& msg, const ScanContext& context,
                                           std::span<const std::string> lines) const {
    std::vector<std::string_view> tails(lines.begin(), lines.end());
    std::vector<ScoreSet> sets;
    sets.reserve(lines.size());
    for (const auto& l : lines)
        sets.push_back(l.empty() ? context.score_set : ScoreSet::classifier);
    auto hits = rules_->match_variants(msg, tails, sets);
    std::vector<Verdict> out;
    out.reserve(lines.size());
    for (std::size_t i = 0; i < lines.size(); ++i)
        out.push_back(verdict_of(std::move(hits[i]), sets[i], msg, context));
    return out;
}

Verdict Engine::scan(std::string_view raw_message) const {
    return scan(parse(raw_message));
}

Result<std::shared_ptr<const Engine>> load_engine(const Config& config) {
    auto rules = RuleSet::load_dir(config.rules_dir);
    if (!rules) return rules.error();
    auto levels = load_levels(config.levels);
    if (!levels) return levels.error();
    return std::shared_ptr<const Engine>(std::make_shared<Engine>(
        std::move(rules).value(), std::move(levels).value(), bounds_of(config)));
}

Result<MessageParser> load_parser(const Config& config) {
    auto domains = RuleSet::load_uri_domains(config.rules_dir);
    if (!domains) return domains.error();
    return MessageParser(bounds_of(config), std::move(domains).value());
}

}  // namespace pampero::scan
