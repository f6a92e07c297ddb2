// engine.hpp - one immutable snapshot of what decides a verdict, and its holder.
//
// An Engine bundles the rule set and the levels. Reload is a swap: build a new Engine,
// validate it, then replace the shared_ptr in the EngineHolder; scans in flight keep
// the snapshot they started with, and a failed build leaves the old one serving.
#pragma once

#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "pampero/common/config.hpp"
#include "pampero/common/result.hpp"
#include "pampero/common/snapshot.hpp"
#include "pampero/mime/message.hpp"
#include "pampero/rules/rules.hpp"
#include "pampero/verdict/levels.hpp"

namespace pampero::scan {

struct Verdict {
    double score = 0;
    std::vector<RuleHit> hits;
    std::vector<std::string> uris;  // normalized URIs of the message (Message::uris[].url)
    std::string partial;            // Message::partial: empty when all of it was scanned
    ScoreSet score_set = ScoreSet::no_classifier;  // the rule scores added up (rules.hpp)
};

// The bounds of one scan, from the milter: section of the configuration (see message.hpp
// for what each does to a message, milter/session.hpp for the milter's side).
struct ScanBounds {
    std::size_t scan_limit = 2 * 1024 * 1024;        // text the rules read, shared by the parts
    std::size_t max_headers = kMaxHeaders;           // header fields (the milter refuses more)
    std::size_t max_header_bytes = kMaxHeaderBytes;  // bytes of the header section, likewise
    std::size_t max_message = 10 * 1024 * 1024;      // bytes of a message worth keeping to
                                                     // find its parts (>= scan_limit)
};

// What the caller knows beyond the message itself. extra_hits (blocklist listings, ...)
// are added to the verdict's hits and score after the rules. score_set: which rule
// scores to add up (rules.hpp), `classifier` when the statistical classifier voted on
// this message (scan_message() says), else `no_classifier`.
struct ScanContext {
    std::vector<RuleHit> extra_hits;
    ScoreSet score_set = ScoreSet::no_classifier;
};

class Engine {
  public:
    Engine(std::shared_ptr<const RuleSet> rules, Levels levels, ScanBounds bounds);

    // Parses with this engine's bounds and URI domain lists (see message.hpp): the
    // caller that also needs the URIs or Received IPs (for blocklists) parses once, then
    // scans the Message. Thread-safe; never fails for message input. `parsed`, when
    // given, is GMime's parse of the whole of `raw_message` (see parsed_mime.hpp); `cut`
    // says that raw_message is only the beginning of the message (partly scanned).
    Message parse(std::string_view raw_message, const ParsedMime* parsed = nullptr,
                  bool cut = false) const;
    Verdict scan(const Message& msg) const;
    Verdict scan(const Message& msg, const ScanContext& context) const;
    Verdict scan(std::string_view raw_message) const;
    // One verdict per classifier line (per-recipient models, scan_message.hpp): lines[i]
    // appended to the MIME summary and, when not empty, the `classifier` score set
    // (else context.score_set); the rules matched once for all (RuleSet::match_variants).
    // lines: at least one.
    std::vector<Verdict> scan_variants(const Message& msg, const ScanContext& context,
                                       std::span<const std::string> lines) const;
    const Levels& levels() const { return levels_; }
    std::size_t scan_limit() const { return bounds_.scan_limit; }
    const ScanBounds& bounds() const { return bounds_; }
    std::size_t rule_count() const { return rules_->size(); }
    const RuleSet& rules() const { return *rules_; }

  private:
    std::shared_ptr<const RuleSet> rules_;
    Levels levels_;
    ScanBounds bounds_;
};

Result<std::shared_ptr<const Engine>> load_engine(const Config& config);

// Parsing alone: the Message an Engine loaded from the same configuration would parse
// (the same bounds and URI domain lists), without reading or compiling a rule. For
// `pamperoctl learn`, which needs a message's tokens and never its rule hits: compiling
// the rules (Hyperscan) cost ~0.6 s of CPU per call, per message moved through the
// Dovecot hook. Thread-safe, immutable.
class MessageParser {
  public:
    MessageParser(ScanBounds bounds, std::shared_ptr<const DomainReducer> domains)
        : bounds_(bounds), domains_(std::move(domains)) {}
    Message parse(std::string_view raw_message, const ParsedMime* parsed = nullptr,
                  bool cut = false) const;

  private:
    ScanBounds bounds_;
    std::shared_ptr<const DomainReducer> domains_;
};

// Errors: as load_engine for the rules folder's `uri_domains:` (rules.hpp); the rules
// themselves and the levels are not read.
Result<MessageParser> load_parser(const Config& config);

using EngineHolder = Snapshot<const Engine>;

}  // namespace pampero::scan
