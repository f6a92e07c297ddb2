// radius_duplicates.cpp - see radius_duplicates.hpp.
#include "radius_duplicates.hpp"

namespace pampero::radius {

DuplicateCache::DuplicateCache(std::chrono::seconds window, Clock clock, std::size_t max_keys)
    : window_s_(window.count()),
      clock_(std::move(clock)),
      per_stripe_(max_keys / 16 == 0 ? 1 : max_keys / 16) {
    if (!clock_) clock_ = [] { return std::chrono::steady_clock::now(); };
}

DuplicateCache::Stripe& DuplicateCache::stripe(const std::string& key) {
    return stripes_[std::hash<std::string>{}(key) % stripes_.size()];
}

// Must hold s.mu. Keys leave in the order they came: the deque is ordered by expiry as
// long as the window does not shrink (after a reload that shrinks it, a few keys may live
// their old, longer window: harmless).
void DuplicateCache::expire(Stripe& s, std::chrono::steady_clock::time_point now) {
    while (!s.order.empty() && (s.order.front().first <= now || s.order.size() > per_stripe_)) {
        auto it = s.keys.find(s.order.front().second);
        // Only the latest remembrance of a key owns it.
        if (it != s.keys.end() && it->second == s.order.front().first) s.keys.erase(it);
        s.order.pop_front();
    }
}

bool DuplicateCache::seen(const std::string& key) {
    Stripe& s = stripe(key);
    const auto now = clock_();
    std::lock_guard lock(s.mu);
    expire(s, now);
    auto it = s.keys.find(key);
    return it != s.keys.end() && it->second > now;
}

void DuplicateCache::remember(const std::string& key) {
    Stripe& s = stripe(key);
    const auto now = clock_();
    const auto until = now + std::chrono::seconds(window_s_.load());
    std::lock_guard lock(s.mu);
    s.keys[key] = until;
    s.order.emplace_back(until, key);
    expire(s, now);
}

void DuplicateCache::set_window(std::chrono::seconds window) {
    window_s_.store(window.count());
}

}  // namespace pampero::radius
