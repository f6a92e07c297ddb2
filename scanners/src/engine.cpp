#include "pampero/scan/engine.hpp"

namespace pampero::scan {

Engine::Engine(std::shared_ptr<const RuleSet> rules, Levels levels, std::size_t scan_limit)
    : rules_(std::move(rules)), levels_(std::move(levels)), scan_limit_(scan_limit) {}

Message Engine::parse(std::string_view raw_message, const ParsedMime* parsed) const {
    ParseOptions o;
    o.limit = scan_limit_;
    o.domains = rules_->domains();
    o.parsed = parsed;
    return parse_message(raw_message, o);
}

Verdict Engine::scan(const Message& msg) const { return scan(msg, ScanContext{}); }

Verdict Engine::scan(const Message& msg, const ScanContext& context) const {
    Verdict v;
    v.hits = rules_->match(msg);
    v.hits.insert(v.hits.end(), context.extra_hits.begin(), context.extra_hits.end());
    for (const auto& h : v.hits) v.score += h.score;
    v.uris.reserve(msg.uris.size());
    for (const auto& u : msg.uris) v.uris.push_back(u.url);
    return v;
}

Verdict Engine::scan(std::string_view raw_message) const { return scan(parse(raw_message)); }

Result<std::shared_ptr<const Engine>> load_engine(const Config& config) {
    auto rules = RuleSet::load_dir(config.rules_dir);
    if (!rules) return rules.error();
    auto levels = load_levels(config.levels);
    if (!levels) return levels.error();
    return std::shared_ptr<const Engine>(std::make_shared<Engine>(
        std::move(rules).value(), std::move(levels).value(), config.milter.scan_limit));
}

}  // namespace pampero::scan
