// redis_store.hpp - the classifier store in Redis: one model that every node of a farm
// scans with and `pamperoctl learn` on any node trains
// (`classifier: { store: redis://HOST:PORT/DB?prefix=bayes:example.org: }`).
//
// Spec: a redis:// or redis+unix: URL (redis_client.hpp) with these query parameters,
// each optional (a value may be %-escaped):
//   prefix=P          every key starts with P (default "bayes:"), so several models
//                     (per site, per domain) and pampero's state share one Redis
//   timeout_ms=N      what a read (a scan's lookups) may take, 10..60000 (default 500);
//                     a write (a learn batch) may take 60 s
//   password_file=F   the password from the first line of F (absolute path), kept out
//                     of pampero.yaml; not together with a password in the URL
// Anything else in the query is Error::config.
//
// Layout (version 1), P the prefix:
//   P meta             hash: version (1), spam, ham (messages learned), tokens (distinct
//                      tokens with a count)
//   P learned          hash: message id -> "spam" | "ham"
//   P t:XXXX           65,536 hashes, XXXX the token's top 16 bits in hex; per token two
//                      fields, its low 48 bits (6 bytes, binary) + 's' or + 'h', each
//                      present only when not zero. Small hashes keep Redis's compact
//                      listpack encoding: up to about 4 million tokens (~60 fields a
//                      hash, under hash-max-listpack-entries 128) a token costs ~30 bytes.
//                      Beyond that Redis converts the fuller hashes (more memory, same
//                      answers); raise hash-max-listpack-entries if it matters.
// Calls, and why:
//   get()     one pipeline: HMGET P meta spam ham, then one HMGET per token - one round
//             trip per message whatever its number of tokens (the totals read with it
//             serve the next totals() for up to a second). The pipeline is written in
//             RESP directly (a vector of four strings per token and fmt for each key
//             were 60% of the client's instructions: 8.0M -> 3.1M for 1,000 tokens);
//             what is left is hiredis building and freeing 1,001 reply arrays. Redis
//             itself spends ~1.1 us per HMGET (INFO commandstats), ~1.1 ms a message;
//             one HMGET per token stays (a Lua script would hold Redis for that time);
//   apply()   one Lua script (EVALSHA) per kMaxScriptTokens token deltas: the deltas
//             clamped at zero, the totals, the learned ids, the token count - each call
//             atomic, all or nothing. A script runs inside Redis while every other client
//             (every node's scans) waits, about 10 us a token on a loaded 2-core box
//             (200,000 tokens took 1.9-2.8 s), so one call is bounded: kMaxScriptTokens
//             (10,000, = kMaxTokens, one message's most) token deltas, ~0.1 s (0.12 s
//             a call measured under load, INFO commandstats). The Learner
//             flushes at message boundaries to stay within it (max_update_tokens()), so
//             each call holds whole messages with their learned ids: a learn that stops
//             half-way (crash, Redis gone) leaves each message learned or not, and
//             learning again counts each once. An update over the bound from another
//             caller is applied in several calls, the totals and learned ids with the
//             last (a failure between them leaves token counts without their ids);
//   learned() HGET;  stats() HMGET meta + HLEN learned.
// Errors: as redis_client.hpp, every Redis failure is Error::temporary (scanning
// abstains for that message, learning exits 75). Opened read-only (scanning), a store
// whose get() or totals() failed answers Error::temporary at once for the next 2 s
// without asking Redis: a paused or unreachable Redis costs one scan its timeout_ms,
// not every scan. Opening reads P meta once: Redis
// unreachable -> temporary; nothing under the prefix -> temporary when reading (nothing
// learned yet: the classifier abstains), created (version 1) with OpenMode::create; a
// key P meta that is not a hash or holds another version -> Error::config.
// Thread-safety: safe from many threads (the pool serializes per connection). totals()
// may be up to a second stale when another process learned meanwhile.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>

#include "pampero/classifier/store.hpp"
#include "pampero/common/redis_client.hpp"

namespace pampero::classifier {

// The most token deltas one apply() script call carries (see apply() above).
constexpr std::size_t kMaxScriptTokens = kMaxTokens;

struct RedisStoreOptions {
    std::string prefix = "bayes:";
    std::chrono::milliseconds timeout{500};          // reads
    std::chrono::milliseconds write_timeout{60000};  // apply()
    std::size_t pool = 8;
};

class RedisStore final : public ClassifierStore {
  public:
    // spec: the URL with its query (above).
    static Result<std::unique_ptr<RedisStore>> open(const std::string& spec, OpenMode mode);
    static Result<std::unique_ptr<RedisStore>> open(const std::string& name, RedisTarget target,
                                                    RedisStoreOptions options, OpenMode mode);
    ~RedisStore() override;

    Result<std::vector<TokenCounts>> get(std::span<const Token> tokens) const override;
    Result<Totals> totals() const override;
    Result<std::optional<Class>> learned(const std::string& id) const override;
    Status apply(const Update& update) override;
    Result<StoreStats> stats() const override;
    std::string name() const override { return name_; }
    std::size_t max_update_tokens() const override { return kMaxScriptTokens; }

  private:
    RedisStore(std::string name, RedisTarget target, RedisStoreOptions options, bool writer);
    Status check(OpenMode mode);
    void remember(const Totals& t) const;
    Status backing_off() const;
    Error failing(Error e) const;

    std::string name_;
    RedisStoreOptions options_;
    std::string meta_, learned_;
    mutable RedisClient reader_;
    std::unique_ptr<RedisClient> writer_;  // only when opened to learn
    mutable std::mutex mu_;
    mutable Totals totals_;
    mutable std::chrono::steady_clock::time_point totals_at_{};
    mutable bool totals_known_ = false;
    mutable std::chrono::steady_clock::time_point retry_at_{};  // read-only: see kRetryAfter
    mutable std::string last_error_;
};

}  // namespace pampero::classifier
