// zone_answers.hpp - what a zone answers with: the distinct A+TXT answers of its entries,
// the value sets its tables point to, and the TXT templates ($n variables, the $= base).
// Internal to libpampero-scan (zone.hpp is the public contract).
//
// Ids: an answer id indexes ZoneAnswers::answers (kExcluded stands for an exclusion line's
// "answer"); a value set id is what an IP or name table stores for a key: the answers of all
// the entries for that key. Set 0 is the empty set, what an exclusion leaves: a key whose
// set is 0 is "not listed", and stops the search there.
//
// Thread-safety: a ZoneAnswers is immutable once built; the builder is single-threaded.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pampero/lists/zone.hpp"

namespace pampero::scan::zone_detail {

constexpr std::uint32_t kExcluded = 0xffffffffu;  // the answer id of an exclusion
constexpr std::size_t kMaxTxt = 255;              // rbldnsd truncates TXT there

struct ZoneAnswers {
    struct Answer {
        std::uint32_t a;
        std::uint32_t txt_off;
        std::uint32_t txt_len;
    };
    std::vector<Answer> answers;
    std::string txt_blob;
    // Value sets: set 0 is "excluded" (no answers); set i is members[begin[i]..begin[i+1]).
    std::vector<std::uint32_t> set_begin{0, 0};
    std::vector<std::uint32_t> set_members;
    std::string vars[10];  // $0..$9
    bool var_set[10] = {};
    std::string base;  // $=
    bool has_base = false;

    // The answers of value set `set` (a valid id), `entry` passed through; empty for set 0.
    ZoneMatch match_set(std::uint32_t set, std::string_view entry) const noexcept {
        const std::uint32_t b = set_begin[set], e = set_begin[set + 1];
        if (b == e) return {};
        return {std::span<const std::uint32_t>(set_members.data() + b, e - b), entry};
    }
    // See Zone::answer_txt.
    std::string txt(std::uint32_t id, std::string_view subject) const;
    // Bytes held (capacities).
    std::size_t memory() const;
};

// Fills a ZoneAnswers. Throws std::bad_alloc only.
class ZoneAnswersBuilder {
  public:
    explicit ZoneAnswersBuilder(ZoneAnswers& out) : z_(out) {}

    // The id of the answer (a, txt), the same id for the same pair. txt at most kMaxTxt.
    std::uint32_t intern(std::uint32_t a, std::string_view txt);
    // $n (n 0..9) and $=: the first definition wins, later ones are ignored.
    void define_var(unsigned n, std::string_view text);
    void define_base(std::string_view text);
    // The value set of a key listed with the answer ids in `group` (non-empty; sorted and
    // made unique here): 0 when one of them is kExcluded (an exclusion beats every listing),
    // else the same id for the same answers.
    std::uint32_t value_set(std::vector<std::uint32_t>& group);
    // Gives back spare capacity; call once, after the last value_set().
    void finish();

  private:
    std::uint32_t new_set(const std::vector<std::uint32_t>& members);

    ZoneAnswers& z_;
    std::unordered_map<std::string, std::uint32_t> answer_ids_;
    std::vector<std::uint32_t> single_set_;  // answer id -> its one-answer set, 0 = none yet
    std::map<std::vector<std::uint32_t>, std::uint32_t> multi_set_;
};

}  // namespace pampero::scan::zone_detail
