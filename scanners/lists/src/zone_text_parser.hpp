// zone_text_parser.hpp - reads the text of an rbldnsd zone file (ip4set, ip4tset, dnset; the
// formats zone.hpp describes) line by line and hands its entries to the tables' builders and
// its answers to the answers' builder. It knows the syntax, the specials and rbldnsd's
// skipping rules; it knows nothing of how a table lays out what it is handed. Internal to
// libpampero-scan.
//
// Errors: a line that does not parse throws ZoneParseError "NAME:LINE: why" (zone.hpp lists
// them), and so does a builder's std::length_error (zone too large), with the line that
// passed the limit. Lines rbldnsd would skip are counted in Stats::warnings, the first
// Zone::kMaxWarningsKept kept as "NAME:LINE: why". std::bad_alloc passes through.
//
// Bounds on the file's content (it comes from a mirror sync, not from the admin): a line is
// at most Zone::kMaxLine bytes, at most Zone::kMaxEntries entry lines, a name at most
// Zone::kMaxNameLength bytes with labels of at most 63, a TXT at most 255 bytes (longer ones
// are truncated with a warning).
//
// Thread-safety: one parser per load, single-threaded.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "pampero/lists/zone.hpp"
#include "zone_answers.hpp"
#include "zone_ip_table.hpp"
#include "zone_name_table.hpp"

namespace pampero::scan::zone_detail {

struct ZoneParseError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class ZoneTextParser {
  public:
    // `name` names the zone in messages; `stats` gets entries, exclusions and warnings.
    // Entries go to `ips` (ip4set, ip4tset) or `names` (dnset); the other is left alone.
    ZoneTextParser(ZoneFormat format, const std::string& name, Zone::Stats& stats,
                   ZoneAnswersBuilder& answers, Ip4TableBuilder& ips, NameTableBuilder& names)
        : format_(format),
          name_(name),
          stats_(stats),
          answers_(answers),
          ips_(ips),
          names_(names) {}

    // Parses the whole text (lines end with "\n", "\r\n" or the end of the text).
    void run(std::string_view text);
    // The earliest $TIMESTAMP expiry seen (unix time), 0 when none.
    std::int64_t expires() const { return expires_; }

  private:
    [[noreturn]] void fail(const std::string& why) const;
    void warn(const std::string& why);
    void handle(std::string_view line);
    void special(std::string_view s, bool strict);
    void maxrange(std::string_view v);
    void timestamp(std::string_view v);
    void parse_value(std::string_view s, std::uint32_t& a, std::string& txt);
    void set_txt(std::string& txt, std::string_view s);
    std::uint32_t entry_answer(std::string_view rest, bool exclusion);
    void ip_entry(std::string_view line);
    bool parse_range(std::string_view s, std::uint32_t& lo, std::uint32_t& hi);
    void name_entry(std::string_view line);

    static constexpr std::uint32_t kDefaultA = 0x7f000002u;  // rbldnsd's default A: 127.0.0.2

    ZoneFormat format_;
    const std::string& name_;
    Zone::Stats& stats_;
    ZoneAnswersBuilder& answers_;
    Ip4TableBuilder& ips_;
    NameTableBuilder& names_;
    std::size_t line_no_ = 0;
    std::uint32_t def_a_ = kDefaultA;
    std::string def_txt_;
    std::uint32_t def_answer_ = kExcluded;
    bool defaults_seen_ = false;
    std::uint64_t maxrange_ = 0;
    std::int64_t expires_ = 0;
};

}  // namespace pampero::scan::zone_detail
