// zone.hpp - rbldnsd zone files (ip4set, ip4tset, dnset) in memory, looked up with no
// I/O and no allocation.
//
// Formats, as rbldnsd(8) reads them (and as a real rbldnsd answers them; the integration
// test compares the two):
//   ip4set   one entry a line: 1.2.3.4, partial nets 10.1.2 / 10.1 (a.b.c = a.b.c.0/24),
//            CIDR 10.0.0.0/12 or 10/8, ranges 1.2.3.4-1.2.3.9, 10.16-31 (last octet of the
//            first prefix), `!entry` exclusions. Optional value after the entry:
//            `:A:TXT`, `:A` (default TXT), `:A:` (no TXT) or a bare TXT (default A); A may be
//            a full address or one number n meaning 127.0.0.n. `# ...` / `; ...` after an
//            entry is a comment. A line `:A:TXT` sets the default for the lines after it
//            (initial default: 127.0.0.2, no TXT).
//            Lookup is most specific first: the /32, /24, /16, /8 block containing the
//            address (ranges are split into such blocks); at the first block that has any
//            entry, an exclusion means "not listed", else every distinct value is returned.
//   ip4tset  full addresses only, one value for all (one optional `:A:TXT` line), no
//            exclusions, no per-entry values.
//   dnset    example.com (that name only), *.example.com (subdomains only), .example.com
//            (both), `!` exclusions, values as above. An exact entry wins; otherwise the
//            nearest wildcard parent decides (an exclusion there means not listed). Names
//            are case-insensitive.
//   All:     empty lines and lines starting with # or ; are comments. Specials ($ or #$, ;$,
//            :$ at the start of a line): $SOA, $NS, $TTL (accepted, not used here),
//            $MAXRANGE4 (entries covering more addresses are skipped with a warning, as
//            rbldnsd does), $TIMESTAMP stamp [expires] (data stamped in the future or
//            already expired is refused), $0..$9 substitution variables and $= base
//            template for TXT (first definition wins).
//
// Errors: any line that does not parse (bad address, bad value, unknown $special, line
// longer than kMaxLine, name longer than 253 or a label longer than 63 characters, more
// than kMaxEntries entries) makes the whole load fail with "FILE:LINE: why"; the caller
// keeps serving the previous Zone. Lines that parse but that rbldnsd also ignores (a CIDR
// with host bits set such as 10.1.2.3/24, a range over $MAXRANGE4) are skipped and counted
// as warnings, the first few kept with their FILE:LINE. A TXT longer than 255 bytes is
// truncated, as rbldnsd does.
//
// Memory: an ip4set costs about 2-4 bytes per /32 entry (keys are split into a 64K-bucket
// index and 16-bit suffixes) plus 0-4 bytes of value id when entries carry different
// values; a dnset costs each distinct name once (+2 bytes, +value ids when entries differ)
// plus 4 bytes of bucket index per name (a 16-bit fingerprint: 14 bits of the name's hash
// and whether it is an exact or a wildcard entry, so a name that is not listed is answered
// from the index alone; the index is mapped with transparent huge pages when there is
// 2 MB of it).
//
// Thread-safety: a Zone is immutable after load; lookups from any number of threads are
// safe. Reload builds a new Zone and swaps a shared_ptr<const Zone> (see blocklists.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pampero/common/blocklist_config.hpp"
#include "pampero/common/result.hpp"
#include "pampero/common/strings.hpp"  // IPv4 text for lookup_ip() callers

namespace pampero::scan {

// The answer of one lookup: the answer ids (see Zone::answer_a/answer_txt) of a listing,
// empty when not listed. Points into the Zone; valid while the Zone lives.
struct ZoneMatch {
    std::span<const std::uint32_t> answers;
    std::string_view entry;  // dnset: the name that matched (for TXT '$'); empty for IPs
    bool listed() const { return !answers.empty(); }
};

class Zone {
  public:
    static constexpr std::size_t kMaxLine = 4096;            // bytes, without the newline
    static constexpr std::size_t kMaxEntries = 100'000'000;  // lines that list or exclude
    static constexpr std::uint64_t kMaxFileSize = 4ull << 30;
    static constexpr std::size_t kMaxNameLength = 253;
    static constexpr std::size_t kMaxWarningsKept = 5;

    struct Stats {
        std::size_t entries = 0;  // entry lines accepted (listings and exclusions)
        std::size_t exclusions = 0;
        std::size_t warnings = 0;                 // lines skipped as rbldnsd would skip them
        std::vector<std::string> first_warnings;  // "FILE:LINE: why", at most kMaxWarningsKept
        std::size_t memory = 0;                   // bytes held by the lookup structures
        std::int64_t expires = 0;                 // $TIMESTAMP expiry (unix time), 0 = none
    };

    // Reads and parses `path`. Errors: temporary when the file cannot be read (missing,
    // permissions), config when its content does not parse. No partial Zone is returned.
    static Result<std::shared_ptr<const Zone>> load_file(const std::string& path,
                                                         ZoneFormat format);
    // Parses `text`; `name` is used in messages ("name:LINE: why").
    static Result<std::shared_ptr<const Zone>> parse(std::string_view text, ZoneFormat format,
                                                     const std::string& name);
    // Tuning, for tests. name_buckets: the dnset's hash bucket count (0 = one per 8 or so
    // names; 1 puts every name in one bucket, so fingerprints collide).
    struct Options {
        std::size_t name_buckets = 0;
    };
    static Result<std::shared_ptr<const Zone>> parse(std::string_view text, ZoneFormat format,
                                                     const std::string& name,
                                                     const Options& options);

    ~Zone();
    Zone(const Zone&) = delete;
    Zone& operator=(const Zone&) = delete;

    ZoneFormat format() const { return format_; }
    const Stats& stats() const { return stats_; }

    // IPv4 address in host byte order. For a dnset, the reversed dotted address is looked
    // up as a name (SURBL-style IP listings). No I/O, no allocation.
    ZoneMatch lookup_ip(std::uint32_t ip) const noexcept;
    // A domain name, case-insensitive, one trailing dot allowed; more than 253 characters
    // is "not listed". For an IP set, the name is not listed. No I/O, no allocation.
    ZoneMatch lookup_name(std::string_view name) const noexcept;
    // The same for many names at once (out[i] for names[i]; min of both sizes): a pipeline
    // hashes a name and prefetches its buckets, then its records, a few names ahead of
    // reading them, so the cache misses of one lookup overlap with the others' work. What
    // the engine calls with a message's URI domains.
    void lookup_names(std::span<const std::string_view> names,
                      std::span<ZoneMatch> out) const noexcept;

    // The A value of an answer id (host byte order, 127.0.0.x normally).
    std::uint32_t answer_a(std::uint32_t id) const noexcept;
    // The TXT record rbldnsd would give for this answer, with `$` replaced by `subject`
    // (the queried address for IP sets, the matched entry for dnset), $n variables and the
    // base template applied. Empty when the answer has no TXT. Allocates.
    std::string answer_txt(std::uint32_t id, std::string_view subject) const;

    struct Impl;

  private:
    Zone();
    ZoneFormat format_ = ZoneFormat::ip4set;
    Stats stats_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace pampero::scan
