// The directory contract on a real MariaDB server, and what only a server has: restarts,
// outages, passwords, schema versions. One private mariadbd per test binary
// (scripts/mariadb-instance: its own datadir, socket and a free port on 127.0.0.1),
// a fresh database per test, stopped at the end. No server is a failure, never a skip.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "directory_contract.hpp"
#include "pampero/common/directory.hpp"
#include "test_redis.hpp"

using namespace pampero;
using pampero::testing::DirectoryContract;
using pampero::testing::make_user;

namespace {

using pampero::testing::free_port;
using pampero::testing::stop_when_gone;

int run(const std::string& command) {
    return std::system(command.c_str());
}

// The private server, started once for the binary.
class MariaDB : public ::testing::Environment {
  public:
    static inline std::string dir;
    static inline int port = 0;

    void SetUp() override {
        dir = (std::filesystem::temp_directory_path() /
               ("pampero-mariadb-test-" + std::to_string(getpid())))
                  .string();
        std::filesystem::remove_all(dir);
        port = free_port();
        ASSERT_NE(port, 0) << "no free port";
        ASSERT_TRUE(start()) << "scripts/mariadb-instance could not start mariadbd in " << dir;
        stop_when_gone(std::string(PAMPERO_SOURCE_DIR) + "/scripts/mariadb-instance stop " + dir);
    }
    void TearDown() override {
        stop();
        if (!getenv("PAMPERO_KEEP")) std::filesystem::remove_all(dir);
    }
    static bool start() {
        return run(std::string(PAMPERO_SOURCE_DIR) + "/scripts/mariadb-instance start " + dir +
                   " " + std::to_string(port)) == 0;
    }
    static bool stop() {
        return run(std::string(PAMPERO_SOURCE_DIR) + "/scripts/mariadb-instance stop " + dir) == 0;
    }
    // SQL as root over the socket.
    static bool sql(const std::string& statements) {
        const std::string file = dir + "/statements.sql";
        std::ofstream(file) << statements;
        return run("mariadb --no-defaults --socket=" + dir + "/mysqld.sock --user=root < " +
                   file) == 0;
    }
    static std::string fresh() {
        EXPECT_TRUE(
            sql("DROP DATABASE IF EXISTS pampero; "
                "CREATE DATABASE pampero CHARACTER SET utf8mb4;"));
        return url();
    }
    static std::string url(const std::string& params = "") {
        return "mariadb://pampero:pampero-test@127.0.0.1:" + std::to_string(port) + "/pampero" +
               params;
    }
    static pid_t pid() {
        std::ifstream in(dir + "/mariadbd.pid");
        pid_t p = 0;
        in >> p;
        return p;
    }
};

const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new MariaDB);

const pampero::testing::DirectoryBackend kMariaDB{"MariaDB", [] { return MariaDB::fresh(); }};

std::string write_file(const std::string& name, const std::string& text) {
    const std::string path = MariaDB::dir + "/" + name;
    std::ofstream(path) << text;
    return path;
}

// The contract's start, for the MariaDB-only tests.
class MariadbDirectory : public ::testing::Test {
  protected:
    void SetUp() override {
        spec_ = MariaDB::fresh();
        auto d = open_directory(spec_, OpenMode::read_write);
        ASSERT_TRUE(d) << d.error().message;
        dir_ = std::move(d).value();
        ASSERT_TRUE(dir_->add_domain("example.org"));
        ASSERT_TRUE(
            dir_->add_user(make_user("alice@example.org", 2, 1000, "node1", "example.org/alice/")));
    }
    void TearDown() override {
        // A test that stopped the server must not leave the next without one.
        if (run(std::string(PAMPERO_SOURCE_DIR) + "/scripts/mariadb-instance status " +
                MariaDB::dir) != 0) {
            ASSERT_TRUE(MariaDB::start());
        }
    }
    std::string spec_;
    std::unique_ptr<DirectoryAdmin> dir_;
};

}  // namespace

INSTANTIATE_TEST_SUITE_P(Backend, DirectoryContract, ::testing::Values(&kMariaDB),
                         pampero::testing::backend_name);

