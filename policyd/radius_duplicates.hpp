// radius_duplicates.hpp - which Accounting-Requests this process answered lately, so a
// retransmission (RFC 5080 2.2.2: same source address and port, identifier and Request
// Authenticator) is answered again without being recorded again.
//
// In-process, as FreeRADIUS keeps its own: a NAS retransmits to the server it sent to
// (only after its retries does it fail over to another), so the node that answered is the
// one that sees the retransmission; keeping it out of the shared State saves two state
// round trips a packet (on Redis, two network round trips). A packet retransmitted to
// another node of a farm is recorded there again; every step is idempotent but
// Accounting-On/Off, whose replay there drops sessions started in between (the NAS sends
// an Accounting-On when it restarts, before any Start, so this needs a failover in that
// very window).
// Bounds: at most kMaxRemembered keys (16 stripes of kMaxRemembered/16); a full stripe
// forgets its oldest key first. A key is forgotten `window` after it was remembered.
// Thread-safety: safe from many threads; 16 stripes keep workers off each other's locks.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace pampero::radius {

constexpr std::size_t kMaxRemembered = 1 << 18;

class DuplicateCache {
  public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;

    explicit DuplicateCache(std::chrono::seconds window, Clock clock = {},
                            std::size_t max_keys = kMaxRemembered);

    // Was `key` remembered within the window?
    bool seen(const std::string& key);
    // Remembers `key` from now on (for the window).
    void remember(const std::string& key);
    // Changes the window for keys remembered from now on (a reload).
    void set_window(std::chrono::seconds window);

  private:
    struct Stripe {
        std::mutex mu;
        std::unordered_map<std::string, std::chrono::steady_clock::time_point> keys;
        std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> order;
    };
    Stripe& stripe(const std::string& key);
    void expire(Stripe& s, std::chrono::steady_clock::time_point now);

    std::atomic<std::int64_t> window_s_;
    Clock clock_;
    std::size_t per_stripe_;
    std::array<Stripe, 16> stripes_;
};

}  // namespace pampero::radius
