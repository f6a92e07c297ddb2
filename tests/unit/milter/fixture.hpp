// fixture.hpp - the world the milter's unit tests (session_test, dialog_test) run in: a
// real SQLite directory with three users of levels 1, 3 and 5 (alice, bob, carol at
// example.org, postmaster an alias of carol), the memory state, a Guard (3 unknown
// recipients in 600 s ban for 3600 s), and an engine of two test rules (GTUBE scores 1000,
// SCORE-SEVEN 7) over the shipped levels. One folder per test under the temporary folder.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "session.hpp"
#include "test_support.hpp"

namespace pampero::testing {

inline const char* kGtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

class MilterWorld : public ::testing::Test {
  protected:
    // Builds the world in a folder named `prefix`-PID-TEST.
    void make_world(const std::string& prefix) {
        // A parameterized test's name holds a '/': one directory, not two.
        std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
        std::replace(test.begin(), test.end(), '/', '_');
        dir_ = std::filesystem::temp_directory_path() /
               (prefix + "-" + std::to_string(getpid()) + "-" + test);
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_ / "rules.d");
        std::ofstream(dir_ / "rules.d" / "t.yaml") << R"(rules:
  - {name: GTUBE, target: body, regex: 'XJS\*C4JDBQADN1', score: 1000}
  - {name: SEVEN, target: body, regex: 'SCORE-SEVEN', score: 7}
)";
        db_ = (dir_ / "d.db").string();
        auto admin = open_directory("sqlite:" + db_, OpenMode::read_write);
        ASSERT_TRUE(admin);
        admin_ = std::move(admin).value();
        ASSERT_TRUE(admin_->add_domain("example.org"));
        ASSERT_TRUE(admin_->add_user(make_user("alice@example.org", 1, {}, "local", "a/")));
        ASSERT_TRUE(admin_->add_user(make_user("bob@example.org", 3, {}, "local", "b/")));
        ASSERT_TRUE(admin_->add_user(make_user("carol@example.org", 5, {}, "local", "c/")));
        ASSERT_TRUE(admin_->add_alias({"postmaster@example.org", "carol@example.org"}));

        auto engine = scan::load_engine(engine_config());
        ASSERT_TRUE(engine) << engine.error().message;
        holder_ = std::make_unique<scan::EngineHolder>(*engine);
        auto ro = open_directory("sqlite:" + db_, OpenMode::read_only);
        ASSERT_TRUE(ro);
        directory_ = std::move(ro).value();
        state_ = make_memory_state();
        guard_ = std::make_unique<milter::Guard>(*state_, GuardConfig{3, 600, 3600});
        services_ = std::make_unique<milter::Services>(
            milter::Services{*directory_, *guard_, *holder_, nullptr, {}, nullptr});
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // Swaps in an engine with these milter: bounds (the test rules, the shipped levels).
    void use_bounds(const MilterConfig& m) {
        Config cfg = engine_config();
        cfg.milter = m;
        auto engine = scan::load_engine(cfg);
        ASSERT_TRUE(engine) << engine.error().message;
        holder_->set(*engine);
    }

    std::filesystem::path dir_;
    std::string db_;
    std::unique_ptr<DirectoryAdmin> admin_;
    std::unique_ptr<Directory> directory_;
    std::unique_ptr<State> state_;
    std::unique_ptr<milter::Guard> guard_;
    std::unique_ptr<scan::EngineHolder> holder_;
    std::unique_ptr<milter::Services> services_;

  private:
    Config engine_config() const {
        Config cfg;
        cfg.rules_dir = (dir_ / "rules.d").string();
        cfg.levels = std::string(PAMPERO_SOURCE_DIR) + "/conf/levels.yaml";
        return cfg;
    }
};

}  // namespace pampero::testing
