// frozen_store.hpp - a read-only copy of a store's counts laid out for scanning: one flat
// open-addressing table of 8-byte entries (a 32-bit fingerprint of the token and the
// index of its (spam, ham) counts in a small table of the distinct pairs), linear probing,
// at most 3/4 full, in 64-byte lines of 8 entries.
//
// Why this shape: a scan looks up ~1,000 tokens a message at random places in the table,
// and the rare ones miss the cache. 365K tokens learned from 3,125
// messages take 3.9 MB here (16 MB with 16-byte entries at most half full), nearer the
// L2 cache (2 MB a core on the development VM) than before. The counts are few distinct
// pairs (most tokens were seen once or twice: 2,478 pairs for the 303K tokens of the
// 3,000-message corpus model), so their table (40 KB) stays in cache.
//
// Fingerprints, not tokens, are compared: a lookup answers the counts of another token
// when that one sits in the same run of occupied slots and has the same 32-bit
// fingerprint (the home slot is the high half of m = token x an odd constant, scaled;
// the fingerprint is m's low half, so two tokens whose m agree in the high half never
// share one). Per lookup of an unknown token that is about (probes) x 2^-32: at 3/4
// load, linear probing compares ~8.5 entries on a miss, so ~2e-9 a lookup, about one
// wrong token in 500,000 messages of 1,000 unknown tokens each (and then it is one token
// of up to max_tokens combined). Two stored tokens colliding the same way: ~n x 8.5 x
// 2^-32, 6e-4 for the corpus' 303K tokens (none there; the later one's counts overwrite
// the earlier's). A known token's own entry is always found, unless such a collision put
// another token first in its run.
//
// Holds the counts and totals only: learned() and apply() fail (Error::permanent), it is
// what ScanClassifier reads, never what learning writes. Counts above 2^32 - 1 are kept
// at that. Memory: ~10.7 bytes a token plus 16 bytes a distinct pair (at most 2^32 - 1
// pairs). Thread-safe for concurrent reads (immutable after construction).
#pragma once

#include <vector>

#include "pampero/classifier/memory_store.hpp"

namespace pampero::classifier {

class FrozenStore final : public ClassifierStore {
  public:
    // `entries`: each token once, with a non-zero count.
    FrozenStore(Totals totals, const std::vector<std::pair<Token, TokenCounts>>& entries);
    static std::unique_ptr<FrozenStore> copy_of(const MemoryStore& store);

    Result<std::vector<TokenCounts>> get(std::span<const Token> tokens) const override;
    Status get_into(std::span<const Token> tokens, std::vector<TokenCounts>& out) const override;
    Result<Totals> totals() const override { return totals_; }
    Result<std::optional<Class>> learned(const std::string& id) const override;
    Status apply(const Update& update) override;
    Result<StoreStats> stats() const override;
    std::string name() const override { return "frozen copy"; }

    // The distinct (spam, ham) pairs held (for tests and the bench).
    std::size_t distinct_counts() const { return pairs_.size() - 1; }
    // The table's size in bytes.
    std::size_t table_bytes() const { return lines_.size() * sizeof(Line); }

  private:
    struct Entry {
        std::uint32_t fingerprint = 0;
        std::uint32_t pair = 0;  // index into pairs_; 0: an empty slot
    };
    static constexpr std::size_t kLine = 8;  // entries a 64-byte cache line
    struct alignas(64) Line {
        Entry e[kLine];
    };
    std::vector<Line> lines_;
    std::size_t slots_ = 0;  // lines_.size() * kLine
    // pairs_[0] = {0, 0}: what an empty slot (an unknown token) answers.
    std::vector<TokenCounts> pairs_;
    std::size_t count_ = 0;
    Totals totals_;
};

}  // namespace pampero::classifier
