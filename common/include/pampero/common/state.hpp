// state.hpp - fast, shared, expiring state: counters, bans, rate windows, sessions.
//
// Backends: "memory" (one process; the single-node default) and Redis for a farm
// (redis_state.hpp), where every node sees the same bans and counters. Semantics are Redis's, so
// both behave alike: increment() is INCR that sets the expiry only when it creates the key (a fixed
// window starting at the first hit); put() is SET with EX. Bounds (memory backend): counters and
// values are kept in two tables of at most max_entries keys each (guard.max_tracked); a full
// counter table drops the counter nearest its expiry, a full value table the value nearest its
// expiry, so a flood of new counters never evicts a ban. Expired keys are dropped by every call, a
// bounded number at a time. Expiring sets (set_add/set_remove/set_members): a key holding members,
// each with its own expiry; Redis-shaped as a sorted set scored by expiry time (ZADD key NOW+TTL
// member, ZREM, ZREMRANGEBYSCORE key -inf NOW then ZRANGE). They let a caller find the keys it
// wrote under a group (RADIUS: every session of one NAS, for Accounting-On/Off) without
// scanning the keyspace. Memory backend bound: all sets together hold at most
// max_entries members; adding to a full store evicts the member nearest its expiry,
// whichever set holds it (as the value table evicts the value nearest its expiry).
// Errors: a backend that cannot answer returns ErrorKind::temporary (4xx upstream).
// Thread-safety: every implementation is safe to call from many threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pampero/common/result.hpp"

namespace pampero {

class State {
  public:
    virtual ~State() = default;
    virtual Result<std::int64_t> increment(const std::string& key, std::chrono::seconds window) = 0;
    virtual Status put(const std::string& key, const std::string& value,
                       std::chrono::seconds ttl) = 0;
    virtual Result<std::optional<std::string>> get(const std::string& key) = 0;
    virtual Status remove(const std::string& key) = 0;

    // Adds member to the expiring set key, or moves its expiry to now + ttl.
    // Backends without sets (test doubles) answer Error::temporary, so callers fail closed.
    virtual Status set_add(const std::string& key, const std::string& member,
                           std::chrono::seconds ttl);
    virtual Status set_remove(const std::string& key, const std::string& member);
    // The members not expired yet, in no particular order.
    virtual Result<std::vector<std::string>> set_members(const std::string& key);
    // Seconds key (counter or value) has left, rounded up; nullopt when it does not exist
    // (Redis: TTL). For the admin's view (pamperoctl ratelimit show, ban list).
    // Backends without it (test doubles) answer Error::temporary.
    virtual Result<std::optional<std::chrono::seconds>> ttl(const std::string& key);
};

// The clock the memory backend uses; tests pass one they can move forward.
using StateClock = std::function<std::chrono::steady_clock::time_point()>;

// The memory backend, with what it holds visible (tests, stats).
class MemoryState : public State {
  public:
    // Entries held now (counters and values), expired ones not yet swept included.
    virtual std::size_t size() const = 0;
};

// Counters and values each hold at most this many keys by default (guard.max_tracked).
constexpr std::size_t kDefaultMaxTracked = 100000;

std::unique_ptr<MemoryState> make_memory_state(StateClock clock = {},
                                               std::size_t max_entries = kDefaultMaxTracked);

// "memory", or a Redis URL (redis_state.hpp) with the default Redis options (500 ms per
// call, 16 connections, no key prefix). max_entries bounds the memory backend (see
// make_memory_state); Redis has its own maxmemory. An unknown or malformed spec:
// Error::config. Redis is not contacted here (a daemon starts while it is down).
Result<std::unique_ptr<State>> open_state(const std::string& spec,
                                          std::size_t max_entries = kDefaultMaxTracked);

struct Config;
// The state pampero.yaml names: `state:` with guard.max_tracked and the state_* keys
// (state_password_file is read here: unreadable, empty, or beside a password in the
// URL is Error::config).
Result<std::unique_ptr<State>> open_state(const Config& cfg);
// Whether a and b name the same state (state and the state_* keys): a reload that changes
// them takes effect at restart only, and the daemons say so.
bool same_state_settings(const Config& a, const Config& b);

}  // namespace pampero
