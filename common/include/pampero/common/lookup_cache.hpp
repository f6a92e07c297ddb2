// lookup_cache.hpp - "look this key up, with a cache and a failure mode", written once.
//
// Postfix's dict tables taught that every table a mail system consults (mailboxes,
// lists, contacts, sessions) needs the same thing: answers reused for a short TTL so a
// spam run does not hammer the database, negative answers cached too (a dictionary
// attack is all negative answers), and errors never cached so the next try goes back to
// the source. Capacity is bounded: when full, the cache is cleared (cheap, and the next
// TTL refills the hot keys) rather than growing without limit under a flood of unique keys.
// Thread-safe; the loader runs outside the lock so a slow backend does not serialize hits.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

#include "pampero/common/result.hpp"

namespace pampero {

template <typename V>
class LookupCache {
  public:
    using Clock = std::chrono::steady_clock;

    LookupCache(std::chrono::seconds ttl, std::size_t capacity = 100000)
        : ttl_(ttl), capacity_(capacity) {}

    Result<V> get(const std::string& key, const std::function<Result<V>()>& load) {
        const auto now = Clock::now();
        {
            std::lock_guard lock(mu_);
            auto it = map_.find(key);
            if (it != map_.end() && it->second.expires > now) return it->second.value;
        }
        Result<V> fresh = load();
        if (fresh.ok() && ttl_.count() > 0) {
            std::lock_guard lock(mu_);
            if (map_.size() >= capacity_) map_.clear();
            map_.insert_or_assign(key, Entry{fresh.value(), now + ttl_});
        }
        return fresh;
    }

    void clear() {
        std::lock_guard lock(mu_);
        map_.clear();
    }

  private:
    struct Entry {
        V value;
        Clock::time_point expires;
    };
    std::chrono::seconds ttl_;
    std::size_t capacity_;
    std::mutex mu_;
    std::unordered_map<std::string, Entry> map_;
};

}  // namespace pampero
