// sqlite_directory.cpp - the Directory on an SQLite file (the embedded default).
//
// One connection, guarded by a mutex: lookups are index hits of microseconds and the
// cache in front absorbs repeats, so a pool would buy nothing. The connection is opened
// on first use and dropped after any error, so a directory file that was missing or
// locked is picked up again by the next call without a restart.
// A file deleted or replaced under an open connection raises no error: SQLite goes on
// reading the old inode, so a user re-added to a recreated file would stay unknown (550)
// until a restart. Every call therefore first stat()s the path (one syscall, beside an
// SQLite lookup that costs more, and the cache in front absorbs repeats): a file that is
// gone is a temporary error (4xx, mail deferred), and a different device/inode than the
// connection's drops it and opens the new file, as Postfix restarts its daemons when a
// table changes.
#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <unordered_map>

#include "mariadb_directory.hpp"
#include "pampero/common/directory.hpp"
#include "sqlite_schema.hpp"

namespace pampero {
namespace {

// Prepared statements of one connection, kept for its lifetime: preparing costs more
// than running these index lookups, and an uncached lookup is what a dictionary attack
// makes of every RCPT. Keyed by the SQL literal's address. Used under the directory's
// mutex only.
class StmtCache {
  public:
    ~StmtCache() { clear(); }
    sqlite3_stmt* get(sqlite3* db, const char* sql) {
        if (auto it = map_.find(sql); it != map_.end()) return it->second;
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) != SQLITE_OK) {
            sqlite3_finalize(st);
            return nullptr;
        }
        map_.emplace(sql, st);
        return st;
    }
    // Before the connection closes.
    void clear() {
        for (auto& [sql, st] : map_) sqlite3_finalize(st);
        map_.clear();
    }

  private:
    std::unordered_map<const char*, sqlite3_stmt*> map_;
};

// One use of a cached statement: reset and unbound again when it goes out of scope.
class Stmt {
  public:
    Stmt(StmtCache& cache, sqlite3* db, const char* sql) : st_(cache.get(db, sql)) {}
    ~Stmt() {
        if (st_) {
            sqlite3_reset(st_);
            sqlite3_clear_bindings(st_);
        }
    }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;

    bool ok() const { return st_ != nullptr; }
    Stmt& bind(const std::string& s) {
        sqlite3_bind_text(st_, ++n_, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
        return *this;
    }
    Stmt& bind(std::optional<std::int64_t> v) {
        if (v)
            sqlite3_bind_int64(st_, ++n_, *v);
        else
            sqlite3_bind_null(st_, ++n_);
        return *this;
    }
    // SQLITE_ROW, SQLITE_DONE or an error code.
    int step() { return sqlite3_step(st_); }
    std::string text(int col) const {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st_, col));
        return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st_, col))) : "";
    }
    std::optional<std::int64_t> integer(int col) const {
        if (sqlite3_column_type(st_, col) == SQLITE_NULL) return std::nullopt;
        return sqlite3_column_int64(st_, col);
    }

  private:
    sqlite3_stmt* st_ = nullptr;
    int n_ = 0;
};

// "a@b.c" -> {"a@b.c", "@b.c"}: the two patterns a list entry can match a sender by.
std::pair<std::string, std::string> sender_patterns(const std::string& sender) {
    const auto at = sender.rfind('@');
    return {sender, at == std::string::npos ? sender : sender.substr(at)};
}

class SqliteDirectory final : public DirectoryAdmin {
  public:
    SqliteDirectory(std::string path, OpenMode mode, std::optional<unsigned> file_group)
        : path_(std::move(path)), mode_(mode), file_group_(file_group) {}
    ~SqliteDirectory() override {
        stmts_.clear();
        sqlite3_close(db_);
    }

    Status open_now() {
        std::lock_guard lock(mu_);
        return connect();
    }

    Result<bool> is_local_domain(const std::string& domain) override {
        return query<bool>([&](sqlite3* db) -> Result<bool> {
            Stmt s(stmts_, db, "SELECT 1 FROM domains WHERE name = ?");
            if (!s.ok()) return fail(db);
            s.bind(domain);
            const int rc = s.step();
            if (rc == SQLITE_ROW) return true;
            if (rc == SQLITE_DONE) return false;
            return fail(db);
        });
    }

