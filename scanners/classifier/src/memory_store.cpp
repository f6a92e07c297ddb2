#include "pampero/classifier/memory_store.hpp"

namespace pampero::classifier {

const char* to_string(Class c) {
    return c == Class::spam ? "spam" : "ham";
}

std::uint64_t add_clamped(std::uint64_t count, std::int64_t delta) {
    if (delta >= 0) return count + static_cast<std::uint64_t>(delta);
    const auto down = static_cast<std::uint64_t>(-(delta + 1)) + 1;
    return down >= count ? 0 : count - down;
}

Result<std::vector<TokenCounts>> MemoryStore::get(std::span<const Token> tokens) const {
    std::vector<TokenCounts> out;
    out.reserve(tokens.size());
    for (const Token t : tokens) {
        const auto it = tokens_.find(t);
        out.push_back(it == tokens_.end() ? TokenCounts{} : it->second);
    }
    return out;
}

Result<std::optional<Class>> MemoryStore::learned(const std::string& id) const {
    const auto it = learned_.find(id);
    if (it == learned_.end()) return std::optional<Class>{};
    return std::optional<Class>{it->second};
}

Status MemoryStore::apply(const Update& update) {
    for (const auto& d : update.tokens) {
        auto& c = tokens_[d.token];
        c.spam = add_clamped(c.spam, d.spam);
        c.ham = add_clamped(c.ham, d.ham);
        if (c.spam == 0 && c.ham == 0) tokens_.erase(d.token);
    }
    totals_.spam = add_clamped(totals_.spam, update.spam_messages);
    totals_.ham = add_clamped(totals_.ham, update.ham_messages);
    for (const auto& [id, cls] : update.learned) {
        if (cls)
            learned_[id] = *cls;
        else
            learned_.erase(id);
    }
    return ok_status();
}

Result<StoreStats> MemoryStore::stats() const {
    return StoreStats{totals_, tokens_.size(), learned_.size()};
}

}  // namespace pampero::classifier
