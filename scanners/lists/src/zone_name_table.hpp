// zone_name_table.hpp - the name table of a dnset zone: exact names and wildcard names, each
// with an answer id, looked up one name at a time or many in a pipeline. Internal to
// libpampero-scan; this table alone knows its record layout (the parser hands it entries
// through NameTableBuilder).
//
// Layout: each distinct name is stored once, in an arena, as a record
//   [len: 1 byte][flags: 1 byte][name: len bytes][exact value id][wildcard value id]
// flags: kExact (an exact entry), kWild (a wildcard entry), or both. The two value ids (value
// set ids of ZoneAnswers) are stored at the table's value width (1, 2 or 4 bytes, the
// narrowest that holds every id), both present whatever the flags (0 for a missing flag);
// with width 0 (every entry has the same value) there are no id bytes and every record has
// that one value. Names are spread over buckets by hash, about kPerBucket a bucket, and a
// bucket's records are adjacent in the arena. The buckets are a compact index (32 bytes each,
// 4 bytes a name, small enough to stay in cache): a bucket holds a 16-bit fingerprint of each
// of its names' hashes, in record order, and where its records start. A fingerprint is 14
// bits of the hash and the record's flags, so a probe for an exact name passes over names
// that are only wildcards and the other way round. A probe reads one bucket, and only a name
// whose fingerprint matches (the name sought, with the flag sought, or about 1 in 16,000) is
// read from the arena: a name that is not listed costs no arena access. Index and arena share
// one anonymous mapping that asks for transparent huge pages.
//
// Lookup: an exact entry decides for the name itself; otherwise the nearest parent with a
// wildcard entry decides (its value set's answers, or not listed for an exclusion). Names are
// case-insensitive (ASCII), one trailing dot allowed; longer than Zone::kMaxNameLength or with
// an empty label is not listed. No I/O, no allocation.
//
// Limits: names of 1..Zone::kMaxNameLength bytes; arena and index together under 4 GB (the
// builder throws std::length_error past that).
//
// Thread-safety: a NameTable is immutable once built; the builder is single-threaded.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "zone_answers.hpp"

namespace pampero::scan::zone_detail {

class NameTable {
  public:
    NameTable() = default;

    // The answers for `name`, resolved through `answers` (the ZoneAnswers the table was
    // built with); empty when not listed. ZoneMatch::entry is the record's name.
    ZoneMatch lookup(std::string_view name, const ZoneAnswers& answers) const noexcept;
    // The same for many names (out[i] for names[i], min of both sizes): a pipeline hashes a
    // name and prefetches its buckets, then its records, a few names ahead of reading them,
    // so the cache misses of one lookup overlap with the others' work.
    void lookup_many(std::span<const std::string_view> names, std::span<ZoneMatch> out,
                     const ZoneAnswers& answers) const noexcept;

    std::size_t size() const { return n_; }  // distinct names
    // Bytes of the index and the arena (rounded up to pages).
    std::size_t memory() const { return mapping_.size(); }

    static constexpr unsigned char kExact = 1, kWild = 2;  // record flags
    static constexpr std::size_t kPerBucket = 8;           // ~2% of buckets then have over 14 names

    struct Bucket;  // of the index (zone_name_table.cpp)

  private:
    friend class NameTableBuilder;
    struct Query;

    std::size_t bucket(std::uint64_t h) const noexcept;
    const Bucket& bucket_of(std::uint64_t h) const noexcept;
    static unsigned matches(const Bucket& b, std::uint64_t h, unsigned flag) noexcept;
    const unsigned char* record(const Bucket& b, unsigned k) const noexcept;
    std::uint32_t hit(const unsigned char* p, const char* name, std::size_t len) const noexcept;
    void prefetch_bucket(std::uint64_t h) const noexcept;
    void prefetch_record(const Bucket& b, unsigned m) const noexcept;
    void prefetch_range(const Bucket& b, unsigned k) const noexcept;
    std::uint32_t find(const char* name, std::size_t len, std::uint64_t h,
                       unsigned flag) const noexcept;
    std::uint32_t record_value(std::uint32_t off, unsigned which) const noexcept;
    void prepare(std::string_view name, Query& q) const noexcept;
    void prefetch_buckets(const Query& q) const noexcept;
    void prefetch_records(const Query& q) const noexcept;
    ZoneMatch probe(const Query& q, const ZoneAnswers& answers) const noexcept;

    // An anonymous mapping, unmapped when its owner goes; moves, does not copy.
    class Mapping {
      public:
        Mapping() = default;
        Mapping(Mapping&& o) noexcept;
        Mapping& operator=(Mapping&& o) noexcept;
        ~Mapping();
        // `bytes` zeroed (rounded up to pages), 2 MB-aligned with transparent huge pages
        // asked for when that large. Throws std::bad_alloc.
        unsigned char* allocate(std::size_t bytes);
        std::size_t size() const { return size_; }

      private:
        unsigned char* base_ = nullptr;  // what mmap gave
        std::size_t mapped_ = 0;         // what was mapped
        std::size_t size_ = 0;           // what is used, from its (aligned) start
    };
    Mapping mapping_;  // [buckets: nb_ + 1][arena]
    const Bucket* buckets_ = nullptr;
    const unsigned char* arena_ = nullptr;  // offset 0 is no record, so 0 means "absent"
    std::uint64_t nb_ = 0;                  // buckets; 0 = empty table
    unsigned width_ = 0;                    // bytes of each value id in a record
    unsigned extra_ = 0;                    // 2 * width_: the id bytes after each name
    std::uint32_t only_ = 0;                // the one value when width_ is 0
    std::size_t n_ = 0;
    unsigned min_labels_[2] = {255, 255};  // [exact, wildcard]
    unsigned max_labels_[2] = {0, 0};
};

enum class NameKind : std::uint8_t {
    exact = 0,     // example.com: that name only
    wildcard = 1,  // *.example.com: the names under it
};

class NameTableBuilder {
  public:
    struct Options {
        std::size_t buckets = 0;  // 0: one per kPerBucket names; 1: all in one (for tests)
    };
    NameTableBuilder() = default;
    explicit NameTableBuilder(Options options) : options_(options) {}

    // Lists `name` (1..Zone::kMaxNameLength bytes, no trailing dot; ASCII letters are
    // lowercased here) as `kind` with answer id `answer` (kExcluded for an exclusion). A
    // name may be added many times, of either kind. Throws std::invalid_argument for a
    // name out of bounds, std::length_error past 4 GB of names.
    void add(std::string_view name, NameKind kind, std::uint32_t answer);
    // The table: one record per distinct name; the answers of each (name, kind) merged into
    // one value set by `answers`. Throws std::length_error when it would pass 4 GB,
    // std::bad_alloc. Leaves the builder empty.
    NameTable build(ZoneAnswersBuilder& answers);

  private:
    struct Raw {
        std::uint32_t off;
        std::uint16_t len;
        NameKind kind;
        std::uint32_t aid;
    };
    Options options_;
    std::vector<Raw> raw_;
    std::string names_;  // the names added, lowercased, back to back
};

}  // namespace pampero::scan::zone_detail
