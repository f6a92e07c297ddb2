// rules.hpp - the YAML rule set and its matcher.
//
// A rule file (rules_dir/*.yaml, read in name order) holds a list under `rules:`:
//   - name: SUBJ_ALL_CAPS          # [A-Z0-9_]+, at most 64, unique across all files
//     target: header               # header | body | rawbody | decoded | uri | full | mime
//     header: Subject              # with target header: a name, or ALL; NAME:raw (or
//                                  #   ALL:raw) matches the value as written, without
//                                  #   RFC 2047 decoding
//     regex: '^[^a-z]{12,}$'       # PCRE2 syntax
//     flags: [nocase]              # optional: nocase, multiline, dotall
//     score: 1.5
//     description: Subject is all capitals
//   - name: HAS_LIST_ID            # header presence: no regex, `exists: true`
//     target: header
//     header: List-Id
//     exists: true
//     score: -1.0
//   - name: FORGED_OUTLOOK         # a meta rule: a boolean expression over other rules
//     meta: '__XM_OUTLOOK && !__MSGID_OUTLOOK'
//     score: 2.0
// What each target matches (see message.hpp for how the text is made):
//   header NAME   each header of that name, decoded value (a hit on any of them counts)
//   header ALL    all headers as "Name: value\n" lines, in order
//   body          the text a reader sees (decoded, UTF-8, HTML rendered)
//   rawbody       the body as received (transfer encodings not undone)
//   decoded       the text parts decoded and in UTF-8, HTML markup kept (what
//                 SpamAssassin calls rawbody)
//   uri           each normalized URI ("http://host/path"), one at a time
//   full          the whole message as received (up to the scan limit)
//   mime          the MIME/HTML/URI summary lines (Message::mime_summary)
// Meta expressions: rule names (1 when hit, else 0), integers, ( ), !, &&, ||, +, and
// the comparisons > >= < <= == !=, with C precedence. "(A + B + C) >= 2" counts hits.
// A meta rule may use rules from any file and other meta rules, but not in a loop.
// Rules whose name starts with "__" are sub-rules: matched and usable in metas, never
// reported and never scored (their score must be absent or 0).
//
// A rule file may also say, once across all files, how URI hosts are reduced:
//   uri_domains:
//     public_suffix_list: /usr/share/publicsuffix/public_suffix_list.dat  # optional
//     surbl_two_level: surbl/two-level-tlds      # optional, relative to the rule file
//     surbl_three_level: surbl/three-level-tlds  # optional
//
// A rule file may also carry score overlays, a mapping from rule name to score (what
// scripts/fit-rule-scores --out writes), by convention in a file of its own named
// *.scores.yaml so that the shipped files stay untouched:
//   scores:
//     HTML_TINY_TEXT: 0.4
//     BAYES_95: 3.5
// An overlay replaces the score of a rule defined in any file (whatever the file order).
//
// Score sets (SpamAssassin's idea: one set of scores fitted with its Bayes classifier
// voting, one without). The statistical classifier votes on a message only once its store
// has learned enough (classifier.min_spam / min_ham) and while the store answers; with it
// voting the rules need less weight, without it they must carry the decision alone. So an
// overlay file may say which set its scores are for:
//   score_set: classifier      # used when the classifier voted on the message
//   scores: {HTML_TINY_TEXT: 0.0, BAYES_999: 5.1}
//   score_set: no_classifier   # used when it did not (none configured, abstained)
// An overlay without score_set is for both sets. A rule file's own `score:` is the score
// of both sets until an overlay says otherwise. A file with score_set holds scores only
// (no rules:, no uri_domains:). Blocklist scores (pampero.yaml) are the same in both sets.
// Loading fails naming the overlay's file and line for a rule no file defines, for a
// '__' sub-rule, for a rule given a score twice in one set across overlays (an overlay
// without score_set counts for both), for a score outside -1000..1000, and for a
// score_set other than classifier or no_classifier.
//
// Matching: all the regexes of one target (for header rules: of one header name) are
// compiled into one Hyperscan database and matched in one pass. A pattern Hyperscan
// cannot compile (backreferences, lookaround, ...) falls back to PCRE2 (JIT), with a
// match limit so that no pattern can backtrack for ever: a PCRE2 match that runs out of
// its limit counts as no match. Regexes are byte-oriented (no UTF mode): `.` is a byte,
// \w and \b are ASCII. With Hyperscan a pattern may match the empty string.
//
// Loading validates everything and fails with "FILE:LINE: rule NAME: why" (Error::config).
// A RuleSet is immutable once built and safe to match from many threads at once: each
// thread gets its own Hyperscan scratch and PCRE2 match data (thread_local), sized the
// first time it matches with that RuleSet.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pampero/common/result.hpp"
#include "pampero/mime/message.hpp"
#include "pampero/mime/uri.hpp"
#include "pampero/verdict/rule_hit.hpp"