// A MariaDB restart heals without a pampero restart: the pooled connections died with the
// old server; the next lookup (retried once on a new connection) and the next write (its
// pooled connection pinged first) are answered by the new server.
TEST_F(MariadbDirectory, ServerRestartMidUseHeals) {
    auto ro = std::move(open_directory(spec_, OpenMode::read_only)).value();
    ASSERT_TRUE((*ro->find_user("alice@example.org")).has_value());
    ASSERT_TRUE(MariaDB::stop());
    ASSERT_TRUE(MariaDB::start());
    auto alice = ro->find_user("alice@example.org");
    ASSERT_TRUE(alice) << alice.error().message;
    EXPECT_EQ((*alice)->level, 2);
    auto add = dir_->add_user(make_user("carol@example.org", 1, {}, "local", "c/"));
    ASSERT_TRUE(add) << add.error().message;
    EXPECT_TRUE(ro->find_user("carol@example.org")->has_value());
}

// During an outage every answer is a temporary error (4xx upstream): never "no such user",
// "not a local domain" or "not listed", which would refuse or misfile mail.
TEST_F(MariadbDirectory, ServerDownIsTemporaryNeverAWrongAnswer) {
    auto ro = std::move(open_directory(spec_, OpenMode::read_only)).value();
    ASSERT_TRUE(*ro->is_local_domain("example.org"));
    ASSERT_TRUE(MariaDB::stop());
    auto user = ro->find_user("nobody@example.org");
    ASSERT_FALSE(user);
    EXPECT_EQ(user.error().kind, ErrorKind::temporary);
    auto domain = ro->is_local_domain("example.net");
    ASSERT_FALSE(domain);
    EXPECT_EQ(domain.error().kind, ErrorKind::temporary);
    auto listing = ro->sender_listing("alice@example.org", "x@spam.example");
    ASSERT_FALSE(listing);
    EXPECT_EQ(listing.error().kind, ErrorKind::temporary);
    auto fresh = open_directory(spec_, OpenMode::read_only);  // a daemon starting now
    ASSERT_TRUE(fresh);                                       // starts, defers mail
    auto r = (*fresh)->find_user("alice@example.org");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::temporary);
    auto rw = open_directory(spec_, OpenMode::read_write);  // pamperoctl says why
    ASSERT_FALSE(rw);
    EXPECT_EQ(rw.error().kind, ErrorKind::temporary);
    EXPECT_NE(rw.error().message.find("127.0.0.1"), std::string::npos) << rw.error().message;
    ASSERT_TRUE(MariaDB::start());
    auto back = ro->find_user("alice@example.org");
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_TRUE(back->has_value());
}

// A server that accepts but never answers (SIGSTOP) costs a call the timeout, not forever.
TEST_F(MariadbDirectory, AHungServerTimesOut) {
    auto ro = std::move(open_directory(spec_ + "?timeout=1", OpenMode::read_only)).value();
    ASSERT_TRUE(ro->find_user("alice@example.org"));
    const pid_t pid = MariaDB::pid();
    ASSERT_GT(pid, 0);
    ASSERT_EQ(kill(pid, SIGSTOP), 0);
    // SIGSTOP reaches each thread on its next way through the kernel: wait (bounded)
    // until every one shows state T, or a query sent at once could still be answered.
    const auto stopped = [pid] {
        for (const auto& task :
             std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
            std::ifstream in(task.path() / "stat");
            std::string line;
            std::getline(in, line);
            const auto paren = line.rfind(')');
            if (paren == std::string::npos || line.substr(paren + 2, 1) != "T") return false;
        }
        return true;
    };
    for (int i = 0; i < 200 && !stopped(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(stopped());
    auto r = ro->find_user("alice@example.org");
    kill(pid, SIGCONT);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::temporary);
    auto again = ro->find_user("alice@example.org");
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_TRUE(again->has_value());
}

TEST_F(MariadbDirectory, WrongPasswordIsAClearErrorWithoutThePassword) {
    const std::string spec =
        "mariadb://pampero:not-the-password@127.0.0.1:" + std::to_string(MariaDB::port) +
        "/pampero";
    auto rw = open_directory(spec, OpenMode::read_write);
    ASSERT_FALSE(rw);
    EXPECT_EQ(rw.error().kind, ErrorKind::temporary);
    EXPECT_NE(rw.error().message.find("Access denied"), std::string::npos) << rw.error().message;
    EXPECT_EQ(rw.error().message.find("not-the-password"), std::string::npos);
    auto ro = std::move(open_directory(spec, OpenMode::read_only)).value();
    auto r = ro->find_user("alice@example.org");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::temporary);
}