    Result<std::optional<User>> find_user(const std::string& address) override {
        using R = std::optional<User>;
        return query<R>([&](sqlite3* db) -> Result<R> {
            const bool lim = has_limits(db);
            Stmt s(stmts_, db,
                   lim ? "SELECT u.address, u.level, u.quota, u.node, u.maildir, m.node, "
                         "m.maildir, l.messages_per_hour, l.recipients_per_hour, "
                         "l.recipients_per_message "
                         "FROM users u LEFT JOIN migrations m ON m.address = u.address "
                         "LEFT JOIN user_limits l ON l.address = u.address "
                         "WHERE u.address = ?"
                       : "SELECT u.address, u.level, u.quota, u.node, u.maildir, m.node, "
                         "m.maildir, NULL, NULL, NULL "
                         "FROM users u LEFT JOIN migrations m ON m.address = u.address "
                         "WHERE u.address = ?");
            if (!s.ok()) return fail(db);
            s.bind(address);
            const int rc = s.step();
            if (rc == SQLITE_DONE) return R{};
            if (rc != SQLITE_ROW) return fail(db);
            return R{row_user(s)};
        });
    }

    Result<std::vector<std::string>> find_alias(const std::string& address) override {
        using R = std::vector<std::string>;
        return query<R>([&](sqlite3* db) -> Result<R> {
            Stmt s(stmts_, db, "SELECT target FROM aliases WHERE address = ? ORDER BY target");
            if (!s.ok()) return fail(db);
            s.bind(address);
            R out;
            int rc;
            while ((rc = s.step()) == SQLITE_ROW) out.push_back(s.text(0));
            if (rc != SQLITE_DONE) return fail(db);
            return out;
        });
    }

    Result<Listing> sender_listing(const std::string& user, const std::string& sender) override {
        return query<Listing>([&](sqlite3* db) -> Result<Listing> {
            Stmt s(stmts_, db,
                   "SELECT kind FROM lists WHERE (user = '' OR user = ?) "
                   "AND pattern IN (?, ?) ORDER BY kind = 'white' DESC LIMIT 1");
            if (!s.ok()) return fail(db);
            const auto [exact, domain] = sender_patterns(sender);
            s.bind(user).bind(exact).bind(domain);
            const int rc = s.step();
            if (rc == SQLITE_DONE) return Listing::none;
            if (rc != SQLITE_ROW) return fail(db);
            return s.text(0) == "white" ? Listing::white : Listing::black;
        });
    }

    Result<bool> is_contact(const std::string& user, const std::string& sender) override {
        return query<bool>([&](sqlite3* db) -> Result<bool> {
            Stmt s(stmts_, db, "SELECT 1 FROM contacts WHERE user = ? AND address = ?");
            if (!s.ok()) return fail(db);
            s.bind(user).bind(sender);
            const int rc = s.step();
            if (rc == SQLITE_ROW) return true;
            if (rc == SQLITE_DONE) return false;
            return fail(db);
        });
    }

    Status add_domain(const std::string& domain) override {
        return exec("INSERT INTO domains(name) VALUES (?)", {domain}, "domain exists");
    }
    Status del_domain(const std::string& domain) override {
        return exec_changed("DELETE FROM domains WHERE name = ?", {domain}, "no such domain");
    }
    Result<std::vector<std::string>> domains() override {
        using R = std::vector<std::string>;
        return query<R>([&](sqlite3* db) -> Result<R> {
            Stmt s(stmts_, db, "SELECT name FROM domains ORDER BY name");
            if (!s.ok()) return fail(db);
            R out;
            int rc;
            while ((rc = s.step()) == SQLITE_ROW) out.push_back(s.text(0));
            if (rc != SQLITE_DONE) return fail(db);
            return out;
        });
    }

