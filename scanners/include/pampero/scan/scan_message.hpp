// scan_message.hpp - the one path from a raw message and its envelope to a verdict.
//
// The milter (at end of message) and `pamperoctl scan` both call scan_message(), so an
// explained verdict is the milter's verdict. It parses the message once, looks the client
// IP, the first untrusted Received hop, the URI domains and the URI IPs up in the
// blocklists (when there are any), and scores the rules with the list hits added.
//
// The Received hop looked up is the newest one whose address is public and is not the
// client's own: the hops below it were written by machines pampero cannot vouch for, and
// the client IP is already checked as such. URI domains are reduced the SURBL way (base
// domain by the two- and three-level TLD lists), which is what URI lists expect.
// Thread-safe (the engine and the lists are).
#pragma once

#include <string>
#include <string_view>

#include "pampero/scan/blocklists.hpp"
#include "pampero/scan/engine.hpp"

namespace pampero::scan {

// A statistical opinion on a parsed message (the classifier, scanners/classifier/). It
// speaks through the rules like any other test: the line it returns ("classifier
// BAYES_95 p=0.9712 tokens=150\n", or "" when it abstains) is appended to the message's
// mime_summary, where `target: mime` rules (conf/rules.d/45-classifier.yaml) score it,
// so levels apply and `pamperoctl scan` explains it. A sender cannot write that line:
// every other mime_summary line starts with a fixed word and file names are sanitized.
// Must be thread-safe and must not fail: trouble means abstaining.
class MessageClassifier {
  public:
    virtual ~MessageClassifier() = default;
    virtual std::string summary_line(const Message& msg) const = 0;
};

// `parsed`: GMime's parse of `raw`, when the caller has one; `cut`: raw is only the
// beginning of the message (the caller kept no more), so the verdict is partial.
Verdict scan_message(const Engine& engine, const Blocklists* lists, std::string_view raw,
                     std::string_view client_ip, const ParsedMime* parsed = nullptr,
                     bool cut = false, const MessageClassifier* classifier = nullptr);

// True for an IPv4 address outside the private, loopback, link-local, CGNAT, multicast
// and reserved ranges (what a Received hop from the internet looks like).
bool is_public_ipv4(std::string_view ip);

}  // namespace pampero::scan
