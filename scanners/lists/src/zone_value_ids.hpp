// zone_value_ids.hpp - value set ids stored at the narrowest width that holds them (0, 1, 2
// or 4 bytes each): what the IP and name tables keep per key. Internal to libpampero-scan.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace pampero::scan::zone_detail {

// Width 0 = all the same (`only`), and nothing is stored per key.
struct ValueIds {
    unsigned width = 0;
    std::uint32_t only = 0;
    std::vector<std::uint8_t> data;

    // The width that holds every id of `ids` (0 when they are all the same; `only` is then
    // ids[0], or 0 when empty). Stores nothing.
    void choose_width(const std::vector<std::uint32_t>& ids) {
        data.clear();
        width = 0;
        only = ids.empty() ? 0 : ids[0];
        std::uint32_t max = 0;
        bool uniform = true;
        for (auto v : ids) {
            max = std::max(max, v);
            uniform = uniform && v == only;
        }
        if (uniform) return;
        width = max <= 0xff ? 1 : max <= 0xffff ? 2 : 4;
    }
    // choose_width, then stores ids[i] at i.
    void assign(const std::vector<std::uint32_t>& ids) {
        choose_width(ids);
        if (width == 0) return;
        data.resize(ids.size() * width);
        for (std::size_t i = 0; i < ids.size(); ++i) put(data.data() + i * width, width, ids[i]);
        data.shrink_to_fit();
    }
    static void put(std::uint8_t* p, unsigned w, std::uint32_t v) {
        if (w == 1)
            *p = static_cast<std::uint8_t>(v);
        else if (w == 2) {
            const auto x = static_cast<std::uint16_t>(v);
            std::memcpy(p, &x, 2);
        } else
            std::memcpy(p, &v, 4);
    }
    static std::uint32_t read(const std::uint8_t* p, unsigned w) noexcept {
        if (w == 1) return *p;
        if (w == 2) {
            std::uint16_t x;
            std::memcpy(&x, p, 2);
            return x;
        }
        std::uint32_t x;
        std::memcpy(&x, p, 4);
        return x;
    }
    std::uint32_t get(std::size_t i) const noexcept {
        return width == 0 ? only : read(data.data() + i * width, width);
    }
    std::size_t memory() const { return data.capacity(); }
};

}  // namespace pampero::scan::zone_detail
