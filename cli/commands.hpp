// commands.hpp - pamperoctl's commands. Each returns the process exit code and prints
// its own one-line error ("pamperoctl: ...") to stderr.
#pragma once

#include <sysexits.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pampero/common/config.hpp"
#include "pampero/common/directory.hpp"
#include "pampero/verdict/levels.hpp"

namespace pampero::cli {

// Exit codes (cli/main.cpp lists them): <sysexits.h> for usage (EX_USAGE), temporary
// (EX_TEMPFAIL) and configuration (EX_CONFIG) failures; bad input is EXIT_FAILURE (1),
// as scripts calling pamperoctl have always seen it.

// Loads what a command needs on first use; a failure prints and exits.
class Context {
  public:
    explicit Context(std::string& config_path) : path_(config_path) {}
    const Config& config();
    DirectoryAdmin& directory();
    const scan::Levels& levels();

  private:
    std::string& path_;
    std::optional<Config> config_;
    std::unique_ptr<DirectoryAdmin> directory_;
    std::optional<scan::Levels> levels_;
};

// Prints "pamperoctl: msg" and returns the exit code for the error's kind.
int fail(const Error& e);
int fail(const std::string& msg, int code = EXIT_FAILURE);

struct UserOptions {
    std::optional<std::string> level;
    std::optional<std::string> quota;
    std::optional<std::string> node;
    std::optional<std::string> maildir;
};

int domain_add(Context& c, const std::string& domain);
int domain_del(Context& c, const std::string& domain);
int domain_list(Context& c);
int user_add(Context& c, const std::string& address, const UserOptions& o);
int user_set_level(Context& c, const std::string& address, const std::string& level);
int user_show(Context& c, const std::string& address);
// A user's own rate limits: each option a number (0: no limit) or "default" (the site's).
struct LimitOptions {
    std::optional<std::string> messages_per_hour;
    std::optional<std::string> recipients_per_hour;
    std::optional<std::string> recipients_per_message;
};
int user_set_limits(Context& c, const std::string& address, const LimitOptions& o);
int user_del(Context& c, const std::string& address);
int user_list(Context& c, const std::string& domain);

// A mailbox move between storage nodes: `start` gives the user a second location (both
// get every message), `finish` makes it the only one, `cancel` drops it.
struct MigrateOptions {
    std::optional<std::string> node;     // start: the new node
    std::optional<std::string> maildir;  // start: default the current maildir
    bool finish = false;
    bool cancel = false;
};
int user_migrate(Context& c, const std::string& address, const MigrateOptions& o);
int alias_add(Context& c, const std::string& address, const std::string& target);
int alias_del(Context& c, const std::string& address);
int level_list(Context& c);
int list_change(Context& c, bool add, const std::string& kind, const std::string& pattern,
                const std::string& user);
int list_show(Context& c, const std::string& user);
int contacts_import(Context& c, const std::string& address, const std::string& file);
int contacts_show(Context& c, const std::string& address);

struct ScanOptions {
    std::vector<std::string> files;
    std::vector<std::string> recipients;
    std::string sender;
    std::string client_ip;
    bool json = false;
    // The classifier model of this address votes (classifier.model domain or user,
    // model_set.hpp); empty: the site model.
    std::string for_address;
};
int scan_files(Context& c, const ScanOptions& o);

// The classifier: learn_command.cpp. `what`: spam, ham or forget; paths are message
// files, mbox files, Maildir folders or folders of files.
// `for_address`: learn into (show) the model of that address (classifier.model domain or
// user; with model: site, the site model); empty: the site model.
int learn(Context& c, const std::string& what, const std::vector<std::string>& paths, bool verbose,
          const std::string& for_address = "");
int classifier_stats(Context& c, const std::string& for_address = "");

// Blocklists: blocklist_command.cpp and mirror_command.cpp.
struct BlocklistLookupOptions {
    std::vector<std::string> subjects;
    std::string zone;  // only this list (default: all that take the subject)
    bool json = false;
};
int blocklist_lookup(Context& c, const BlocklistLookupOptions& o);
int blocklist_check(Context& c, const std::string& zone);
struct MirrorSyncOptions {
    std::string zone;        // only this list
    double min_ratio = 0.5;  // refuse a new file with fewer entries than this share of the old
    int timeout = 600;       // seconds rsync may take per list
};
int mirror_sync(Context& c, const MirrorSyncOptions& o);

// RADIUS sessions, asked of pampero-policyd (sessions_command.cpp).
int sessions_list(Context& c);
int sessions_show(Context& c, const std::string& ip);

// Dictionary-attack bans and rate counters, asked of pampero-policyd (policyd_commands.cpp).
int ban_list(Context& c);
int ban_del(Context& c, const std::string& ip);
int ratelimit_show(Context& c, const std::string& key);

// Copies every domain, user, alias, list entry and contact of directory FROM into TO
// (migrate_directory_command.cpp); a non-empty TO only with `force` (merged). Reads no
// pampero.yaml: both are directory specs.
int migrate_directory(const std::string& from, const std::string& to, bool force);

// The spam verdict's key file: verdict_key_command.cpp. Neither reads pampero.yaml.
int verdict_key_new(const std::string& file, const std::string& id);
int verdict_key_promote(const std::string& file, const std::string& id);

}  // namespace pampero::cli
