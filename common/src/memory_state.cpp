// memory_state.cpp - the single-node State: two bounded, expiry-ordered tables under one
// mutex.
//
// Counters (increment) and values (put: bans, sessions) live in separate tables, each
// holding at most max_entries keys. The split is the defence: a flood of fresh client
// IPs creates counters only, so when the counter table is full it evicts the counter
// nearest its expiry (the oldest window) and never a ban; a ban costs an attacker
// `unknown_limit` refused recipients, so filling the value table is expensive, and when it
// is full the ban nearest its expiry goes first.
// Expiring sets (RADIUS sessions per NAS) are a third store with the same bound on members,
// evicting the member nearest its expiry when full.
// Expiry does not wait for writes: every call (reads too) first drops up to kSweepBudget
// expired keys from the front of each table's expiry order, so the tables shrink as soon
// as anything asks, and one call never does more than a bounded amount of work.
#include <charconv>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "pampero/common/state.hpp"

namespace pampero {
namespace {

using TimePoint = std::chrono::steady_clock::time_point;

// Expired keys dropped per table per call: more than one call can add (one), so the
// tables drain under any traffic; small enough that a call never stalls the others.
constexpr int kSweepBudget = 64;

// One bounded table: key -> value and expiry, with an index ordered by expiry for the
// sweep and for eviction. Used under MemoryStateImpl's mutex only.
class Table {
  public:
    explicit Table(std::size_t max_entries) : max_(max_entries == 0 ? 1 : max_entries) {}

    struct Entry {
        std::string value;
        TimePoint expires;
        std::multimap<TimePoint, std::string>::iterator order;
    };

    // The live entry for key, or nullptr (an expired one is dropped on the way).
    Entry* find(const std::string& key, TimePoint now) {
        auto it = map_.find(key);
        if (it == map_.end()) return nullptr;
        if (it->second.expires <= now) {
            order_.erase(it->second.order);
            map_.erase(it);
            return nullptr;
        }
        return &it->second;
    }

    // Sets key, making room first when the table is full and key is new.
    void set(const std::string& key, std::string value, TimePoint expires) {
        auto it = map_.find(key);
        if (it == map_.end()) {
            if (map_.size() >= max_) evict_first();
            it = map_.emplace(key, Entry{}).first;
        } else {
            order_.erase(it->second.order);
        }
        it->second.value = std::move(value);
        it->second.expires = expires;
        it->second.order = order_.emplace(expires, key);
    }

    void erase(const std::string& key) {
        auto it = map_.find(key);
        if (it == map_.end()) return;
        order_.erase(it->second.order);
        map_.erase(it);
    }

    void sweep(TimePoint now) {
        for (int i = 0; i < kSweepBudget && !order_.empty() && order_.begin()->first <= now; ++i) {
            evict_first();
        }
    }

    std::size_t size() const { return map_.size(); }

  private:
    // The key nearest its expiry (an expired one if any) makes room.
    void evict_first() {
        if (order_.empty()) return;
        map_.erase(order_.begin()->second);
        order_.erase(order_.begin());
    }

    std::size_t max_;
    std::unordered_map<std::string, Entry> map_;
    std::multimap<TimePoint, std::string> order_;
};

std::optional<std::int64_t> parse_int(const std::string& s) {
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return n;
}

// Expiring sets: key -> member -> expiry, with one expiry order over every member of every
// set (for the sweep). Used under MemoryStateImpl's mutex only.
class Sets {
  public:
    explicit Sets(std::size_t max_members) : max_(max_members == 0 ? 1 : max_members) {}

    // Adds or refreshes; a new member in a full store first evicts the member nearest its
    // expiry, whichever set holds it (the values table's rule; O(log n)).
    void add(const std::string& key, const std::string& member, TimePoint expires) {
        auto s = sets_.find(key);
        if (s != sets_.end()) {
            if (auto it = s->second.find(member); it != s->second.end()) {
                order_.erase(it->second.order);
                it->second.expires = expires;
                it->second.order = order_.emplace(expires, std::pair{key, member});
                return;
            }
        }
        if (count_ >= max_ && !order_.empty()) {
            const auto victim = order_.begin()->second;
            remove(victim.first, victim.second);
        }
        auto& set = sets_[key];
        auto it = set.emplace(member, Member{}).first;
        ++count_;
        it->second.expires = expires;
        it->second.order = order_.emplace(expires, std::pair{key, member});
    }

    void remove(const std::string& key, const std::string& member) {
        auto s = sets_.find(key);
        if (s == sets_.end()) return;
        auto it = s->second.find(member);
        if (it == s->second.end()) return;
        order_.erase(it->second.order);
        s->second.erase(it);
        --count_;
        if (s->second.empty()) sets_.erase(s);
    }

    std::vector<std::string> members(const std::string& key, TimePoint now) const {
        std::vector<std::string> out;
        auto s = sets_.find(key);
        if (s == sets_.end()) return out;
        out.reserve(s->second.size());
        for (const auto& [m, e] : s->second)
            if (e.expires > now) out.push_back(m);
        return out;
    }

