// engine.hpp - one immutable snapshot of what decides a verdict, and its holder.
//
// An Engine bundles the rule set and the levels. Reload is a swap: build a new Engine,
// validate it, then replace the shared_ptr in the EngineHolder; scans in flight keep
// the snapshot they started with, and a failed build leaves the old one serving.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "pampero/common/config.hpp"
#include "pampero/common/result.hpp"
#include "pampero/common/snapshot.hpp"
#include "pampero/scan/levels.hpp"
#include "pampero/scan/message.hpp"
#include "pampero/scan/rules.hpp"

namespace pampero::scan {

struct Verdict {
    double score = 0;
    std::vector<RuleHit> hits;
    std::vector<std::string> uris;  // normalized URIs of the message (Message::uris[].url)
};

// What the caller knows beyond the message itself. extra_hits (blocklist listings, ...)
// are added to the verdict's hits and score after the rules.
struct ScanContext {
    std::vector<RuleHit> extra_hits;
};

class Engine {
public:
    Engine(std::shared_ptr<const RuleSet> rules, Levels levels, std::size_t scan_limit);

    // Parses with this engine's scan limit and URI domain lists (see message.hpp): the
    // caller that also needs the URIs or Received IPs (for blocklists) parses once, then
    // scans the Message. Thread-safe; never fails for message input. `parsed`, when
    // given, is GMime's parse of the whole of `raw_message` (see parsed_mime.hpp).
    Message parse(std::string_view raw_message, const ParsedMime* parsed = nullptr) const;
    Verdict scan(const Message& msg) const;
    Verdict scan(const Message& msg, const ScanContext& context) const;
    Verdict scan(std::string_view raw_message) const;
    const Levels& levels() const { return levels_; }
    std::size_t scan_limit() const { return scan_limit_; }
    std::size_t rule_count() const { return rules_->size(); }

private:
    std::shared_ptr<const RuleSet> rules_;
    Levels levels_;
    std::size_t scan_limit_;
};

Result<std::shared_ptr<const Engine>> load_engine(const Config& config);

using EngineHolder = Snapshot<const Engine>;

}  // namespace pampero::scan
