#include "pampero/classifier/frozen_store.hpp"

#include <algorithm>
#include <limits>

namespace pampero::classifier {
namespace {

std::uint32_t narrow(std::uint64_t n) {
    return static_cast<std::uint32_t>(
        std::min<std::uint64_t>(n, std::numeric_limits<std::uint32_t>::max()));
}

// Tokens are FNV hashes, already well mixed; one multiply spreads the low bits further.
std::size_t slot(Token t, std::size_t mask) {
    return static_cast<std::size_t>((t * 0x9e3779b97f4a7c15ull) >> 17) & mask;
}

}  // namespace

FrozenStore::FrozenStore(Totals totals, const std::vector<std::pair<Token, TokenCounts>>& entries)
    : totals_(totals) {
    std::size_t size = 16;
    while (size < 2 * entries.size()) size *= 2;
    table_.assign(size, Entry{});
    mask_ = size - 1;
    for (const auto& [t, c] : entries) {
        if (c.spam == 0 && c.ham == 0) continue;
        std::size_t i = slot(t, mask_);
        while (table_[i].spam != 0 || table_[i].ham != 0) {
            if (table_[i].token == t) break;
            i = (i + 1) & mask_;
        }
        if (table_[i].spam == 0 && table_[i].ham == 0) ++count_;
        table_[i] = {t, narrow(c.spam), narrow(c.ham)};
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
    out.clear();
    out.reserve(tokens.size());
    // The table is far bigger than the CPU cache and each lookup a miss: ask for the slot
    // of the token kAhead places on while probing this one, so the misses overlap.
    constexpr std::size_t kAhead = 8;
    const Entry* table = table_.data();
    for (std::size_t k = 0; k < std::min(kAhead, tokens.size()); ++k)
        __builtin_prefetch(table + slot(tokens[k], mask_));
    for (std::size_t k = 0; k < tokens.size(); ++k) {
        if (k + kAhead < tokens.size()) __builtin_prefetch(table + slot(tokens[k + kAhead], mask_));
        const Token t = tokens[k];
        std::size_t i = slot(t, mask_);
        TokenCounts c;
        // Terminates: the table is at most half full, so an empty slot is always found.
        while (table[i].spam != 0 || table[i].ham != 0) {
            if (table[i].token == t) {
                c = {table[i].spam, table[i].ham};
                break;
            }
            i = (i + 1) & mask_;
        }
        out.push_back(c);
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
