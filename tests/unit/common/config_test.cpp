#include "pampero/common/config.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test_support.hpp"

using namespace pampero;

namespace {

std::string write_temp(const std::string& name, const std::string& text) {
    return pampero::testing::write_temp("pampero-config-test", name, text);
}

}  // namespace

TEST(Config, DefaultsWhenKeysAreAbsent) {
    auto c = load_config(write_temp("empty.yaml", "{}\n"));
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->milter.socket, "inet:10025@127.0.0.1");
    EXPECT_EQ(c->milter.threads, 8);
    EXPECT_EQ(c->milter.timeout, 300);
    EXPECT_EQ(c->milter.max_headers, 10000);
    EXPECT_EQ(c->milter.max_header_bytes, 1024u * 1024);
    EXPECT_EQ(c->milter.max_message_memory, 10u * 1024 * 1024);
    EXPECT_EQ(c->guard.unknown_limit, 5);
    EXPECT_EQ(c->guard.window, 600);
    EXPECT_EQ(c->guard.ban, 3600);
    EXPECT_EQ(c->state, "memory");
    EXPECT_EQ(c->store.default_quota, 300ull * 1024 * 1024);
}

TEST(Config, ReadsValuesAndResolvesRelativePaths) {
    const std::string path =
        write_temp("full.yaml",
                   "milter:\n  socket: unix:/run/pampero/milter.sock\n  scan_limit: 1M\n"
                   "  threads: 3\n  timeout: 60\n  max_headers: 500\n  max_header_bytes: 64K\n"
                   "  max_message_memory: 4M\n"
                   "directory: sqlite:dir.db\nrules_dir: rules.d\nlevels: /etc/levels.yaml\n"
                   "guard:\n  unknown_limit: 3\n  window: 60\n  ban: 120\n"
                   "store:\n  default_quota: 1G\n  mail_root: mail\n");
    auto c = load_config(path);
    ASSERT_TRUE(c) << c.error().message;
    const auto dir = std::filesystem::path(path).parent_path().string();
    EXPECT_EQ(c->milter.socket, "unix:/run/pampero/milter.sock");
    EXPECT_EQ(c->milter.scan_limit, 1024u * 1024);
    EXPECT_EQ(c->milter.threads, 3);
    EXPECT_EQ(c->milter.timeout, 60);
    EXPECT_EQ(c->milter.max_headers, 500);
    EXPECT_EQ(c->milter.max_header_bytes, 64u * 1024);
    EXPECT_EQ(c->milter.max_message_memory, 4u * 1024 * 1024);
    EXPECT_EQ(c->directory, "sqlite:" + dir + "/dir.db");
    EXPECT_EQ(c->rules_dir, dir + "/rules.d");
    EXPECT_EQ(c->levels, "/etc/levels.yaml");
    EXPECT_EQ(c->guard.unknown_limit, 3);
    EXPECT_EQ(c->store.default_quota, 1024ull * 1024 * 1024);
    EXPECT_EQ(c->store.mail_root, dir + "/mail");
}

TEST(Config, MilterMaxConnections) {
    auto d = load_config(write_temp("maxconn-default.yaml", "{}\n"));
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d->milter.max_connections, 512);
    auto c = load_config(write_temp("maxconn.yaml", "milter:\n  max_connections: 64\n"));
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->milter.max_connections, 64);
    auto bad = load_config(write_temp("maxconn-0.yaml", "milter:\n  max_connections: 0\n"));
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find(":2: "), std::string::npos) << bad.error().message;
    EXPECT_NE(bad.error().message.find("must be between"), std::string::npos);
}

struct BadConfig {
    const char* name;
    const char* text;
    const char* expect;  // substring of the error, after "FILE:LINE: "
    int line;
};

class BadConfigs : public ::testing::TestWithParam<BadConfig> {};

