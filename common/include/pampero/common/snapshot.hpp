// snapshot.hpp - "reload is a swap": the current immutable snapshot of something that
// reloads (rules and levels, blocklists, virus signatures), shared by every thread.
//
// Readers take a shared_ptr copy and keep using it for the whole message, however many
// reloads happen meanwhile; a reload builds and validates the new snapshot first and
// only then calls set(), so a failed build never replaces a working one.
// Thread-safe; get() is a mutex-guarded pointer copy (a few tens of nanoseconds).
#pragma once

#include <memory>
#include <mutex>

namespace pampero {

template <typename T>
class Snapshot {
  public:
    explicit Snapshot(std::shared_ptr<T> first = {}) : current_(std::move(first)) {}

    std::shared_ptr<T> get() const {
        std::lock_guard lock(mu_);
        return current_;
    }
    void set(std::shared_ptr<T> next) {
        std::lock_guard lock(mu_);
        current_.swap(next);
    }  // the old snapshot is released outside the lock, when `next` goes

  private:
    mutable std::mutex mu_;
    std::shared_ptr<T> current_;
};

}  // namespace pampero
