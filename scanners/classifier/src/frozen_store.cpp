#include "pampero/classifier/frozen_store.hpp"

#include <algorithm>
#include <limits>
#include <unordered_map>

namespace pampero::classifier {
namespace {

std::uint32_t narrow(std::uint64_t n) {
    return static_cast<std::uint32_t>(
        std::min<std::uint64_t>(n, std::numeric_limits<std::uint32_t>::max()));
}

// m = token x an odd constant, a bijection: its high half picks the home slot, scaled to
// the table (Lemire's multiply-shift: the size need not be a power of two), its low half is
// the fingerprint. Two tokens with the same high half (the same home slot) then always
// have different fingerprints; tokens of different home slots in one run of occupied
// slots share one with probability 2^-32.
std::uint64_t mix(Token t) {
    return t * 0x9e3779b97f4a7c15ull;
}

std::uint32_t home(std::uint64_t m, std::size_t slots) {
    return static_cast<std::uint32_t>(((m >> 32) * static_cast<std::uint64_t>(slots)) >> 32);
}

std::uint32_t fingerprint(std::uint64_t m) {
    return static_cast<std::uint32_t>(m);
}

}  // namespace

FrozenStore::FrozenStore(Totals totals, const std::vector<std::pair<Token, TokenCounts>>& entries)
    : totals_(totals) {
    // At most 3/4 full (see the header), whole lines, at least one empty slot.
    const std::size_t lines = std::max<std::size_t>(1, (entries.size() * 4 / 3 + kLine) / kLine);
    lines_.assign(lines, Line{});
    slots_ = lines * kLine;
    Entry* const table = lines_.front().e;
    pairs_.assign(1, TokenCounts{});
    std::unordered_map<std::uint64_t, std::uint32_t> pair_index;
    for (const auto& [t, c] : entries) {
        const std::uint32_t spam = narrow(c.spam), ham = narrow(c.ham);
        if (spam == 0 && ham == 0) continue;
        const auto [it, added] = pair_index.try_emplace(std::uint64_t{spam} << 32 | ham,
                                                        static_cast<std::uint32_t>(pairs_.size()));
        if (added) pairs_.push_back({spam, ham});
        const std::uint64_t m = mix(t);
        const std::uint32_t fp = fingerprint(m);
        std::size_t i = home(m, slots_);
        while (table[i].pair != 0 && table[i].fingerprint != fp) i = i + 1 == slots_ ? 0 : i + 1;
        if (table[i].pair == 0) ++count_;
        table[i] = {fp, it->second};
    }
}

std::unique_ptr<FrozenStore> FrozenStore::copy_of(const MemoryStore& store) {
    std::vector<std::pair<Token, TokenCounts>> entries;
    store.for_each([&](Token t, const TokenCounts& c) { entries.emplace_back(t, c); });
    return std::make_unique<FrozenStore>(*store.totals(), entries);
}

Result<std::vector<TokenCounts>> FrozenStore::get(std::span<const Token> tokens) const {
    std::vector<TokenCounts> out;
    if (auto st = get_into(tokens, out); !st) return st.error();
    return out;
}

Status FrozenStore::get_into(std::span<const Token> tokens, std::vector<TokenCounts>& out) const {
    const std::size_t n = tokens.size();
    out.resize(n);
    // First each token's home slot and fingerprint (kept in `out` until its counts replace
    // them), then the probes, asking for the line of the token kAhead places on while
    // probing this one: the table is bigger than the L2 cache, so the misses overlap.
    constexpr std::size_t kAhead = 8;
    for (std::size_t k = 0; k < n; ++k) {
        const std::uint64_t m = mix(tokens[k]);
        out[k] = {home(m, slots_), fingerprint(m)};
    }
    const Entry* const table = lines_.front().e;
    for (std::size_t k = 0; k < std::min(kAhead, n); ++k) __builtin_prefetch(table + out[k].spam);
    for (std::size_t k = 0; k < n; ++k) {
        if (k + kAhead < n) __builtin_prefetch(table + out[k + kAhead].spam);
        std::size_t i = static_cast<std::size_t>(out[k].spam);
        const auto fp = static_cast<std::uint32_t>(out[k].ham);
        // Terminates: the table is at most 3/4 full, so an empty slot is always found.
        while (table[i].pair != 0 && table[i].fingerprint != fp) i = i + 1 == slots_ ? 0 : i + 1;
        out[k] = pairs_[table[i].pair];  // pairs_[0]: {0, 0}, unknown
    }
    return ok_status();
}

Result<std::optional<Class>> FrozenStore::learned(const std::string&) const {
    return Error::permanent("a frozen copy of the classifier's counts keeps no learned ids");
}

Status FrozenStore::apply(const Update&) {
    return Error::permanent("a frozen copy of the classifier's counts is read-only");
}

Result<StoreStats> FrozenStore::stats() const {
    return StoreStats{totals_, count_, 0};
}

}  // namespace pampero::classifier
