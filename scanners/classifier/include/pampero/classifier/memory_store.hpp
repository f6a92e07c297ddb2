// memory_store.hpp - the classifier store in a hash map: for tests and the
// cross-validation bench. Nothing persists. Not thread-safe (one thread, or the caller
// locks).
#pragma once

#include <unordered_map>

#include "pampero/classifier/store.hpp"

namespace pampero::classifier {

class MemoryStore final : public ClassifierStore {
  public:
    Result<std::vector<TokenCounts>> get(std::span<const Token> tokens) const override;
    Result<Totals> totals() const override { return totals_; }
    Result<std::optional<Class>> learned(const std::string& id) const override;
    Status apply(const Update& update) override;
    Result<StoreStats> stats() const override;
    std::string name() const override { return "memory"; }

    // Bulk loading (a copy of another store): sets a token's counts and the totals.
    void put(Token token, const TokenCounts& counts) { tokens_[token] = counts; }
    void set_totals(const Totals& totals) { totals_ = totals; }
    void reserve(std::size_t tokens) { tokens_.reserve(tokens); }
    // Calls fn(token, counts) for every token with a count.
    template <typename Fn>
    void for_each(Fn fn) const {
        for (const auto& [t, c] : tokens_) fn(t, c);
    }

  private:
    std::unordered_map<Token, TokenCounts> tokens_;
    std::unordered_map<std::string, Class> learned_;
    Totals totals_;
};

// Adds a signed delta to a count, stopping at zero.
std::uint64_t add_clamped(std::uint64_t count, std::int64_t delta);

}  // namespace pampero::classifier
