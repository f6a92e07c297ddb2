#include "pampero/classifier/sqlite_store.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace pampero::classifier {
namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"(
PRAGMA journal_mode=WAL;
BEGIN;
CREATE TABLE IF NOT EXISTS bayes_meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bayes_tokens(token INTEGER PRIMARY KEY, spam INTEGER NOT NULL,
                                        ham INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bayes_learned(id TEXT PRIMARY KEY, class INTEGER NOT NULL);
INSERT OR IGNORE INTO bayes_meta VALUES ('version', 1), ('spam', 0), ('ham', 0);
COMMIT;
)";

// A prepared statement freed on scope exit.
class Stmt {
  public:
    Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
    ~Stmt() { sqlite3_finalize(s_); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    bool ok() const { return rc_ == SQLITE_OK; }
    sqlite3_stmt* get() const { return s_; }

  private:
    sqlite3_stmt* s_ = nullptr;
    int rc_;
};

bool is_corruption(int rc) {
    rc &= 0xff;
    return rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT || rc == SQLITE_FORMAT;
}

std::int64_t as_signed(Token t) {
    std::int64_t v;
    std::memcpy(&v, &t, sizeof v);
    return v;
}

std::uint64_t as_count(sqlite3_int64 v) {
    return v < 0 ? 0 : static_cast<std::uint64_t>(v);
}

// Rolls back unless committed.
struct Txn {
    sqlite3* db;
    bool done = false;
    ~Txn() {
        if (!done) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    }
};

}  // namespace

Error SqliteStore::error(const char* what) const {
    const int rc = sqlite3_extended_errcode(db_);
    const std::string m =
        fmt::format("classifier store {}: {}: {}", path_, what, sqlite3_errmsg(db_));
    if (is_corruption(rc)) return Error::config(m + " (corrupt or not a classifier store)");
    return Error::temporary(m);
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path, OpenMode mode) {
    const bool create = mode == OpenMode::create;
    struct stat st {};
    if (!create && ::stat(path.c_str(), &st) != 0) {
        return Error::temporary(fmt::format("classifier store {}: {}", path, std::strerror(errno)));
    }
    if (create && ::stat(path.c_str(), &st) != 0 && errno == ENOENT) {
        // Whoever creates the store (root running pamperoctl learn, or the mail user
        // through the Dovecot learning pipe), the other must write it too: the group
        // (pampero, from the setgid /var/lib/pampero) gets read and write whatever the
        // umask. Made here, empty, because SQLite gives the -wal and -shm files the mode
        // the database file has when they are made.
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
        if (fd >= 0) {
            ::fchmod(fd, 0660);
            ::close(fd);
        }
    }
    sqlite3* db = nullptr;
    const int flags = (create                    ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                       : mode == OpenMode::write ? SQLITE_OPEN_READWRITE
                                                 : SQLITE_OPEN_READONLY) |
                      SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
        const std::string m = db ? sqlite3_errmsg(db) : "out of memory";
        sqlite3_close(db);
        return Error::temporary(fmt::format("classifier store {}: cannot open: {}", path, m));
    }
    std::unique_ptr<SqliteStore> s(new SqliteStore(path, db));
    sqlite3_busy_timeout(db, 5000);
    // A scan reads hundreds of tokens scattered over the file: map it (no read() per
    // page) and keep up to 64 MB of pages cached. Without these a scan with the
    // classifier cost 3x the CPU of one without it (pamperoctl scan over the corpus).
    sqlite3_exec(db, "PRAGMA mmap_size=268435456; PRAGMA cache_size=-65536", nullptr, nullptr,
                 nullptr);

    // What is in the file: nothing (new or empty), our tables, or something else.
    int ours = 0;
    int others = 0;
    {
        Stmt q(db, "SELECT name FROM sqlite_master WHERE type='table'");
        if (!q.ok()) return s->error("cannot read");
        int rc;
        while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
            const std::string n = reinterpret_cast<const char*>(sqlite3_column_text(q.get(), 0));
            (n.rfind("bayes_", 0) == 0 ? ours : others)++;
        }
        if (rc != SQLITE_DONE) return s->error("cannot read");
    }
    if (others > 0 && ours == 0) {
        return Error::config(fmt::format(
            "classifier store {}: not a classifier store (it holds other tables)", path));
    }
    if (ours == 0) {
        if (!create) {
            return Error::temporary(
                fmt::format("classifier store {}: empty (nothing learned yet)", path));
        }
        char* err = nullptr;
        if (sqlite3_exec(db, kSchema, nullptr, nullptr, &err) != SQLITE_OK) {
            const std::string m = err ? err : "?";
            sqlite3_free(err);
            return Error::temporary(
                fmt::format("classifier store {}: cannot create the schema: {}", path, m));
        }
    }
    Stmt v(db, "SELECT value FROM bayes_meta WHERE key='version'");
    if (!v.ok()) {
        if (is_corruption(sqlite3_extended_errcode(db))) return s->error("cannot read");
        return Error::config(fmt::format("classifier store {}: not a classifier store ({})", path,
                                         sqlite3_errmsg(db)));
    }
    const int rc = sqlite3_step(v.get());
    if (rc != SQLITE_ROW) {
        if (rc == SQLITE_DONE) {
            return Error::config(
                fmt::format("classifier store {}: not a classifier store (no version)", path));
        }
        return s->error("cannot read");
    }
    const auto version = sqlite3_column_int64(v.get(), 0);
    if (version != kSchemaVersion) {
        return Error::config(
            fmt::format("classifier store {}: schema version {}, this pampero reads version {}",
                        path, version, kSchemaVersion));
    }
    return s;
}