namespace pampero::scan {

enum class Target { header, body, rawbody, decoded, uri, full, mime, meta };
const char* to_string(Target target);

// Which scores a scan adds up (see "Score sets" above).
enum class ScoreSet { no_classifier = 0, classifier = 1 };
const char* to_string(ScoreSet set);

// A scored rule's scores, for tools that fit or review them (the cross-validation).
struct RuleScores {
    std::string name;
    double file_score = 0;  // its rule file's `score:`, overlays left out
    double no_classifier = 0;
    double classifier = 0;
};

class RuleSet {
  public:
    struct Rule;   // compiled rule, defined in rules.cpp
    struct Group;  // one Hyperscan database and its PCRE2 fallbacks

    ~RuleSet();
    RuleSet(const RuleSet&) = delete;
    RuleSet& operator=(const RuleSet&) = delete;

    // Loads every *.yaml in dir (sorted); an empty or missing dir is an error.
    static Result<std::shared_ptr<const RuleSet>> load_dir(const std::string& dir);
    static Result<std::shared_ptr<const RuleSet>> load_files(const std::vector<std::string>& files);
    // Only the URI host reducer the rule files of dir configure (`uri_domains:`, or the
    // system Public Suffix List), the rules neither read nor compiled: what parsing a
    // message needs (`pamperoctl learn`). Errors as load_dir for that section.
    static Result<std::shared_ptr<const DomainReducer>> load_uri_domains(const std::string& dir);

    // Reported hits (no "__" sub-rules) in rule order (file order, then position), each
    // with its score in `set`.
    std::vector<RuleHit> match(const Message& msg, ScoreSet set = ScoreSet::no_classifier) const;
    // One message scored several ways that differ only in text appended to its MIME
    // summary and in the score set (per-recipient classifier models, model_set.hpp):
    // hits[v] = match(msg with mime_summary + tails[v], sets[v]), every other target
    // matched once for all of them (each variant costs one pass over the MIME summary,
    // the meta rules and the sum). tails and sets have the same size, at least 1.
    std::vector<std::vector<RuleHit>> match_variants(const Message& msg,
                                                     std::span<const std::string_view> tails,
                                                     std::span<const ScoreSet> sets) const;
    // Every scored rule (no "__" sub-rules), in rule order.
    std::vector<RuleScores> scores() const;
    std::size_t size() const { return rules_.size(); }
    // How many regex rules Hyperscan matches, and how many fell back to PCRE2.
    std::size_t hyperscan_count() const;
    std::size_t pcre_count() const;
    // The URI host reducer this rule set was configured with (never null).
    const std::shared_ptr<const DomainReducer>& domains() const { return domains_; }

  private:
    RuleSet() = default;
    std::vector<std::unique_ptr<Rule>> rules_;
    std::vector<std::unique_ptr<Group>> groups_;
    std::vector<std::size_t> meta_order_;  // meta rules, each after the metas it uses
    std::shared_ptr<const DomainReducer> domains_;
    std::uint64_t id_ = 0;  // distinguishes rule sets for per-thread scratch
};

}  // namespace pampero::scan
