// store.hpp - where the classifier's counts live, behind one interface.
//
// A store keeps, per token, how many spam and how many ham messages contained it; the
// number of spam and ham messages learned; and the ids of learned messages with their
// class (learn-once, forget, relearn as the other class). Backends: memory (tests, the
// cross-validation bench), SQLite (the embedded default, sqlite_store.hpp), Redis for a
// farm (redis_store.hpp): get() is one pipelined round trip, apply() one Lua script, so a
// message costs one round trip to read and one to learn, whatever its number of tokens.
//
// Errors: Error::temporary when the store cannot be reached or read now (missing file,
// permissions, busy): the classifier abstains; Error::config when it is there but is not
// a classifier store (corrupt, another format): refuse to load, naming the file.
//
// Counts never go below zero (forgetting what was never learned is a no-op per token).
// Thread-safety: each backend says; the interface promises nothing more.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pampero/classifier/tokenizer.hpp"
#include "pampero/common/result.hpp"

namespace pampero::classifier {

enum class Class { ham = 0, spam = 1 };
const char* to_string(Class c);

struct TokenCounts {
    std::uint64_t spam = 0;
    std::uint64_t ham = 0;
};

struct Totals {
    std::uint64_t spam = 0;  // spam messages learned
    std::uint64_t ham = 0;   // ham messages learned
};

// One batched change: token deltas (each token once), message-count deltas, and the
// learned-message ids to record (or to drop: class nullopt).
struct Update {
    struct Delta {
        Token token = 0;
        std::int64_t spam = 0;
        std::int64_t ham = 0;
    };
    std::vector<Delta> tokens;
    std::int64_t spam_messages = 0;
    std::int64_t ham_messages = 0;
    std::vector<std::pair<std::string, std::optional<Class>>> learned;
};

struct StoreStats {
    Totals totals;
    std::uint64_t tokens = 0;   // distinct tokens with a count
    std::uint64_t learned = 0;  // message ids recorded
};

class ClassifierStore {
  public:
    virtual ~ClassifierStore() = default;
    // The counts of each token, in the order asked (zero for unknown tokens).
    virtual Result<std::vector<TokenCounts>> get(std::span<const Token> tokens) const = 0;
    // The same into `out` (replacing what it held), so that a caller can keep one buffer
    // across messages: a fresh vector a message made the scan's allocator consolidate its
    // free lists. By default get() moved into `out`.
    virtual Status get_into(std::span<const Token> tokens, std::vector<TokenCounts>& out) const;
    virtual Result<Totals> totals() const = 0;
    // The class a message id was learned as, or nullopt.
    virtual Result<std::optional<Class>> learned(const std::string& id) const = 0;
    // Applies the whole update, all or nothing (a store with a max_update_tokens() bound:
    // an update within it; see the backend for a bigger one).
    virtual Status apply(const Update& update) = 0;
    // The most token deltas one apply() should carry, 0 for no bound: a store that other
    // clients wait on while it applies (Redis runs a learn batch as one script) bounds
    // the work of one call. The Learner flushes before a message would take its pending
    // batch past it, so each apply() holds whole messages.
    virtual std::size_t max_update_tokens() const { return 0; }
    virtual Result<StoreStats> stats() const = 0;
    // "sqlite:/path" or "memory", for messages.
    virtual std::string name() const = 0;
};

// How a store is opened: read (scanning: read-only), write (forgetting: an existing store
// read-write), create (learning: a missing SQLite file is created with its schema).
enum class OpenMode { read, write, create };

// Opens the store a spec names: "sqlite:/path", a redis:// or redis+unix: URL
// (redis_store.hpp) or "memory" (empty, for tests). Without OpenMode::create a missing
// file (or nothing under the Redis prefix) is Error::temporary. An unknown scheme is
// Error::config.
Result<std::unique_ptr<ClassifierStore>> open_store(const std::string& spec, OpenMode mode);

}  // namespace pampero::classifier
