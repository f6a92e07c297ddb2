// zone_ip_table.hpp - the IPv4 table of an ip4set/ip4tset zone: address ranges, each with an
// answer id, looked up by address, most specific block first. Internal to libpampero-scan.
//
// Layout: ranges are split into the /32, /24, /16 and /8 blocks that cover them exactly;
// each length is a level of sorted prefixes. A big level has an index on its top bits (a
// 64K-bucket index for /32 and /24 from 4,096 prefixes, 256 buckets for /16 from 256) and
// keeps only the rest of each prefix, in 1 or 2 bytes: a 1,000,000-entry /32 level is 2 MB
// of keys plus a 256 KB index. The value set of each prefix is kept at the narrowest width
// (zone_value_ids.hpp).
//
// Lookup: the /32, /24, /16, /8 block containing the address, in that order; the first
// that has any entry decides: its value set's answers, or not listed when an exclusion is
// among its entries. No I/O, no allocation.
//
// Thread-safety: an Ip4Table is immutable once built; the builder is single-threaded.
// Errors: the builder throws std::bad_alloc only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "zone_answers.hpp"
#include "zone_value_ids.hpp"

namespace pampero::scan::zone_detail {

class Ip4Table {
  public:
    // The answers for `ip` (host byte order), resolved through `answers` (the ZoneAnswers the
    // table was built with); empty when not listed. Inline, with Level::find, so that the
    // facade's lookup_ip costs no call more than it did when it read the levels itself.
    ZoneMatch lookup(std::uint32_t ip, const ZoneAnswers& answers) const noexcept;
    // Bytes held by the lookup structures.
    std::size_t memory() const;

  private:
    friend class Ip4TableBuilder;

    // One level: the sorted prefixes of one length (32, 24, 16 or 8 bits).
    struct Level {
        unsigned bits = 32;
        unsigned index_bits = 0;
        unsigned key_width = 4;
        std::size_t n = 0;
        std::vector<std::uint32_t> index;
        std::vector<std::uint8_t> keys8;
        std::vector<std::uint16_t> keys16;
        std::vector<std::uint32_t> keys32;
        ValueIds values;

        bool find(std::uint32_t ip, std::size_t& pos) const noexcept;
        // `prefixes` sorted, unique (already shifted right to `bits` bits).
        void build(unsigned level_bits, const std::vector<std::uint32_t>& prefixes,
                   const std::vector<std::uint32_t>& ids);
        std::size_t memory() const;
    };
    Level levels_[4];  // /32, /24, /16, /8: most specific first
};

class Ip4TableBuilder {
  public:
    // Lists [lo, hi] (host byte order, lo <= hi) with answer id `answer` (kExcluded for an
    // exclusion). A range costs one key per block of its split: 10.0.0.1-10.1.0.0 is 255
    // /32s, 255 /24s and one /16 more before it reaches 10.1.0.0.
    void add_range(std::uint32_t lo, std::uint32_t hi, std::uint32_t answer);
    // The table; the answers of a block's entries are merged into one value set by
    // `answers`. Leaves the builder empty.
    Ip4Table build(ZoneAnswersBuilder& answers);

  private:
    struct Raw {
        std::uint32_t key;
        std::uint32_t aid;
    };
    std::vector<Raw> raw_[4];  // per level, as Ip4Table's
};

// The position of `s` in keys[lo, hi) (sorted), when it is there.
template <typename K>
inline bool ip4_search(const std::vector<K>& keys, std::size_t lo, std::size_t hi, std::uint32_t s,
                       std::size_t& pos) noexcept {
    const K* b = keys.data() + lo;
    const K* e = keys.data() + hi;
    const K* it = std::lower_bound(b, e, static_cast<K>(s));
    if (it == e || *it != static_cast<K>(s)) return false;
    pos = static_cast<std::size_t>(it - keys.data());
    return true;
}

inline bool Ip4Table::Level::find(std::uint32_t ip, std::size_t& pos) const noexcept {
    if (n == 0) return false;
    const std::uint32_t p = bits == 32 ? ip : ip >> (32 - bits);
    std::size_t lo = 0, hi = n;
    std::uint32_t s = p;
    if (index_bits) {
        const std::uint32_t bucket = p >> (bits - index_bits);
        lo = index[bucket];
        hi = index[bucket + 1];
        if (lo == hi) return false;
        s = p & ((1u << (bits - index_bits)) - 1);
    }
    switch (key_width) {
        case 1:
            return ip4_search(keys8, lo, hi, s, pos);
        case 2:
            return ip4_search(keys16, lo, hi, s, pos);
        default:
            return ip4_search(keys32, lo, hi, s, pos);
    }
}

inline ZoneMatch Ip4Table::lookup(std::uint32_t ip, const ZoneAnswers& answers) const noexcept {
    for (const auto& level : levels_) {
        std::size_t pos = 0;
        if (level.find(ip, pos)) return answers.match_set(level.values.get(pos), {});
    }
    return {};
}

}  // namespace pampero::scan::zone_detail