    Status add_user(const User& u) override {
        return query<Ok>([&](sqlite3* db) -> Result<Ok> {
            Stmt s(stmts_, db,
                   "INSERT INTO users(address, domain, level, quota, node, maildir) "
                   "VALUES (?, ?, ?, ?, ?, ?)");
            if (!s.ok()) return fail(db);
            const auto at = u.address.rfind('@');
            s.bind(u.address).bind(u.address.substr(at + 1)).bind(opt(u.level));
            s.bind(opt(u.quota)).bind(u.node).bind(u.maildir);
            const int rc = s.step();
            if (rc == SQLITE_CONSTRAINT) return Error::permanent("user exists or domain unknown");
            if (rc != SQLITE_DONE) return fail(db);
            if (auto st = write_migration(db, u); !st) return st;
            return write_limits(db, u);
        });
    }
    Status update_user(const User& u) override {
        return query<Ok>([&](sqlite3* db) -> Result<Ok> {
            Stmt s(
                stmts_, db,
                "UPDATE users SET level = ?, quota = ?, node = ?, maildir = ? WHERE address = ?");
            if (!s.ok()) return fail(db);
            s.bind(opt(u.level)).bind(opt(u.quota)).bind(u.node).bind(u.maildir).bind(u.address);
            if (s.step() != SQLITE_DONE) return fail(db);
            if (sqlite3_changes(db) == 0) return Error::permanent("no such user");
            if (auto st = write_migration(db, u); !st) return st;
            return write_limits(db, u);
        });
    }
    Status del_user(const std::string& address) override {
        return exec_changed("DELETE FROM users WHERE address = ?", {address}, "no such user");
    }
    Result<std::vector<User>> users(const std::string& domain) override {
        using R = std::vector<User>;
        return query<R>([&](sqlite3* db) -> Result<R> {
            const bool lim = has_limits(db);
            Stmt s(stmts_, db,
                   lim ? "SELECT u.address, u.level, u.quota, u.node, u.maildir, m.node, "
                         "m.maildir, l.messages_per_hour, l.recipients_per_hour, "
                         "l.recipients_per_message "
                         "FROM users u LEFT JOIN migrations m ON m.address = u.address "
                         "LEFT JOIN user_limits l ON l.address = u.address "
                         "WHERE ? = '' OR u.domain = ? ORDER BY u.address"
                       : "SELECT u.address, u.level, u.quota, u.node, u.maildir, m.node, "
                         "m.maildir, NULL, NULL, NULL "
                         "FROM users u LEFT JOIN migrations m ON m.address = u.address "
                         "WHERE ? = '' OR u.domain = ? ORDER BY u.address");
            if (!s.ok()) return fail(db);
            s.bind(domain).bind(domain);
            R out;
            int rc;
            while ((rc = s.step()) == SQLITE_ROW) out.push_back(row_user(s));
            if (rc != SQLITE_DONE) return fail(db);
            return out;
        });
    }

    Status add_alias(const Alias& a) override {
        return exec("INSERT INTO aliases(address, target) VALUES (?, ?)", {a.address, a.target},
                    "alias exists");
    }
    Status del_alias(const std::string& address) override {
        return exec_changed("DELETE FROM aliases WHERE address = ?", {address}, "no such alias");
    }

    Status add_list_entry(const ListEntry& e) override {
        return exec("INSERT INTO lists(kind, user, pattern) VALUES (?, ?, ?)",
                    {to_string(e.kind), e.user, e.pattern}, "entry exists");
    }
    Status del_list_entry(const ListEntry& e) override {
        return exec_changed("DELETE FROM lists WHERE kind = ? AND user = ? AND pattern = ?",
                            {to_string(e.kind), e.user, e.pattern}, "no such entry");
    }
    Result<std::vector<ListEntry>> list_entries(const std::string& user) override {
        using R = std::vector<ListEntry>;
        return query<R>([&](sqlite3* db) -> Result<R> {
            Stmt s(stmts_, db,
                   "SELECT kind, user, pattern FROM lists WHERE user = ? ORDER BY kind, pattern");
            if (!s.ok()) return fail(db);
            s.bind(user);
            R out;
            int rc;
            while ((rc = s.step()) == SQLITE_ROW) {
                out.push_back({s.text(0) == "white" ? ListKind::white : ListKind::black, s.text(1),
                               s.text(2)});
            }
            if (rc != SQLITE_DONE) return fail(db);
            return out;
        });
    }

