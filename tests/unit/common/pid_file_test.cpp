#include "pampero/common/pid_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace pampero {
namespace {

std::string read(const std::filesystem::path& p) {
    std::ifstream f(p);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

class PidFileTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ =
            std::filesystem::temp_directory_path() / ("pampero-pid-" + std::to_string(::getpid()));
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        path_ = (dir_ / "d.pid").string();
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::filesystem::path dir_;
    std::string path_;
};

TEST_F(PidFileTest, HoldsTheIdWhileAliveAndIsRemovedAfter) {
    {
        auto p = PidFile::create(path_);
        ASSERT_TRUE(p) << p.error().message;
        EXPECT_EQ(read(path_), std::to_string(::getpid()) + "\n");
        ASSERT_TRUE(p->update());
        EXPECT_EQ(read(path_), std::to_string(::getpid()) + "\n");
    }
    EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(PidFileTest, ASecondInstanceIsRefusedAndTheFirstFileKept) {
    auto first = PidFile::create(path_);
    ASSERT_TRUE(first);
    auto second = PidFile::create(path_);  // flock() is per open file: refused here too
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().kind, ErrorKind::config);
    EXPECT_NE(
        second.error().message.find("already running (pid " + std::to_string(::getpid()) + ")"),
        std::string::npos)
        << second.error().message;
    EXPECT_EQ(read(path_), std::to_string(::getpid()) + "\n");
}

TEST_F(PidFileTest, AStaleFileFromACrashIsReused) {
    std::ofstream(path_) << "999999\nleftover text longer than an id\n";
    auto p = PidFile::create(path_);
    ASSERT_TRUE(p) << p.error().message;
    EXPECT_EQ(read(path_), std::to_string(::getpid()) + "\n");
}

TEST_F(PidFileTest, AnUnwritablePlaceIsAClearError) {
    auto p = PidFile::create((dir_ / "missing" / "d.pid").string());
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().message.find("missing/d.pid"), std::string::npos) << p.error().message;
    // A symbolic link is not followed (a pid file in a shared folder must not let
    // another user point it at a file root would then overwrite).
    std::filesystem::create_symlink(dir_ / "elsewhere", path_);
    EXPECT_FALSE(PidFile::create(path_));
    EXPECT_FALSE(std::filesystem::exists(dir_ / "elsewhere"));
}

TEST_F(PidFileTest, CreateIfAskedIsNothingWithoutAPathAndCreateWithOne) {
    auto none = PidFile::create_if_asked("");
    ASSERT_TRUE(none) << none.error().message;
    EXPECT_FALSE(none->has_value());
    {
        auto p = PidFile::create_if_asked(path_);
        ASSERT_TRUE(p) << p.error().message;
        ASSERT_TRUE(p->has_value());
        EXPECT_EQ(read(path_), std::to_string(::getpid()) + "\n");
        auto second = PidFile::create_if_asked(path_);
        ASSERT_FALSE(second);
        EXPECT_EQ(second.error().kind, ErrorKind::config);
    }
    EXPECT_FALSE(std::filesystem::exists(path_));
}

}  // namespace
}  // namespace pampero
