// directory_contract.hpp - the directory contract, run on every backend.
//
// The tests (directory_contract.cpp) are value-parameterised over a DirectoryBackend; each
// backend's test binary instantiates them with its own: SQLite in directory_test.cpp
// (common_test), MariaDB in mariadb_directory_test.cpp (a private mariadbd per binary).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "pampero/common/directory.hpp"
#include "test_support.hpp"

namespace pampero::testing {

struct DirectoryBackend {
    std::string name;
    // The spec of a new, empty directory (each call a fresh one).
    std::function<std::string()> fresh;
};

// A fresh directory with example.org, alice (level 2, quota 1000, node1) and bob (defaults).
class DirectoryContract : public ::testing::TestWithParam<const DirectoryBackend*> {
  protected:
    void SetUp() override {
        spec_ = GetParam()->fresh();
        auto d = open_directory(spec_, OpenMode::read_write);
        ASSERT_TRUE(d) << d.error().message;
        dir_ = std::move(d).value();
        ASSERT_TRUE(dir_->add_domain("example.org"));
        ASSERT_TRUE(
            dir_->add_user(make_user("alice@example.org", 2, 1000, "node1", "example.org/alice/")));
        ASSERT_TRUE(dir_->add_user(
            make_user("bob@example.org", std::nullopt, std::nullopt, "local", "example.org/bob/")));
    }
    std::string spec_;
    std::unique_ptr<DirectoryAdmin> dir_;
};

inline std::string backend_name(const ::testing::TestParamInfo<const DirectoryBackend*>& info) {
    return info.param->name;
}

}  // namespace pampero::testing
