// directory.hpp - the authoritative, slowly changing data: domains, users, aliases,
// white/black lists and contacts.
//
// Two interfaces: Directory is what the daemons read on the hot path; DirectoryAdmin adds
// the writes pamperoctl makes. Backends: SQLite ("sqlite:PATH", the embedded default) and
// MariaDB ("mariadb://...", a farm's shared directory, see common/src/mariadb_directory.hpp),
// both behind these same calls and the same contract tests.
//
// Errors: a backend that cannot answer (file missing or corrupt, server down) returns
// ErrorKind::temporary, which the daemons turn into 4xx; bad input to an admin call
// (unknown user, duplicate) returns ErrorKind::permanent. Addresses passed in must be
// normalized already (see address.hpp); patterns are an address or "@domain".
// Thread-safety: every implementation is safe to call from many threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pampero/common/result.hpp"

namespace pampero {

// Where a mailbox lives: the storage node and the maildir relative to its mail_root.
struct MailboxLocation {
    std::string node;
    std::string maildir;
};

// A user's own outbound rate limits (policy/rate_limit.hpp), each nullopt: the site's
// (ratelimit: in pampero.yaml); 0: no limit for this user.
struct UserLimits {
    std::optional<int> messages_per_hour;
    std::optional<int> recipients_per_hour;
    std::optional<int> recipients_per_message;
    bool operator==(const UserLimits&) const = default;
};

struct User {
    std::string address;
    std::optional<int> level;            // nullopt: the default level
    std::optional<std::uint64_t> quota;  // bytes; nullopt: the configured default
    std::string node;                    // storage node holding the mailbox
    std::string maildir;                 // relative to the store's mail_root
    // During a migration the mailbox's second location: the store delivers every
    // message to both until the move is finished (nullopt: no migration).
    std::optional<MailboxLocation> migration;
    UserLimits limits;  // the user's own rate limits (SQLite: table user_limits)
};

enum class ListKind { white, black };
const char* to_string(ListKind kind);

// Which list a sender is on for one user, white taking precedence over black: a user
// who white-lists a sender the admin black-listed globally gets the mail.
enum class Listing { none, white, black };

struct ListEntry {
    ListKind kind;
    std::string user;  // empty: global
    std::string pattern;
};

struct Contact {
    std::string address;
    std::string name;
};

struct Alias {
    std::string address;
    std::string target;
};

class Directory {
  public:
    virtual ~Directory() = default;

    virtual Result<bool> is_local_domain(const std::string& domain) = 0;
    virtual Result<std::optional<User>> find_user(const std::string& address) = 0;
    // Targets of an alias; empty when the address is no alias.
    virtual Result<std::vector<std::string>> find_alias(const std::string& address) = 0;
    // The sender's listing for `user`, from the global lists and the user's own.
    virtual Result<Listing> sender_listing(const std::string& user, const std::string& sender) = 0;
    virtual Result<bool> is_contact(const std::string& user, const std::string& sender) = 0;
};

class DirectoryAdmin : public Directory {
  public:
    virtual Status add_domain(const std::string& domain) = 0;
    virtual Status del_domain(const std::string& domain) = 0;
    virtual Result<std::vector<std::string>> domains() = 0;

    virtual Status add_user(const User& user) = 0;
    virtual Status update_user(const User& user) = 0;
    virtual Status del_user(const std::string& address) = 0;
    virtual Result<std::vector<User>> users(const std::string& domain) = 0;

    virtual Status add_alias(const Alias& alias) = 0;
    virtual Status del_alias(const std::string& address) = 0;

    virtual Status add_list_entry(const ListEntry& entry) = 0;
    virtual Status del_list_entry(const ListEntry& entry) = 0;
    virtual Result<std::vector<ListEntry>> list_entries(const std::string& user) = 0;

    // Adds contacts (an existing one keeps its row, takes a new non-empty name);
    // returns how many were imported.
    virtual Result<int> add_contacts(const std::string& user, const std::vector<Contact>& c) = 0;
    virtual Result<std::vector<Contact>> contacts(const std::string& user) = 0;

    // The whole directory, for copying it (pamperoctl migrate-directory): every alias,
    // every list entry (global and the users'), every contact with its owner; sorted.
    virtual Result<std::vector<Alias>> aliases() = 0;
    virtual Result<std::vector<ListEntry>> all_list_entries() = 0;
    virtual Result<std::vector<std::pair<std::string, Contact>>> all_contacts() = 0;
};

// "sqlite:PATH". Daemons open read-only (a missing file is a temporary error on every
// call, so mail is deferred, not refused; a file deleted or replaced while open is
// noticed by the next call); pamperoctl opens writable and creates the schema when the
// file is new.
// Files pamperoctl creates must be usable by the daemons whichever user runs it: a new
// database file is made mode 0660 with group `file_group` (the daemons' group, from the
// configuration's `group:`/`user:`), or when none is given the group of its folder; its
// -wal and -shm, when this process owns them, get the database file's group and mode.
enum class OpenMode { read_only, read_write };
Result<std::unique_ptr<DirectoryAdmin>> open_directory(const std::string& spec, OpenMode mode,
                                                       std::optional<unsigned> file_group = {});

// The spec for messages and logs: a mariadb:// password ("USER:PASSWORD@") becomes "***".
std::string directory_display(const std::string& spec);

// Wraps a directory with a TTL cache (see lookup_cache.hpp). Errors are never cached.
std::unique_ptr<Directory> make_cached_directory(std::unique_ptr<Directory> inner,
                                                 std::chrono::seconds ttl);

}  // namespace pampero