TEST_P(BadConfigs, RefusedNamingFileAndLine) {
    const auto& row = GetParam();
    const std::string path = write_temp(std::string(row.name) + ".yaml", row.text);
    auto c = load_config(path);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, ErrorKind::config);
    EXPECT_NE(c.error().message.find(path + ":" + std::to_string(row.line) + ":"),
              std::string::npos)
        << c.error().message;
    EXPECT_NE(c.error().message.find(row.expect), std::string::npos) << c.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Rows, BadConfigs,
    ::testing::Values(
        BadConfig{"unknown_top", "state: memory\nbogus: 1\n", "unknown key 'bogus'", 2},
        BadConfig{"unknown_nested", "guard:\n  unknown_limit: 5\n  unknwon: 3\n",
                  "unknown key 'unknwon'", 3},
        BadConfig{"wrong_type", "guard:\n  window: ten\n", "must be an integer", 2},
        BadConfig{"out_of_range", "guard:\n  ban: 0\n", "must be between", 2},
        BadConfig{"bad_size", "milter:\n  scan_limit: lots\n", "must be a size", 2},
        BadConfig{"no_threads", "milter:\n  socket: unix:/x\n  threads: 0\n", "must be between", 3},
        BadConfig{"too_many_threads", "milter:\n  threads: 257\n", "must be between", 2},
        BadConfig{"threads_not_int", "milter:\n  threads: many\n", "must be an integer", 2},
        BadConfig{"not_a_map", "milter: 12\n", "milter must be a mapping", 1},
        BadConfig{"syntax", "milter:\n  socket: [unclosed\n", "", 3},
        BadConfig{"bad_folder", "store:\n  spam_folder: ../x\n", "plain folder name", 2},
        BadConfig{"few_headers", "milter:\n  max_headers: 10\n", "must be between", 2},
        BadConfig{"small_header_bytes", "milter:\n  max_header_bytes: 1K\n", "at least 16K", 2},
        BadConfig{"bad_memory", "milter:\n  max_message_memory: lots\n", "must be a size", 2}),
    [](const auto& info) { return info.param.name; });

TEST(Config, MissingFileIsAConfigError) {
    auto c = load_config("/nonexistent/pampero.yaml");
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, ErrorKind::config);
    EXPECT_NE(c.error().message.find("/nonexistent/pampero.yaml"), std::string::npos);
}

TEST(Config, ShippedDefaultLoads) {
    auto c = load_config(std::string(PAMPERO_SOURCE_DIR) + "/conf/pampero.yaml");
    ASSERT_TRUE(c) << c.error().message;
    // The values the README and the shipped Postfix snippets rely on.
    const Config& v = c.value();
    EXPECT_EQ(v.milter.socket, "inet:10025@127.0.0.1");  // conf/postfix/main.cf.milter
    EXPECT_EQ(v.milter.scan_limit, 2u * 1024 * 1024);
    EXPECT_EQ(v.milter.timeout, 300);
    EXPECT_EQ(v.milter.socket_group, "postfix");
    EXPECT_EQ(v.milter.socket_mode, 0660u);
    EXPECT_EQ(v.policyd.socket_group, "postfix");
    EXPECT_EQ(v.policyd.socket_mode, 0660u);
    EXPECT_EQ(v.directory, "sqlite:/var/lib/pampero/directory.db");
    EXPECT_EQ(v.directory_cache_ttl, 30);
    EXPECT_EQ(v.state, "memory");
    EXPECT_EQ(v.rules_dir, "/etc/pampero/rules.d");
    EXPECT_EQ(v.levels, "/etc/pampero/levels.yaml");
    EXPECT_EQ(v.guard.unknown_limit, 5);
    EXPECT_EQ(v.guard.window, 600);
    EXPECT_EQ(v.guard.ban, 3600);
    EXPECT_EQ(v.store.lmtp, "inet:24@127.0.0.1");
    EXPECT_EQ(v.store.socketmap, "inet:10026@127.0.0.1");
    EXPECT_EQ(v.store.mail_root, "/var/mail/pampero");
    EXPECT_EQ(v.store.spam_folder, "Spam");
    EXPECT_EQ(v.store.default_quota, 300ull * 1024 * 1024);  // "for example 300 MB"
    EXPECT_FALSE(v.store.over_quota_tempfail);
    EXPECT_EQ(v.store.message_size_limit, 64ull * 1024 * 1024);
    EXPECT_EQ(v.store.lmtp_clients, (std::vector<std::string>{"127.0.0.0/8", "::1/128"}));
    // Blocklists and antivirus are commented out: nothing is looked up or scanned until
    // the admin says where the mirrors and signatures are.
    EXPECT_TRUE(v.blocklists.empty());
    EXPECT_FALSE(v.antivirus.enabled);
}

