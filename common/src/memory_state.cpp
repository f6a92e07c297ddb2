// memory_state.cpp - the single-node State: a mutex-guarded map with lazy expiry.
//
// Expired keys are dropped when touched and by a sweep every 4096 writes, so a flood
// of one-off client IPs cannot grow the map without bound for longer than a window.
#include <mutex>
#include <unordered_map>

#include "pampero/common/state.hpp"

namespace pampero {
namespace {

class MemoryState final : public State {
public:
    explicit MemoryState(StateClock clock) : clock_(std::move(clock)) {
        if (!clock_) clock_ = [] { return std::chrono::steady_clock::now(); };
    }

    Result<std::int64_t> increment(const std::string& key, std::chrono::seconds window) override {
        std::lock_guard lock(mu_);
        const auto now = clock_();
        maybe_sweep(now);
        auto& e = live(key, now);
        if (!e) {
            e = Entry{"0", now + window, true};
        }
        const std::int64_t n = std::stoll(e->value) + 1;
        e->value = std::to_string(n);
        return n;
    }

    Status put(const std::string& key, const std::string& value, std::chrono::seconds ttl) override {
        std::lock_guard lock(mu_);
        const auto now = clock_();
        maybe_sweep(now);
        map_[key] = Entry{value, now + ttl, true};
        return ok_status();
    }

    Result<std::optional<std::string>> get(const std::string& key) override {
        std::lock_guard lock(mu_);
        auto& e = live(key, clock_());
        if (!e) return std::optional<std::string>{};
        return std::optional<std::string>{e->value};
    }

    Status remove(const std::string& key) override {
        std::lock_guard lock(mu_);
        map_.erase(key);
        return ok_status();
    }

private:
    struct Entry {
        std::string value;
        std::chrono::steady_clock::time_point expires;
        bool set = false;
        explicit operator bool() const { return set; }
        Entry* operator->() { return this; }
    };

    // The entry for key, reset to empty if it has expired.
    Entry& live(const std::string& key, std::chrono::steady_clock::time_point now) {
        Entry& e = map_[key];
        if (e.set && e.expires <= now) e = Entry{};
        return e;
    }

    void maybe_sweep(std::chrono::steady_clock::time_point now) {
        if (++writes_ % 4096 != 0) return;
        std::erase_if(map_, [now](const auto& kv) {
            return !kv.second.set || kv.second.expires <= now;
        });
    }

    StateClock clock_;
    std::mutex mu_;
    std::unordered_map<std::string, Entry> map_;
    std::uint64_t writes_ = 0;
};

}  // namespace

std::unique_ptr<State> make_memory_state(StateClock clock) {
    return std::make_unique<MemoryState>(std::move(clock));
}

Result<std::unique_ptr<State>> open_state(const std::string& spec) {
    if (spec == "memory") return make_memory_state();
    return Error::config("unknown state backend '" + spec + "' (expected: memory)");
}

}  // namespace pampero
