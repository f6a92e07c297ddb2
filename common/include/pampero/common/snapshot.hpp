// snapshot.hpp - "reload is a swap": the one holder of the current immutable snapshot of
// something that reloads (rules and levels, blocklist zones, virus signatures, verdict
// keys, the store's configuration), shared by every thread. Every reloadable thing in the
// tree is held by a Snapshot; there is no other holder.
//
// Readers take a shared_ptr copy with get() and keep using it for the whole message (or
// lookup), however many reloads happen meanwhile. A reload builds and validates the new
// snapshot first, without holding anything, and only then calls set(), so a failed build
// never replaces a working one and readers never wait for a build.
//
// Thread-safety: get() and set() may be called from any thread. get() is a mutex-guarded
// shared_ptr copy: an uncontended lock plus one atomic increment (about 12 ns on one
// thread, 40 ns CPU with two threads reading at once on the 2-core test box; the
// libstdc++ 12 std::atomic<std::shared_ptr> measured 35 and 54 ns there, so it is not
// used: `bench_core --benchmark_filter=Snapshot`). The old value is released outside the
// lock, so a reader never pays for destroying a big snapshot.
// Limits: T is normally const (Snapshot<const Engine>); an empty pointer is a valid value
// (nothing loaded) that readers must check.
#pragma once

#include <memory>
#include <mutex>

namespace pampero {

template <typename T>
class Snapshot {
  public:
    explicit Snapshot(std::shared_ptr<T> first = {}) : current_(std::move(first)) {}
    Snapshot(const Snapshot&) = delete;
    Snapshot& operator=(const Snapshot&) = delete;

    std::shared_ptr<T> get() const {
        std::lock_guard lock(mu_);
        return current_;
    }
    void set(std::shared_ptr<T> next) {
        {
            std::lock_guard lock(mu_);
            current_.swap(next);
        }
        // `next` (the old snapshot) is released here, outside the lock.
    }

  private:
    mutable std::mutex mu_;
    std::shared_ptr<T> current_;
};

}  // namespace pampero