TEST(Config, GuardPrefixesAndBound) {
    auto d = load_config(write_temp("guard-default.yaml", "{}\n"));
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d->guard.ipv6_prefix, 64);
    EXPECT_EQ(d->guard.ipv4_prefix, 32);
    EXPECT_EQ(d->guard.max_tracked, 100000u);
    auto c = load_config(write_temp(
        "guard.yaml", "guard:\n  ipv6_prefix: 48\n  ipv4_prefix: 24\n  max_tracked: 5000\n"));
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->guard.ipv6_prefix, 48);
    EXPECT_EQ(c->guard.ipv4_prefix, 24);
    EXPECT_EQ(c->guard.max_tracked, 5000u);
    for (const char* bad : {"guard:\n  ipv6_prefix: 31\n", "guard:\n  ipv6_prefix: 129\n",
                            "guard:\n  ipv4_prefix: 15\n", "guard:\n  ipv4_prefix: 33\n",
                            "guard:\n  max_tracked: 0\n"}) {
        EXPECT_FALSE(load_config(write_temp("guard-bad.yaml", bad))) << bad;
    }
}

TEST(Config, UserAndGroup) {
    auto d = load_config(write_temp("user-default.yaml", "{}\n"));
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d->user, "");
    EXPECT_EQ(d->group, "");
    auto c = load_config(write_temp("user.yaml", "user: pampero\ngroup: mail\n"));
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->user, "pampero");
    EXPECT_EQ(c->group, "mail");
}

TEST(Config, PolicydAndRateLimit) {
    auto shipped = load_config(std::string(PAMPERO_SOURCE_DIR) + "/conf/pampero.yaml");
    ASSERT_TRUE(shipped) << shipped.error().message;
    EXPECT_EQ(shipped->policyd.socket, "inet:10031@127.0.0.1");  // conf/postfix/main.cf.policyd
    EXPECT_EQ(shipped->ratelimit.messages_per_hour, 200);
    EXPECT_FALSE(shipped->milter.relay_check);
    auto c = load_config(write_temp("policyd.yaml",
                                    "policyd:\n  socket: unix:/run/p.sock\n  threads: 4\n"
                                    "ratelimit:\n  messages_per_hour: 0\n"
                                    "  recipients_per_message: 7\nmilter:\n  relay_check: true\n"));
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->policyd.socket, "unix:/run/p.sock");
    EXPECT_EQ(c->policyd.threads, 4);
    EXPECT_EQ(c->ratelimit.messages_per_hour, 0);
    EXPECT_EQ(c->ratelimit.recipients_per_hour, 1000);
    EXPECT_EQ(c->ratelimit.recipients_per_message, 7);
    EXPECT_TRUE(c->milter.relay_check);
    auto bad = load_config(write_temp("ratelimit-bad.yaml", "ratelimit:\n  messages_per_hr: 5\n"));
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("ratelimit-bad.yaml:2"), std::string::npos)
        << bad.error().message;
}

TEST(Config, OnStateError) {
    auto c = load_config(write_temp("state-error-default.yaml", "state: memory\n"));
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_FALSE(c->guard.continue_on_state_error);  // tempfail
    c = load_config(write_temp("state-error-continue.yaml", "on_state_error: continue\n"));
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_TRUE(c->guard.continue_on_state_error);
    c = load_config(write_temp("state-error-tempfail.yaml", "on_state_error: tempfail\n"));
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_FALSE(c->guard.continue_on_state_error);
    c = load_config(write_temp("state-error-bad.yaml", "state: memory\non_state_error: accept\n"));
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().message.find("state-error-bad.yaml:2"), std::string::npos)
        << c.error().message;
    EXPECT_NE(c.error().message.find("must be tempfail or continue"), std::string::npos);
}

