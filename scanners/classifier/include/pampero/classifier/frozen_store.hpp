// frozen_store.hpp - a read-only copy of a store's counts laid out for scanning: one flat
// open-addressing table of 16-byte entries (token, spam, ham), linear probing, at most
// half full. A lookup touches one cache line where a node-based hash map touches two
// (bucket, then node): with ~1,000 lookups a message over a table far bigger than the
// CPU cache, that is most of the classifier's cost in a scan.
//
// Holds the counts and totals only: learned() and apply() fail (Error::permanent), it is
// what ScanClassifier reads, never what learning writes. Counts above 2^32 - 1 are kept
// at that. Thread-safe for concurrent reads (immutable after construction).
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

  private:
    struct Entry {
        Token token = 0;
        std::uint32_t spam = 0;  // spam == ham == 0: an empty slot
        std::uint32_t ham = 0;
    };
    std::vector<Entry> table_;  // size a power of two
    std::size_t mask_ = 0;
    std::size_t count_ = 0;
    Totals totals_;
};

}  // namespace pampero::classifier
