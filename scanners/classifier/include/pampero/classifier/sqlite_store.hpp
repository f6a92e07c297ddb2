// sqlite_store.hpp - the classifier store in one SQLite file: the embedded default
// (`classifier: { store: sqlite:/var/lib/pampero/bayes.db }`).
//
// Schema (version 1): bayes_meta(key, value) holds the version and the spam/ham message
// totals; bayes_tokens(token INTEGER PRIMARY KEY, spam, ham) the counts, the 64-bit
// token stored as its signed bit pattern; bayes_learned(id PRIMARY KEY, class). WAL
// journal, so scanners read while `pamperoctl learn` writes.
//
// Errors (see store.hpp): a missing file when not creating, a file that cannot be
// opened or read (permissions), a busy database past the 5 s busy timeout ->
// Error::temporary. A file that is not SQLite, is corrupt, holds other tables or another
// schema version -> Error::config naming the file. Opening checks the schema version
// (one small query), not every page: corruption found later in a read is
// Error::config from that read.
//
// Thread-safety: one connection behind a mutex; calls from many threads serialize.
// Reads in a scan are one transaction of point lookups (about a microsecond a token).
#pragma once

#include <memory>
#include <mutex>

#include "pampero/classifier/frozen_store.hpp"
#include "pampero/classifier/store.hpp"

struct sqlite3;

namespace pampero::classifier {

class SqliteStore final : public ClassifierStore {
  public:
    // OpenMode::create makes the file and its schema when missing; read opens an existing
    // file read-only, write read-write.
    static Result<std::unique_ptr<SqliteStore>> open(const std::string& path, OpenMode mode);
    ~SqliteStore() override;
    SqliteStore(const SqliteStore&) = delete;
    SqliteStore& operator=(const SqliteStore&) = delete;

    Result<std::vector<TokenCounts>> get(std::span<const Token> tokens) const override;
    Result<Totals> totals() const override;
    Result<std::optional<Class>> learned(const std::string& id) const override;
    Status apply(const Update& update) override;
    Result<StoreStats> stats() const override;
    std::string name() const override { return "sqlite:" + path_; }

    // Changes whenever another connection (pamperoctl learn) commits to the file
    // (PRAGMA data_version): tells a cached copy it is stale.
    Result<std::int64_t> data_version() const;
    // The counts and totals copied into memory (one read transaction), or nullptr when
    // the store holds more than max_tokens tokens (too big to copy: read it in place).
    Result<std::unique_ptr<FrozenStore>> copy_to_memory(std::uint64_t max_tokens) const;

  private:
    SqliteStore(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
    Error error(const char* what) const;
    Result<Totals> totals_locked() const;

    std::string path_;
    sqlite3* db_;
    mutable std::mutex mu_;
};

}  // namespace pampero::classifier
