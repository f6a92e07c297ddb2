// levels.hpp - the spam levels users choose from.
//
// levels.yaml:
//   default: 3
//   levels:
//     - { level: 1, name: tolerant, tag: 8.0, cutoff: 30.0 }
//     ...
// Levels are numbered 1 (most tolerant) upward without gaps, at least kMinLevels of
// them; each has tag < cutoff, and a stricter level never has a higher tag or cutoff
// than a more tolerant one. Below tag: Inbox; from tag to below cutoff: Spam folder;
// at or above cutoff: refused.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pampero/common/result.hpp"

namespace pampero::scan {

constexpr std::size_t kMinLevels = 5;

struct Level {
    int number = 0;
    std::string name;
    double tag = 0;
    double cutoff = 0;
};

struct Levels {
    std::vector<Level> levels;  // index = number - 1
    int default_level = 1;

    const Level* find(int number) const;
    // The user's level, or the default one when the user has none (or an unknown one).
    const Level& for_user(std::optional<int> number) const;
    const Level& fallback() const { return levels[static_cast<std::size_t>(default_level - 1)]; }
};

Result<Levels> load_levels(const std::string& path);

}  // namespace pampero::scan