// directory_password_file and directory_timeout go into a mariadb: spec as its parameters
// (the file resolved next to the configuration); for any other directory they are errors.
TEST(Config, MariadbDirectoryPasswordFileAndTimeout) {
    const std::string path = write_temp("mariadb.yaml",
                                        "directory: mariadb://pampero@db.example:3306/pampero\n"
                                        "directory_password_file: secret/db.pw\n"
                                        "directory_timeout: 3\n");
    auto c = load_config(path);
    ASSERT_TRUE(c) << c.error().message;
    const auto folder = std::filesystem::path(path).parent_path().string();
    EXPECT_EQ(c->directory, "mariadb://pampero@db.example:3306/pampero?password_file=" + folder +
                                "/secret/db.pw&timeout=3");
    auto sqlite = load_config(write_temp("sqlite-pw.yaml",
                                         "directory: sqlite:d.db\n"
                                         "directory_password_file: db.pw\n"));
    ASSERT_FALSE(sqlite);
    EXPECT_EQ(sqlite.error().kind, ErrorKind::config);
    EXPECT_NE(sqlite.error().message.find("directory_password_file"), std::string::npos)
        << sqlite.error().message;
}

TEST(Config, Classifier) {
    auto d = load_config(write_temp("classifier-default.yaml", "{}\n"));
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_TRUE(d->classifier.enabled);
    EXPECT_EQ(d->classifier.store, "sqlite:/var/lib/pampero/bayes.db");
    EXPECT_EQ(d->classifier.min_spam, 200);
    EXPECT_EQ(d->classifier.min_ham, 200);
    const std::string path = write_temp(
        "classifier.yaml",
        "classifier:\n  enabled: false\n  store: sqlite:bayes.db\n  min_spam: 5\n  min_ham: 7\n");
    auto c = load_config(path);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_FALSE(c->classifier.enabled);
    EXPECT_EQ(c->classifier.store,
              "sqlite:" + std::filesystem::path(path).parent_path().string() + "/bayes.db");
    EXPECT_EQ(c->classifier.min_spam, 5);
    EXPECT_EQ(c->classifier.min_ham, 7);
    auto bad = load_config(write_temp("classifier-bad.yaml", "classifier:\n  stroe: x\n"));
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("stroe"), std::string::npos) << bad.error().message;
}

TEST(Config, ClassifierModels) {
    auto d = load_config(write_temp("classifier-model-default.yaml", "{}\n"));
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d->classifier.model, "site");
    EXPECT_EQ(d->classifier.model_store, "");
    EXPECT_EQ(d->classifier.max_open_models, 256);
    EXPECT_EQ(d->classifier.max_models_per_message, 8);
    const std::string path =
        write_temp("classifier-model.yaml",
                   "classifier:\n  model: user\n  model_store: sqlite:bayes.d/%m.db\n"
                   "  max_open_models: 10\n  max_models_per_message: 2\n");
    auto c = load_config(path);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->classifier.model, "user");
    EXPECT_EQ(c->classifier.model_store,
              "sqlite:" + std::filesystem::path(path).parent_path().string() + "/bayes.d/%m.db");
    EXPECT_EQ(c->classifier.max_open_models, 10);
    EXPECT_EQ(c->classifier.max_models_per_message, 2);
    auto redis = load_config(write_temp(
        "classifier-model-redis.yaml",
        "classifier:\n  model: domain\n  model_store: \"redis://127.0.0.1?prefix=b:%m:\"\n"));
    ASSERT_TRUE(redis) << redis.error().message;
    EXPECT_EQ(redis->classifier.model_store, "redis://127.0.0.1?prefix=b:%m:");
    for (const char* text : {
             "classifier:\n  model: user\n",                              // no model_store
             "classifier:\n  model: group\n  model_store: x%m\n",         // unknown model
             "classifier:\n  model: user\n  model_store: sqlite:b.db\n",  // no %m
             "classifier:\n  max_open_models: 0\n",
             "classifier:\n  max_models_per_message: 0\n",
         }) {
        auto bad = load_config(write_temp("classifier-model-bad.yaml", text));
        ASSERT_FALSE(bad) << text;
        EXPECT_NE(bad.error().message.find("classifier."), std::string::npos)
            << bad.error().message;
    }
}