    Result<int> add_contacts(const std::string& user, const std::vector<Contact>& cs) override {
        return query<int>([&](sqlite3* db) -> Result<int> {
            sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
            int added = 0;
            for (const auto& c : cs) {
                Stmt s(stmts_, db,
                       "INSERT INTO contacts(user, address, name) VALUES (?, ?, ?) "
                       "ON CONFLICT(user, address) DO UPDATE SET name = excluded.name "
                       "WHERE excluded.name != ''");
                if (!s.ok()) break;
                s.bind(user).bind(c.address).bind(c.name);
                if (s.step() != SQLITE_DONE) {
                    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
                    return fail(db);
                }
                ++added;
            }
            if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return fail(db);
            return added;
        });
    }
    Result<std::vector<Contact>> contacts(const std::string& user) override {
        using R = std::vector<Contact>;
        return query<R>([&](sqlite3* db) -> Result<R> {
            Stmt s(stmts_, db,
                   "SELECT address, name FROM contacts WHERE user = ? ORDER BY address");
            if (!s.ok()) return fail(db);
            s.bind(user);
            R out;
            int rc;
            while ((rc = s.step()) == SQLITE_ROW) out.push_back({s.text(0), s.text(1)});
            if (rc != SQLITE_DONE) return fail(db);
            return out;
        });
    }

    Result<std::vector<Alias>> aliases() override {
        using R = std::vector<Alias>;
        return query<R>([&](sqlite3* db) -> Result<R> {
            Stmt s(stmts_, db, "SELECT address, target FROM aliases ORDER BY address, target");
            if (!s.ok()) return fail(db);
            R out;
            int rc;
            while ((rc = s.step()) == SQLITE_ROW) out.push_back({s.text(0), s.text(1)});
            if (rc != SQLITE_DONE) return fail(db);
            return out;
        });
    }
    Result<std::vector<ListEntry>> all_list_entries() override {
        using R = std::vector<ListEntry>;
        return query<R>([&](sqlite3* db) -> Result<R> {
            Stmt s(stmts_, db,
                   "SELECT kind, user, pattern FROM lists ORDER BY user, kind, pattern");
            if (!s.ok()) return fail(db);
            R out;
            int rc;
            while ((rc = s.step()) == SQLITE_ROW) {
                out.push_back({s.text(0) == "white" ? ListKind::white : ListKind::black, s.text(1),
                               s.text(2)});
            }
            if (rc != SQLITE_DONE) return fail(db);
            return out;
        });
    }
    Result<std::vector<std::pair<std::string, Contact>>> all_contacts() override {
        using R = std::vector<std::pair<std::string, Contact>>;
        return query<R>([&](sqlite3* db) -> Result<R> {
            Stmt s(stmts_, db, "SELECT user, address, name FROM contacts ORDER BY user, address");
            if (!s.ok()) return fail(db);
            R out;
            int rc;
            while ((rc = s.step()) == SQLITE_ROW)
                out.push_back({s.text(0), {s.text(1), s.text(2)}});
            if (rc != SQLITE_DONE) return fail(db);
            return out;
        });
    }

  private:
    template <typename T>
    static std::optional<std::int64_t> opt(const std::optional<T>& v) {
        if (!v) return std::nullopt;
        return static_cast<std::int64_t>(*v);
    }

    // The user's second location (migrations table) as `u` says: replaced or removed.
    Result<Ok> write_migration(sqlite3* db, const User& u) {
        Stmt d(stmts_, db, "DELETE FROM migrations WHERE address = ?");
        if (!d.ok()) return fail(db);
        d.bind(u.address);
        if (d.step() != SQLITE_DONE) return fail(db);
        if (!u.migration) return Ok{};
        Stmt s(stmts_, db, "INSERT INTO migrations(address, node, maildir) VALUES (?, ?, ?)");
        if (!s.ok()) return fail(db);
        s.bind(u.address).bind(u.migration->node).bind(u.migration->maildir);
        if (s.step() != SQLITE_DONE) return fail(db);
        return Ok{};
    }

    // The user's own rate limits (table user_limits) as `u` says: a row only when one is set.
    Result<Ok> write_limits(sqlite3* db, const User& u) {
        Stmt d(stmts_, db, "DELETE FROM user_limits WHERE address = ?");
        if (!d.ok()) return fail(db);
        d.bind(u.address);
        if (d.step() != SQLITE_DONE) return fail(db);
        const auto& l = u.limits;
        if (l == UserLimits{}) return Ok{};
        Stmt s(stmts_, db,
               "INSERT INTO user_limits(address, messages_per_hour, recipients_per_hour, "
               "recipients_per_message) VALUES (?, ?, ?, ?)");
        if (!s.ok()) return fail(db);
        s.bind(u.address).bind(opt(l.messages_per_hour)).bind(opt(l.recipients_per_hour));
        s.bind(opt(l.recipients_per_message));
        if (s.step() != SQLITE_DONE) return fail(db);
        return Ok{};
    }

