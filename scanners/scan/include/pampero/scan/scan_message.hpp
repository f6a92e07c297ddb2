// scan_message.hpp - the one path from a raw message and its envelope to a verdict.
//
// The milter (at end of message) and `pamperoctl scan` both call scan_message(), so an
// explained verdict is the milter's verdict. It parses the message once, looks the client
// IP, the first untrusted Received hop, the URI domains and the URI IPs up in the
// blocklists (when there are any), asks the statistical classifier (when there is one)
// for its line in the MIME summary (scanners/classifier/scan_classifier.hpp: the BAYES_*
// rules score it), and scores the rules with the list hits added: with the rules' score
// set `classifier` when the classifier voted on the message, else `no_classifier`
// (rules.hpp: the rules must carry the decision alone when it abstains).
//
// The Received hop looked up is the newest one whose address is public and is not the
// client's own: the hops below it were written by machines pampero cannot vouch for, and
// the client IP is already checked as such. URI domains are reduced the SURBL way (base
// domain by the two- and three-level TLD lists), which is what URI lists expect.
// Thread-safe (the engine, the lists and the classifier are).
#pragma once

#include <span>
#include <string_view>

#include "pampero/classifier/model_set.hpp"
#include "pampero/classifier/scan_classifier.hpp"
#include "pampero/lists/blocklists.hpp"
#include "pampero/rules/engine.hpp"

namespace pampero::scan {

// `parsed`: GMime's parse of `raw`, when the caller has one; `cut`: raw is only the
// beginning of the message (the caller kept no more), so the verdict is partial;
// `tally`: when given, what each list was asked (BlocklistResult::tally; empty when no
// list was asked); `classifier`: the statistical classifier, nullptr for none (it
// abstains by itself when its store is missing or has learned too little).
Verdict scan_message(const Engine& engine, const Blocklists* lists, std::string_view raw,
                     std::string_view client_ip, const ParsedMime* parsed = nullptr,
                     bool cut = false, std::vector<BlocklistTally>* tally = nullptr,
                     const classifier::ScanClassifier* classifier = nullptr);

// Per-recipient classifier models (classifier.model: domain or user, model_set.hpp): the
// message parsed, matched against the rules and tokenized once; each recipient's model
// votes (ModelSet::votes), and each distinct vote gets its verdict from one rule match
// (Engine::scan_variants: only the MIME-summary rules, the metas and the sum again).
struct RecipientVerdicts {
    std::vector<Verdict> verdicts;    // one per distinct classifier line, first seen first
    std::vector<std::size_t> of;      // recipient i's verdict: verdicts[of[i]]
    std::vector<std::string> models;  // recipient i's voting model (classifier::Vote::model)
};
RecipientVerdicts scan_message_for(const Engine& engine, const Blocklists* lists,
                                   std::string_view raw, std::string_view client_ip,
                                   const classifier::ModelSet& models,
                                   std::span<const std::string> recipients,
                                   const ParsedMime* parsed = nullptr, bool cut = false,
                                   std::vector<BlocklistTally>* tally = nullptr);

// True for an IPv4 address outside the private, loopback, link-local, CGNAT, multicast
// and reserved ranges (what a Received hop from the internet looks like).
bool is_public_ipv4(std::string_view ip);

}  // namespace pampero::scan