    void sweep(TimePoint now) {
        for (int i = 0; i < kSweepBudget && !order_.empty() && order_.begin()->first <= now; ++i) {
            const auto [key, member] = order_.begin()->second;
            remove(key, member);
        }
    }

    std::size_t size() const { return count_; }

  private:
    struct Member {
        TimePoint expires;
        std::multimap<TimePoint, std::pair<std::string, std::string>>::iterator order;
    };
    using Set = std::unordered_map<std::string, Member>;

    std::size_t max_;
    std::size_t count_ = 0;
    std::unordered_map<std::string, Set> sets_;
    std::multimap<TimePoint, std::pair<std::string, std::string>> order_;
};

class MemoryStateImpl final : public MemoryState {
  public:
    MemoryStateImpl(StateClock clock, std::size_t max_entries)
        : clock_(std::move(clock)),
          counters_(max_entries),
          values_(max_entries),
          sets_(max_entries) {
        if (!clock_) clock_ = [] { return std::chrono::steady_clock::now(); };
    }

    Result<std::int64_t> increment(const std::string& key, std::chrono::seconds window) override {
        std::lock_guard lock(mu_);
        const auto now = sweep();
        // INCR of a key that was SET: counts on in place and keeps its TTL (Redis does).
        if (auto* v = values_.find(key, now)) {
            auto n = parse_int(v->value);
            if (!n) return Error::permanent("state key " + key + " does not hold a number");
            v->value = std::to_string(*n + 1);
            return *n + 1;
        }
        if (auto* c = counters_.find(key, now)) {
            const std::int64_t n = parse_int(c->value).value_or(0) + 1;
            c->value = std::to_string(n);
            return n;
        }
        counters_.set(key, "1", now + window);
        return 1;
    }

    Status put(const std::string& key, const std::string& value,
               std::chrono::seconds ttl) override {
        std::lock_guard lock(mu_);
        const auto now = sweep();
        counters_.erase(key);
        values_.set(key, value, now + ttl);
        return ok_status();
    }

    Result<std::optional<std::string>> get(const std::string& key) override {
        std::lock_guard lock(mu_);
        const auto now = sweep();
        if (auto* v = values_.find(key, now)) return std::optional<std::string>{v->value};
        if (auto* c = counters_.find(key, now)) return std::optional<std::string>{c->value};
        return std::optional<std::string>{};
    }

    Status remove(const std::string& key) override {
        std::lock_guard lock(mu_);
        sweep();
        values_.erase(key);
        counters_.erase(key);
        return ok_status();
    }

    Status set_add(const std::string& key, const std::string& member,
                   std::chrono::seconds ttl) override {
        std::lock_guard lock(mu_);
        const auto now = sweep();
        sets_.add(key, member, now + ttl);
        return ok_status();
    }

    Status set_remove(const std::string& key, const std::string& member) override {
        std::lock_guard lock(mu_);
        sweep();
        sets_.remove(key, member);
        return ok_status();
    }

    Result<std::vector<std::string>> set_members(const std::string& key) override {
        std::lock_guard lock(mu_);
        const auto now = sweep();
        return sets_.members(key, now);
    }

    Result<std::optional<std::chrono::seconds>> ttl(const std::string& key) override {
        std::lock_guard lock(mu_);
        const auto now = sweep();
        const Table::Entry* e = values_.find(key, now);
        if (!e) e = counters_.find(key, now);
        if (!e) return std::optional<std::chrono::seconds>{};
        // Rounded up: a key with 0.2 s left still exists, so it has 1 s, not 0.
        return std::optional<std::chrono::seconds>{
            std::chrono::ceil<std::chrono::seconds>(e->expires - now)};
    }

    std::size_t size() const override {
        std::lock_guard lock(mu_);
        return counters_.size() + values_.size() + sets_.size();
    }

  private:
    // Must hold mu_. Returns the time of this call.
    TimePoint sweep() {
        const auto now = clock_();
        counters_.sweep(now);
        values_.sweep(now);
        sets_.sweep(now);
        return now;
    }

    StateClock clock_;
    mutable std::mutex mu_;
    Table counters_;
    Table values_;
    Sets sets_;
};

}  // namespace

Status State::set_add(const std::string&, const std::string&, std::chrono::seconds) {
    return Error::temporary("state: this backend has no sets");
}
Status State::set_remove(const std::string&, const std::string&) {
    return Error::temporary("state: this backend has no sets");
}
Result<std::vector<std::string>> State::set_members(const std::string&) {
    return Error::temporary("state: this backend has no sets");
}

Result<std::optional<std::chrono::seconds>> State::ttl(const std::string&) {
    return Error::temporary("state: this backend has no ttl");
}

std::unique_ptr<MemoryState> make_memory_state(StateClock clock, std::size_t max_entries) {
    return std::make_unique<MemoryStateImpl>(std::move(clock), max_entries);
}

}  // namespace pampero
