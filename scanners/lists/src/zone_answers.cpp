// zone_answers.cpp - a zone's answers and value sets. See zone_answers.hpp.
#include "zone_answers.hpp"

#include <algorithm>
#include <cstring>

namespace pampero::scan::zone_detail {

std::string ZoneAnswers::txt(std::uint32_t id, std::string_view subject) const {
    const auto& a = answers[id];
    const std::string_view raw(txt_blob.data() + a.txt_off, a.txt_len);
    std::string out;
    auto expand = [&](std::string_view t, std::string_view base_text, bool in_base) {
        for (std::size_t i = 0; i < t.size(); ++i) {
            if (t[i] != '$') {
                out += t[i];
                continue;
            }
            const char c = i + 1 < t.size() ? t[i + 1] : '\0';
            if (c == '$') {
                out += '$';
                ++i;
            } else if (c >= '0' && c <= '9') {
                out += vars[c - '0'];
                ++i;
            } else if (c == '=' && in_base) {
                out += base_text;
                ++i;
            } else {
                out += subject;
            }
        }
    };
    if (has_base && !(raw.size() > 0 && raw[0] == '=')) {
        expand(base, raw.empty() ? subject : raw, true);
    } else if (!raw.empty()) {
        expand(has_base ? raw.substr(1) : raw, {}, false);
    }
    if (out.size() > kMaxTxt) out.resize(kMaxTxt);
    return out;
}

std::size_t ZoneAnswers::memory() const {
    return answers.capacity() * sizeof(Answer) + txt_blob.capacity() +
           (set_begin.capacity() + set_members.capacity()) * 4;
}

std::uint32_t ZoneAnswersBuilder::intern(std::uint32_t a, std::string_view txt) {
    std::string key(4 + txt.size(), '\0');
    std::memcpy(key.data(), &a, 4);
    std::memcpy(key.data() + 4, txt.data(), txt.size());
    auto [it, inserted] =
        answer_ids_.try_emplace(std::move(key), static_cast<std::uint32_t>(z_.answers.size()));
    if (inserted) {
        z_.answers.push_back({a, static_cast<std::uint32_t>(z_.txt_blob.size()),
                              static_cast<std::uint32_t>(txt.size())});
        z_.txt_blob += txt;
    }
    return it->second;
}

void ZoneAnswersBuilder::define_var(unsigned n, std::string_view text) {
    if (n > 9 || z_.var_set[n]) return;
    z_.vars[n] = std::string(text.substr(0, kMaxTxt));
    z_.var_set[n] = true;
}

void ZoneAnswersBuilder::define_base(std::string_view text) {
    if (z_.has_base) return;
    z_.base = std::string(text.substr(0, kMaxTxt));
    z_.has_base = true;
}

std::uint32_t ZoneAnswersBuilder::value_set(std::vector<std::uint32_t>& group) {
    std::sort(group.begin(), group.end());
    group.erase(std::unique(group.begin(), group.end()), group.end());
    if (group.back() == kExcluded) return 0;  // an exclusion beats every listing
    if (group.size() == 1) {
        if (single_set_.size() < z_.answers.size()) single_set_.resize(z_.answers.size(), 0);
        auto& s = single_set_[group[0]];
        if (s == 0) s = new_set(group);
        return s;
    }
    auto [it, inserted] = multi_set_.try_emplace(group, 0);
    if (inserted) it->second = new_set(group);
    return it->second;
}

std::uint32_t ZoneAnswersBuilder::new_set(const std::vector<std::uint32_t>& members) {
    z_.set_members.insert(z_.set_members.end(), members.begin(), members.end());
    z_.set_begin.push_back(static_cast<std::uint32_t>(z_.set_members.size()));
    return static_cast<std::uint32_t>(z_.set_begin.size() - 2);
}

void ZoneAnswersBuilder::finish() {
    z_.answers.shrink_to_fit();
    z_.txt_blob.shrink_to_fit();
    z_.set_begin.shrink_to_fit();
    z_.set_members.shrink_to_fit();
    decltype(answer_ids_)().swap(answer_ids_);
    std::vector<std::uint32_t>().swap(single_set_);
    decltype(multi_set_)().swap(multi_set_);
}

}  // namespace pampero::scan::zone_detail
