#include "macro_store.hpp"

namespace pampero::milter {

namespace {

std::string_view bare(std::string_view n) {
    if (n.size() >= 2 && n.front() == '{' && n.back() == '}') return n.substr(1, n.size() - 2);
    return n;
}

}  // namespace

void MacroStore::set(char stage,
                     const std::vector<std::pair<std::string_view, std::string_view>>& pairs) {
    const auto i = kStages.find(stage);
    if (i == std::string_view::npos) return;  // a stage we never look at
    auto& v = stages_[i];
    v.clear();
    for (const auto& [n, val] : pairs) v.emplace_back(std::string(bare(n)), std::string(val));
}

std::optional<std::string_view> MacroStore::get(std::string_view name) const {
    name = bare(name);
    for (std::size_t i = stages_.size(); i-- > 0;) {
        for (const auto& [n, v] : stages_[i]) {
            if (n == name) return std::string_view(v);
        }
    }
    return std::nullopt;
}

void MacroStore::clear_from(char from) {
    for (std::size_t i = kStages.find(from); i < stages_.size(); ++i) stages_[i].clear();
}

}  // namespace pampero::milter