SqliteStore::~SqliteStore() {
    sqlite3_close(db_);
}

Result<std::vector<TokenCounts>> SqliteStore::get(std::span<const Token> tokens) const {
    std::lock_guard lock(mu_);
    std::vector<TokenCounts> out;
    out.reserve(tokens.size());
    // One read transaction: a consistent view, and no lock taken per lookup.
    if (sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK)
        return error("cannot read");
    Txn txn{db_};
    Stmt q(db_, "SELECT spam, ham FROM bayes_tokens WHERE token=?1");
    if (!q.ok()) return error("cannot read");
    for (const Token t : tokens) {
        sqlite3_bind_int64(q.get(), 1, as_signed(t));
        const int rc = sqlite3_step(q.get());
        if (rc == SQLITE_ROW) {
            out.push_back({as_count(sqlite3_column_int64(q.get(), 0)),
                           as_count(sqlite3_column_int64(q.get(), 1))});
        } else if (rc == SQLITE_DONE) {
            out.push_back({});
        } else {
            return error("cannot read");
        }
        sqlite3_reset(q.get());
    }
    return out;
}

Result<Totals> SqliteStore::totals_locked() const {
    Stmt q(db_, "SELECT key, value FROM bayes_meta WHERE key IN ('spam','ham')");
    if (!q.ok()) return error("cannot read");
    Totals t;
    int rc;
    while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
        const std::string k = reinterpret_cast<const char*>(sqlite3_column_text(q.get(), 0));
        (k == "spam" ? t.spam : t.ham) = as_count(sqlite3_column_int64(q.get(), 1));
    }
    if (rc != SQLITE_DONE) return error("cannot read");
    return t;
}

Result<Totals> SqliteStore::totals() const {
    std::lock_guard lock(mu_);
    return totals_locked();
}

