// zone_ip_table.cpp - the IPv4 table. See zone_ip_table.hpp.
#include "zone_ip_table.hpp"

#include <algorithm>

namespace pampero::scan::zone_detail {

void Ip4Table::Level::build(unsigned level_bits, const std::vector<std::uint32_t>& prefixes,
                            const std::vector<std::uint32_t>& ids) {
    bits = level_bits;
    n = prefixes.size();
    index_bits = 0;
    if (bits == 32 && n >= 4096)
        index_bits = 16;
    else if (bits == 24 && n >= 4096)
        index_bits = 16;
    else if (bits == 16 && n >= 256)
        index_bits = 8;
    const unsigned rest = bits - index_bits;
    key_width = rest <= 8 ? 1 : rest <= 16 ? 2 : 4;
    if (index_bits) {
        index.assign((std::size_t{1} << index_bits) + 1, 0);
        for (auto p : prefixes) ++index[(p >> rest) + 1];
        for (std::size_t i = 1; i < index.size(); ++i) index[i] += index[i - 1];
    }
    const std::uint32_t mask = rest == 32 ? 0xffffffffu : (1u << rest) - 1;
    for (auto p : prefixes) {
        const std::uint32_t s = p & mask;
        if (key_width == 1)
            keys8.push_back(static_cast<std::uint8_t>(s));
        else if (key_width == 2)
            keys16.push_back(static_cast<std::uint16_t>(s));
        else
            keys32.push_back(s);
    }
    keys8.shrink_to_fit();
    keys16.shrink_to_fit();
    keys32.shrink_to_fit();
    values.assign(ids);
}

std::size_t Ip4Table::Level::memory() const {
    return index.capacity() * 4 + keys8.capacity() + keys16.capacity() * 2 + keys32.capacity() * 4 +
           values.memory();
}

std::size_t Ip4Table::memory() const {
    std::size_t mem = 0;
    for (const auto& l : levels_) mem += l.memory();
    return mem;
}

void Ip4TableBuilder::add_range(std::uint32_t lo, std::uint32_t hi, std::uint32_t answer) {
    std::uint64_t a = lo;
    const std::uint64_t h = hi;
    while (a <= h) {
        int level = 0;
        std::uint64_t step = 1;
        if ((a & 0xffffff) == 0 && a + 0xffffff <= h) {
            level = 3;
            step = 1u << 24;
        } else if ((a & 0xffff) == 0 && a + 0xffff <= h) {
            level = 2;
            step = 1u << 16;
        } else if ((a & 0xff) == 0 && a + 0xff <= h) {
            level = 1;
            step = 1u << 8;
        }
        raw_[level].push_back({static_cast<std::uint32_t>(a), answer});
        a += step;
    }
}

Ip4Table Ip4TableBuilder::build(ZoneAnswersBuilder& answers) {
    static constexpr unsigned kBits[4] = {32, 24, 16, 8};
    Ip4Table t;
    std::vector<std::uint32_t> group;
    for (int lv = 0; lv < 4; ++lv) {
        auto& raw = raw_[lv];
        std::sort(raw.begin(), raw.end(), [](const Raw& x, const Raw& y) {
            return x.key != y.key ? x.key < y.key : x.aid < y.aid;
        });
        std::vector<std::uint32_t> prefixes, ids;
        for (std::size_t i = 0; i < raw.size();) {
            std::size_t j = i;
            group.clear();
            while (j < raw.size() && raw[j].key == raw[i].key) group.push_back(raw[j++].aid);
            const unsigned b = kBits[lv];
            prefixes.push_back(b == 32 ? raw[i].key : raw[i].key >> (32 - b));
            ids.push_back(answers.value_set(group));
            i = j;
        }
        std::vector<Raw>().swap(raw);
        t.levels_[lv].build(kBits[lv], prefixes, ids);
    }
    return t;
}

}  // namespace pampero::scan::zone_detail
