// blocklists.hpp - DNSBL/URIBL checks for one message: the configured lists (pampero.yaml
// `blocklists:`, see common/blocklist_config.hpp), mirror zone files and dns-mode lists,
// turned into rule hits and a reject decision.
//
// What the engine and the milter call:
//   auto bl = Blocklists::create(config.blocklists);      // at start and on SIGHUP
//   BlocklistInput in{client_ip, received_ips, uri_domains, uri_ips};
//   BlocklistResult r = bl.value()->check(in);           // at end of message
//   -> r.hits (RuleHit{name, score, description}, one per rule name) go to scoring;
//      r.reject is true when an `action: reject` list lists the client IP.
//   std::optional<std::string> why = bl.value()->client_reject(client_ip);  // at RCPT,
//      after white lists: a reason string when an `action: reject` list lists the IP.
//   bl.value()->reload_changed();  // every few seconds, from the daemon's main loop
//
// Semantics:
//   - Each list looks up what its target names: client_ip (the SMTP client), received_ip
//     (the IPs of untrusted Received hops the caller picked), uri_domain (domains already
//     reduced to what the list expects by the URI code), uri_ip (IP hosts in URIs).
//   - An answer maps to rules by `returns` (exact address) or `bitmask` (bits of the last
//     octet), else to `rule:` if given; an answer nothing maps is ignored (debug log).
//   - Error answers never count and are logged (rate-limited: one line per list per
//     minute, with the number suppressed): 127.255.255.0/24 (Spamhaus: query refused,
//     e.g. through a public resolver), the bit 1 (value & 1) on a bitmask list (SURBL:
//     access blocked), and any address outside 127.0.0.0/8 (a resolver hijacking NXDOMAIN).
//   - dns mode: all queries of one check() run in parallel; a list that does not answer
//     within its timeout_ms counts as not listed and is logged (rate-limited).
//   - A rule hits at most once per message, whatever number of IPs/domains it listed; the
//     description names the zone, the first subject, the answer and the TXT (mirror).
//   - Inputs are bounded: at most kMaxReceivedIps received IPs, kMaxUriDomains domains and
//     kMaxUriIps URI IPs are looked up (duplicates removed first; the rest ignored). IPv6
//     addresses are skipped (the supported zone formats are IPv4 only); malformed
//     addresses and names are skipped.
//   - RFC 5782 test points: 127.0.0.2 / "test" must be listed, 127.0.0.1 / "invalid" must
//     not; nothing filters them out, so they answer as the zone says in both modes;
//     test_points() checks a list.
//
// Mirror files: create() loads each one. A file that does not parse is a config error
// (refuse to start); a missing/unreadable file is logged and the list serves nothing
// until the file appears. reload_changed() (called by the daemon every few seconds)
// stats every file and rebuilds the ones whose mtime/size/inode changed: a new Zone is
// parsed, then swapped in; a file that fails keeps the old Zone serving and is logged with
// FILE:LINE. Zones whose $TIMESTAMP expiry has passed stop serving at the next call.
//
// Thread-safety: check(), client_reject(), lookup(), test_points() and reload_changed()
// may all run concurrently from any threads. Mirror lookups do no I/O; check() allocates
// only for its result and the dns queries.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pampero/common/blocklist_config.hpp"
#include "pampero/common/result.hpp"
#include "pampero/lists/zone.hpp"
#include "pampero/verdict/rule_hit.hpp"

namespace pampero::scan {

class DnsResolver;

struct BlocklistInput {
    std::string_view client_ip;  // may be empty
    std::span<const std::string> received_ips;
    std::span<const std::string> uri_domains;
    std::span<const std::string> uri_ips;
};

// What one check() asked of one list, for the daemons' metrics.
struct BlocklistTally {
    std::uint32_t lookups = 0;  // subjects looked up (mirror or DNS)
    std::uint32_t hits = 0;     // of them, listed with an answer that is not an error
};

struct BlocklistResult {
    std::vector<RuleHit> hits;
    std::vector<BlocklistTally> tally;  // by list index, as lists()
    bool reject = false;                // an `action: reject` list listed the client IP
    std::string reject_reason;          // "client 1.2.3.4 listed in zen.spamhaus.org (127.0.0.2)"
};

// One raw lookup, for pamperoctl and the tests.
struct BlocklistAnswer {
    enum class Status { listed, not_listed, timeout, error, not_loaded, bad_subject };
    Status status = Status::not_listed;
    std::vector<std::uint32_t> a;       // every A value, error answers included
    std::vector<std::string> txt;       // mirror mode: TXT per A value ("" when none)
    std::vector<std::string> rules;     // rule names the answers map to (no errors)
    std::vector<std::uint32_t> errors;  // the A values that are error answers
    std::string detail;
};
const char* to_string(BlocklistAnswer::Status s);

class Blocklists {
  public:
    static constexpr std::size_t kMaxReceivedIps = 16;
    static constexpr std::size_t kMaxUriDomains = 256;
    static constexpr std::size_t kMaxUriIps = 64;

    // Errors: config (a mirror file that does not parse, a bad resolver).
    static Result<std::shared_ptr<Blocklists>> create(std::vector<BlocklistConfig> lists);
    ~Blocklists();
    Blocklists(const Blocklists&) = delete;
    Blocklists& operator=(const Blocklists&) = delete;

    BlocklistResult check(const BlocklistInput& in) const;
    // Only the `action: reject` lists, only the client IP; nullopt when not listed.
    std::optional<std::string> client_reject(std::string_view client_ip) const;

    // Looks `subject` (an IPv4 address for IP targets, a domain for uri_domain) up in list
    // `index` and reports the raw answer.
    BlocklistAnswer lookup(std::size_t index, std::string_view subject) const;
    // RFC 5782 test points for list `index`; error message when the list fails them.
    Status test_points(std::size_t index) const;

    // Stats mirror files, reloads those that changed. Returns how many were swapped in.
    std::size_t reload_changed();

    const std::vector<BlocklistConfig>& lists() const { return lists_; }
    // The zone a mirror list serves now (nullptr: dns mode, or not loaded).
    std::shared_ptr<const Zone> zone(std::size_t index) const;

    struct List;  // per-list state, defined in blocklists.cpp

  private:
    Blocklists() = default;
    std::vector<BlocklistConfig> lists_;
    std::vector<std::unique_ptr<List>> state_;
    std::mutex reload_mu_;
};

}  // namespace pampero::scan
