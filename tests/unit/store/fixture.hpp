// Shared by the store unit tests: a scratch folder, a real SQLite directory and a
// configuration snapshot written to files the way an admin would.
#pragma once

#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "pampero/common/directory.hpp"
#include "store.hpp"

namespace store_test {

inline std::string scratch(const std::string& name) {
    static int n = 0;
    const auto dir = std::filesystem::temp_directory_path() /
                     ("pampero-store-test-" + std::to_string(getpid())) /
                     (name + std::to_string(++n));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir.string();
}

inline void write_file(const std::string& path, const std::string& content) {
    std::ofstream(path) << content;
}

inline std::string read_file(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

inline std::vector<std::string> files_in(const std::string& dir) {
    std::vector<std::string> out;
    if (!std::filesystem::exists(dir)) return out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().string());
    return out;
}

inline pampero::User user(std::string address, std::string node, std::string maildir,
                          std::optional<int> level = {}, std::optional<std::uint64_t> quota = {}) {
    pampero::User u;
    u.address = std::move(address);
    u.node = std::move(node);
    u.maildir = std::move(maildir);
    u.level = level;
    u.quota = quota;
    return u;
}

// The key of World's verdict.keys (id "test").
constexpr const char* kVerdictSecret =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

// `headers` + the X-Spam-* headers pampero-milter adds for `score`, signed with World's
// key (or `key`), + an empty line + `body`: a message as the store gets it over LMTP.
inline std::string signed_message(const std::string& headers, const std::string& score,
                                  const std::string& body,
                                  std::optional<pampero::scan::VerdictKey> key = {}) {
    if (!key) {
        auto keys =
            pampero::scan::VerdictKeys::parse(std::string("test ") + kVerdictSecret, "test");
        key = keys->signing();
    }
    std::string subject;
    if (const auto at = headers.find("Subject:"); at != std::string::npos) {
        subject = headers.substr(at + 8, headers.find('\n', at) - at - 8);
    }
    const pampero::scan::VerdictFields f{score, "No, score=" + score, subject, "",
                                         pampero::scan::body_hash(body)};
    return headers + "X-Spam-Score: " + score + "\nX-Spam-Status: " + f.status +
           "\nX-Spam-Signature: " + pampero::scan::sign_verdict(*key, std::time(nullptr), f) +
           "\n\n" + body;
}

// A directory with example.com and a store configuration (node n1, quota 1000 bytes).
struct World {
    std::string dir;
    std::string mail_root;
    std::unique_ptr<pampero::DirectoryAdmin> directory;
    std::unique_ptr<pampero::store::SnapshotHolder> holder;

    explicit World(const std::string& extra_store_yaml = "") {
        dir = scratch("world");
        mail_root = dir + "/mail";
        std::filesystem::copy_file(std::string(PAMPERO_SOURCE_DIR) + "/conf/levels.yaml",
                                   dir + "/levels.yaml");
        write_file(dir + "/verdict.keys", std::string("test ") + kVerdictSecret + "\n");
        std::filesystem::permissions(
            dir + "/verdict.keys",
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
        write_file(dir + "/pampero.yaml",
                   "directory: sqlite:dir.db\n"
                   "levels: levels.yaml\n"
                   "verdict_keys: verdict.keys\n"
                   "store:\n"
                   "  lmtp: inet:1@127.0.0.1\n"
                   "  socketmap: inet:2@127.0.0.1\n"
                   "  node: n1\n"
                   "  mail_root: " +
                       mail_root +
                       "\n"
                       "  default_quota: 1000\n" +
                       extra_store_yaml);
        auto d =
            pampero::open_directory("sqlite:" + dir + "/dir.db", pampero::OpenMode::read_write);
        if (!d) throw std::runtime_error(d.error().message);
        directory = std::move(d).value();
        if (!directory->add_domain("example.com")) throw std::runtime_error("add_domain");
        auto snap = pampero::store::load_snapshot(dir + "/pampero.yaml");
        if (!snap) throw std::runtime_error(snap.error().message);
        holder = std::make_unique<pampero::store::SnapshotHolder>(*snap);
    }
};

}  // namespace store_test
