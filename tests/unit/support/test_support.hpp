// test_support.hpp - small helpers the unit tests share.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "pampero/common/directory.hpp"

namespace pampero::testing {

// Writes `text` to a file `name` under a per-process temporary folder `folder`;
// returns the file's path.
inline std::string write_temp(const std::string& folder, const std::string& name,
                              const std::string& text) {
    const auto dir =
        std::filesystem::temp_directory_path() / (folder + "-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const auto path = dir / name;
    std::ofstream(path) << text;
    return path.string();
}

// A User built field by field, so new optional fields do not touch every test.
inline User make_user(std::string address, std::optional<int> level,
                      std::optional<std::uint64_t> quota, std::string node, std::string maildir) {
    User u;
    u.address = std::move(address);
    u.level = level;
    u.quota = quota;
    u.node = std::move(node);
    u.maildir = std::move(maildir);
    return u;
}

}  // namespace pampero::testing