Result<std::optional<Class>> SqliteStore::learned(const std::string& id) const {
    std::lock_guard lock(mu_);
    Stmt q(db_, "SELECT class FROM bayes_learned WHERE id=?1");
    if (!q.ok()) return error("cannot read");
    sqlite3_bind_text(q.get(), 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
    const int rc = sqlite3_step(q.get());
    if (rc == SQLITE_DONE) return std::optional<Class>{};
    if (rc != SQLITE_ROW) return error("cannot read");
    return std::optional<Class>{sqlite3_column_int(q.get(), 0) == 1 ? Class::spam : Class::ham};
}

Status SqliteStore::apply(const Update& u) {
    std::lock_guard lock(mu_);
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
        return error("cannot write");
    Txn txn{db_};
    Stmt up(db_,
            "INSERT INTO bayes_tokens(token, spam, ham) VALUES (?1, MAX(?2, 0), MAX(?3, 0)) "
            "ON CONFLICT(token) DO UPDATE SET spam = MAX(spam + ?2, 0), ham = MAX(ham + ?3, 0)");
    Stmt del(db_, "DELETE FROM bayes_tokens WHERE token=?1 AND spam=0 AND ham=0");
    Stmt meta(db_, "UPDATE bayes_meta SET value = MAX(value + ?2, 0) WHERE key=?1");
    Stmt add(db_, "INSERT OR REPLACE INTO bayes_learned(id, class) VALUES (?1, ?2)");
    Stmt drop(db_, "DELETE FROM bayes_learned WHERE id=?1");
    if (!up.ok() || !del.ok() || !meta.ok() || !add.ok() || !drop.ok())
        return error("cannot write");
    auto run = [&](const Stmt& s) {
        const int rc = sqlite3_step(s.get());
        sqlite3_reset(s.get());
        return rc == SQLITE_DONE;
    };
    for (const auto& d : u.tokens) {
        sqlite3_bind_int64(up.get(), 1, as_signed(d.token));
        sqlite3_bind_int64(up.get(), 2, d.spam);
        sqlite3_bind_int64(up.get(), 3, d.ham);
        if (!run(up)) return error("cannot write");
        if (d.spam < 0 || d.ham < 0) {
            sqlite3_bind_int64(del.get(), 1, as_signed(d.token));
            if (!run(del)) return error("cannot write");
        }
    }
    for (const auto& [key, delta] : {std::pair{"spam", u.spam_messages}, {"ham", u.ham_messages}}) {
        if (delta == 0) continue;
        sqlite3_bind_text(meta.get(), 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(meta.get(), 2, delta);
        if (!run(meta)) return error("cannot write");
    }
    for (const auto& [id, cls] : u.learned) {
        const Stmt& s = cls ? add : drop;
        sqlite3_bind_text(s.get(), 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
        if (cls) sqlite3_bind_int(s.get(), 2, *cls == Class::spam ? 1 : 0);
        if (!run(s)) return error("cannot write");
    }
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
        return error("cannot write");
    txn.done = true;
    return ok_status();
}

Result<StoreStats> SqliteStore::stats() const {
    std::lock_guard lock(mu_);
    StoreStats s;
    auto t = totals_locked();
    if (!t) return t.error();
    s.totals = *t;
    for (auto [sql, out] : {std::pair{"SELECT COUNT(*) FROM bayes_tokens", &s.tokens},
                            {"SELECT COUNT(*) FROM bayes_learned", &s.learned}}) {
        Stmt q(db_, sql);
        if (!q.ok() || sqlite3_step(q.get()) != SQLITE_ROW) return error("cannot read");
        *out = as_count(sqlite3_column_int64(q.get(), 0));
    }
    return s;
}

Result<std::int64_t> SqliteStore::data_version() const {
    std::lock_guard lock(mu_);
    Stmt q(db_, "PRAGMA data_version");
    if (!q.ok() || sqlite3_step(q.get()) != SQLITE_ROW) return error("cannot read");
    return static_cast<std::int64_t>(sqlite3_column_int64(q.get(), 0));
}

Result<std::unique_ptr<FrozenStore>> SqliteStore::copy_to_memory(std::uint64_t max_tokens) const {
    std::lock_guard lock(mu_);
    if (sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK)
        return error("cannot read");
    Txn txn{db_};
    auto totals = totals_locked();
    if (!totals) return totals.error();
    Stmt n(db_, "SELECT COUNT(*) FROM bayes_tokens");
    if (!n.ok() || sqlite3_step(n.get()) != SQLITE_ROW) return error("cannot read");
    const auto count = as_count(sqlite3_column_int64(n.get(), 0));
    if (count > max_tokens) return std::unique_ptr<FrozenStore>();
    std::vector<std::pair<Token, TokenCounts>> entries;
    entries.reserve(count);
    Stmt q(db_, "SELECT token, spam, ham FROM bayes_tokens");
    if (!q.ok()) return error("cannot read");
    int rc;
    while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
        const auto v = sqlite3_column_int64(q.get(), 0);
        Token t;
        std::memcpy(&t, &v, sizeof t);
        entries.emplace_back(t, TokenCounts{as_count(sqlite3_column_int64(q.get(), 1)),
                                            as_count(sqlite3_column_int64(q.get(), 2))});
    }
    if (rc != SQLITE_DONE) return error("cannot read");
    return std::make_unique<FrozenStore>(*totals, entries);
}

}  // namespace pampero::classifier