    // Whether the database has user_limits: a file made before it lacks it until
    // pamperoctl next opens it writable, and the daemons (read-only) must go on reading
    // it. Asked again on every lookup until it appears (the cache in front absorbs the
    // repeats), so it is seen without a restart.
    bool has_limits(sqlite3* db) {
        if (has_limits_) return true;
        Stmt s(stmts_, db,
               "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'user_limits'");
        has_limits_ = s.ok() && s.step() == SQLITE_ROW;
        return has_limits_;
    }

    static User row_user(const Stmt& s) {
        User u;
        u.address = s.text(0);
        if (auto l = s.integer(1)) u.level = static_cast<int>(*l);
        if (auto q = s.integer(2)) u.quota = static_cast<std::uint64_t>(*q);
        u.node = s.text(3);
        u.maildir = s.text(4);
        if (s.integer(5)) u.migration = MailboxLocation{s.text(5), s.text(6)};  // m.node NOT NULL
        auto limit = [&](int col) -> std::optional<int> {
            if (auto v = s.integer(col)) return static_cast<int>(*v);
            return std::nullopt;
        };
        u.limits = {limit(7), limit(8), limit(9)};
        return u;
    }

    void disconnect() {
        stmts_.clear();
        sqlite3_close(db_);
        db_ = nullptr;
    }

    // A new database file the daemons can read: 0660 (umask notwithstanding), the
    // daemons' group or its folder's. SQLite takes an empty file as a new database and
    // gives the -wal and -shm it creates the database file's mode (and, as root, owner).
    Status create_file(struct stat& st) {
        const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
        if (fd < 0) {
            if (errno == EEXIST) return ok_status();  // another pamperoctl was faster
            return Error::temporary(
                fmt::format("directory {}: cannot create: {}", path_, std::strerror(errno)));
        }
        std::optional<unsigned> group = file_group_;
        if (struct stat dir{};
            !group && stat(std::filesystem::path(path_).parent_path().c_str(), &dir) == 0) {
            group = dir.st_gid;
        }
        Status result = ok_status();
        if (group && fchown(fd, static_cast<uid_t>(-1), static_cast<gid_t>(*group)) != 0) {
            result = Error::temporary(fmt::format("directory {}: cannot give it group {}: {}",
                                                  path_, *group, std::strerror(errno)));
        }
        if (fchmod(fd, 0660) != 0 && result) {
            result = Error::temporary(
                fmt::format("directory {}: chmod 0660: {}", path_, std::strerror(errno)));
        }
        fstat(fd, &st);
        ::close(fd);
        if (!result) std::filesystem::remove(path_);
        return result;
    }

    // The -wal and -shm of a writable connection, when this process made them (not as
    // root, SQLite gives them our group): the database file's group and mode, so the
    // daemons, which open read-only but must write -shm, can use them.
    void match_side_files() {
        struct stat db {};
        if (stat(path_.c_str(), &db) != 0) return;
        for (const char* suffix : {"-wal", "-shm"}) {
            const std::string side = path_ + suffix;
            struct stat st {};
            if (stat(side.c_str(), &st) != 0 || st.st_uid != geteuid()) continue;
            if (st.st_gid != db.st_gid)
                (void)!chown(side.c_str(), static_cast<uid_t>(-1), db.st_gid);
            if ((st.st_mode & 07777) != (db.st_mode & 0666)) chmod(side.c_str(), db.st_mode & 0666);
        }
    }