TEST_F(MariadbDirectory, PasswordFileAndUnixSocket) {
    const std::string file = write_file("password", "pampero-test\n");
    const std::string tcp = "mariadb://pampero@127.0.0.1:" + std::to_string(MariaDB::port) +
                            "/pampero?password_file=" + file;
    auto d = open_directory(tcp, OpenMode::read_only);
    ASSERT_TRUE(d);
    auto alice = (*d)->find_user("alice@example.org");
    ASSERT_TRUE(alice) << alice.error().message;
    EXPECT_TRUE(alice->has_value());

    const std::string unix_spec = "mariadb://pampero@localhost/pampero?socket=" + MariaDB::dir +
                                  "/mysqld.sock&password_file=" + file;
    auto s = open_directory(unix_spec, OpenMode::read_write);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_TRUE((*(*s)->find_user("alice@example.org")).has_value());

    auto missing = open_directory(tcp + "-gone", OpenMode::read_write);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().kind, ErrorKind::temporary);
    EXPECT_NE(missing.error().message.find(file + "-gone"), std::string::npos)
        << missing.error().message;
}

// The schema's versions: pamperoctl (read_write) applies what is missing, once; the
// daemons (read_only) refuse a database without it or older, naming the version.
TEST_F(MariadbDirectory, SchemaVersionsAreAppliedOnceAndCheckedByReaders) {
    ASSERT_TRUE(MariaDB::sql("DROP DATABASE pampero; CREATE DATABASE pampero;"));
    auto ro = std::move(open_directory(spec_, OpenMode::read_only)).value();
    auto none = ro->find_user("alice@example.org");
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().kind, ErrorKind::temporary);
    EXPECT_NE(none.error().message.find("schema_version missing"), std::string::npos)
        << none.error().message;

    for (int i = 0; i < 2; ++i) ASSERT_TRUE(open_directory(spec_, OpenMode::read_write));
    ASSERT_TRUE(
        MariaDB::sql("USE pampero; CREATE TABLE check_versions AS "
                     "SELECT COUNT(*) AS n, MAX(version) AS v FROM schema_version;"));
    auto ok = ro->find_user("alice@example.org");  // a new connection: the schema is there
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_FALSE(ok->has_value());

    ASSERT_TRUE(
        MariaDB::sql("USE pampero; DELETE FROM schema_version; "
                     "INSERT INTO schema_version VALUES (0);"));
    auto old = std::move(open_directory(spec_, OpenMode::read_only)).value();
    auto r = old->is_local_domain("example.org");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("schema version 0 is older"), std::string::npos)
        << r.error().message;
}

TEST_F(MariadbDirectory, MalformedSpecsAreConfigErrors) {
    for (const std::string spec :
         {"mariadb://", "mariadb://host/db", "mariadb://u@/db", "mariadb://u@h:0/db",
          "mariadb://u@h:99999/db", "mariadb://u@h/", "mariadb://u@h/db?timeout=0",
          "mariadb://u@h/db?pool=1000", "mariadb://u@h/db?colour=blue", "mariadb://u:%zz@h/db"}) {
        auto d = open_directory(spec, OpenMode::read_only);
        ASSERT_FALSE(d) << spec;
        EXPECT_EQ(d.error().kind, ErrorKind::config) << spec;
    }
    auto d = open_directory("mariadb://u:sec@ret@h/db?colour=blue", OpenMode::read_only);
    EXPECT_EQ(d.error().message.find("ret"), std::string::npos) << d.error().message;
    EXPECT_EQ(directory_display("mariadb://u:sec@ret@h:1/db"), "mariadb://u:***@h:1/db");
    EXPECT_EQ(directory_display("mariadb://u@h/db?socket=/a@b"), "mariadb://u@h/db?socket=/a@b");
    EXPECT_EQ(directory_display("sqlite:/var/lib/a@b.db"), "sqlite:/var/lib/a@b.db");
}

// A pool smaller than the callers: they wait their turn (bounded), all answered right.
TEST_F(MariadbDirectory, ASmallPoolServesManyThreads) {
    auto ro = std::move(open_directory(spec_ + "?pool=2", OpenMode::read_only)).value();
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 100; ++i) {
                auto u = ro->find_user("alice@example.org");
                if (!u || !u->has_value()) ++bad;
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(bad.load(), 0);
}