    // Must hold mu_. Drops the connection when its file was deleted or replaced, then
    // opens one if there is none.
    Status connect() {
        struct stat st {};
        if (stat(path_.c_str(), &st) != 0) {
            if (db_) disconnect();
            if (mode_ == OpenMode::read_only) {
                return Error::temporary(fmt::format("directory {}: no such file", path_));
            }
            if (auto c = create_file(st); !c) return c;
        } else if (db_ && (st.st_dev != dev_ || st.st_ino != ino_)) {
            disconnect();
        }
        if (db_) return ok_status();
        // Stat'ed before the open: a file replaced in between is seen by the next call.
        dev_ = st.st_dev;
        ino_ = st.st_ino;
        has_limits_ = false;
        const int flags = mode_ == OpenMode::read_only ? SQLITE_OPEN_READONLY
                                                       : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
        if (sqlite3_open_v2(path_.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr) !=
            SQLITE_OK) {
            Error e = Error::temporary(fmt::format("directory {}: {}", path_, sqlite3_errmsg(db_)));
            stmts_.clear();
            sqlite3_close(db_);
            db_ = nullptr;
            return e;
        }
        sqlite3_busy_timeout(db_, 5000);
        sqlite3_exec(db_, "PRAGMA foreign_keys = ON", nullptr, nullptr, nullptr);
        if (mode_ == OpenMode::read_write) {
            char* err = nullptr;
            if (sqlite3_exec(db_, kSqliteSchema, nullptr, nullptr, &err) != SQLITE_OK) {
                Error e = Error::temporary(
                    fmt::format("directory {}: schema: {}", path_, err ? err : "unknown error"));
                sqlite3_free(err);
                sqlite3_close(db_);
                db_ = nullptr;
                return e;
            }
            match_side_files();
        }
        return ok_status();
    }

    // Runs fn on a live connection; after an error the connection is dropped.
    template <typename T, typename Fn>
    Result<T> query(Fn&& fn) {
        std::lock_guard lock(mu_);
        if (auto st = connect(); !st) return st.error();
        Result<T> r = fn(db_);
        if (!r.ok() && r.error().kind == ErrorKind::temporary) {
            stmts_.clear();
            sqlite3_close(db_);
            db_ = nullptr;
        }
        return r;
    }

    Error fail(sqlite3* db) const {
        return Error::temporary(fmt::format("directory {}: {}", path_, sqlite3_errmsg(db)));
    }

    Status exec(const char* sql, const std::vector<std::string>& args, const char* conflict) {
        return query<Ok>([&](sqlite3* db) -> Result<Ok> {
            Stmt s(stmts_, db, sql);
            if (!s.ok()) return fail(db);
            for (const auto& a : args) s.bind(a);
            const int rc = s.step();
            if (rc == SQLITE_DONE) return Ok{};
            if ((rc & 0xff) == SQLITE_CONSTRAINT) return Error::permanent(conflict);
            return fail(db);
        });
    }

    Status exec_changed(const char* sql, const std::vector<std::string>& args, const char* none) {
        return query<Ok>([&](sqlite3* db) -> Result<Ok> {
            Stmt s(stmts_, db, sql);
            if (!s.ok()) return fail(db);
            for (const auto& a : args) s.bind(a);
            if (s.step() != SQLITE_DONE) return fail(db);
            if (sqlite3_changes(db) == 0) return Error::permanent(none);
            return Ok{};
        });
    }

    std::string path_;
    OpenMode mode_;
    std::optional<unsigned> file_group_;  // for a file this opens writable and creates
    std::mutex mu_;
    sqlite3* db_ = nullptr;
    StmtCache stmts_;  // of db_; cleared before db_ closes
    dev_t dev_ = 0;    // the file db_ was opened on (see check_file)
    ino_t ino_ = 0;
    bool has_limits_ = false;  // db_ has table user_limits (see has_limits)
};

}  // namespace

const char* to_string(ListKind kind) {
    return kind == ListKind::white ? "white" : "black";
}

Result<std::unique_ptr<DirectoryAdmin>> open_directory(const std::string& spec, OpenMode mode,
                                                       std::optional<unsigned> file_group) {
    const auto colon = spec.find(':');
    const std::string scheme = spec.substr(0, colon);
    if (scheme == "sqlite" && colon != std::string::npos && colon + 1 < spec.size()) {
        auto d = std::make_unique<SqliteDirectory>(spec.substr(colon + 1), mode, file_group);
        if (mode == OpenMode::read_write) {
            if (auto st = d->open_now(); !st) return st.error();
        }
        return std::unique_ptr<DirectoryAdmin>(std::move(d));
    }
    if (scheme == "mariadb") return open_mariadb_directory(spec, mode);
    return Error::config(fmt::format(
        "unknown directory '{}' (expected sqlite:PATH or mariadb://USER@HOST[:PORT]/DB)", spec));
}

}  // namespace pampero
