// metrics.hpp - counters and histograms every daemon exposes to Prometheus, and the
// text exposition format (version 0.0.4) they are scraped in.
//
// Why not prometheus-cpp: its pull side brings civetweb (a second HTTP server with its own
// threads and configuration surface) for what is one GET, its labelled families take a
// mutex on every Add(), and its counters are doubles updated by a compare-and-swap loop.
// What pampero needs is a few counters bumped per message and one text page; this file
// does that with plain atomics (metrics_http.hpp serves the page).
//
//   Registry reg;
//   Counter& msgs = reg.counter("pampero_milter_messages_total", "Messages ...");
//   CounterFamily& hits = reg.counter_family("pampero_rule_hits_total", "...", {"rule"});
//   Histogram& scan = reg.histogram("pampero_milter_scan_seconds", "...", kLatencyBuckets);
//   msgs.inc();  hits.get({"GTUBE"}).inc();  scan.observe(elapsed);
//   std::string page = reg.render();
//
// Hot path: Counter::inc() and Histogram::observe() are relaxed atomic adds (observe: one
// per bucket it falls in, plus sum and count), no lock. Family::get() hashes the label
// values and probes a fixed table of atomic slots: no lock and no allocation once the
// series exists; the first get() of new label values allocates it (and may race with
// another first get(): one wins, the other's allocation is freed).
// Bounds: a family holds at most `max_series` label sets (default kDefaultMaxSeries);
// past that every new set lands in one overflow series whose labels all read "_other",
// so a label fed from outside can never grow memory or the page without bound. Label
// values are cut at kMaxLabelValue bytes. Series are never removed (a rule that left the
// rule files keeps its count until restart, as a counter must).
// Registration (counter(), counter_family(), histogram(), ...) takes a mutex and is meant
// for start-up; names must match [a-zA-Z_:][a-zA-Z0-9_:]* and be unique (a programming
// error otherwise: std::invalid_argument).
// Thread-safety: everything may be called from any thread; render() sees each value at
// some moment during the call (a histogram's _count is the sum of the buckets it prints,
// so +Inf and _count always agree).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pampero::metrics {

constexpr std::size_t kDefaultMaxSeries = 1024;
constexpr std::size_t kMaxLabelValue = 128;
constexpr std::size_t kMaxLabels = 4;

// Seconds, for latencies from a fraction of a millisecond (an fsync on a good SSD, a
// short scan) to tens of seconds (a stuck disk, libclamav on a big archive).
inline const std::vector<double> kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

class Counter {
  public:
    void inc(std::uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t value() const { return v_.load(std::memory_order_relaxed); }

  private:
    std::atomic<std::uint64_t> v_{0};
};

// A distribution of durations. Buckets are upper bounds in seconds (ascending, finite;
// +Inf is implied). The sum is kept in nanoseconds, exact and without a CAS loop.
class Histogram {
  public:
    explicit Histogram(const std::vector<double>& upper_bounds_seconds);
    void observe(std::chrono::nanoseconds d);
    template <typename Rep, typename Period>
    void observe(std::chrono::duration<Rep, Period> d) {
        observe(std::chrono::duration_cast<std::chrono::nanoseconds>(d));
    }

    const std::vector<double>& bounds() const { return bounds_; }
    // Per-bucket (not cumulative) counts; the last one is above every bound.
    std::vector<std::uint64_t> bucket_counts() const;
    std::uint64_t sum_nanoseconds() const { return sum_ns_.load(std::memory_order_relaxed); }

  private:
    std::vector<double> bounds_;
    std::vector<std::int64_t> bounds_ns_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // bounds_.size() + 1
    std::atomic<std::uint64_t> sum_ns_{0};
};

// Times a scope into a histogram.
class ScopedTimer {
  public:
    explicit ScopedTimer(Histogram* h) : h_(h), start_(std::chrono::steady_clock::now()) {}
    ~ScopedTimer() {
        if (h_) h_->observe(std::chrono::steady_clock::now() - start_);
    }
    ScopedTimer(const ScopedTimer&) = delete;
    ScopedTimer& operator=(const ScopedTimer&) = delete;

  private:
    Histogram* h_;
    std::chrono::steady_clock::time_point start_;
};

namespace detail {

// The lock-free series table shared by CounterFamily and HistogramFamily.
class SeriesTable {
  public:
    struct Series {
        std::array<std::string, kMaxLabels> values;
        std::size_t hash = 0;
        void* metric = nullptr;  // Counter* or Histogram*, owned by the family
    };
    SeriesTable(std::size_t label_count, std::size_t max_series);
    ~SeriesTable();
    // The series for `values` (exactly label_count of them); `make` allocates a metric.
    void* find_or_add(std::initializer_list<std::string_view> values, void* (*make)(const void*),
                      void (*destroy)(void*), const void* arg);
    // Every series present, in no particular order.
    std::vector<const Series*> snapshot() const;
    void destroy_all(void (*destroy)(void*));
    std::size_t label_count() const { return labels_; }

  private:
    std::size_t labels_;
    std::size_t max_series_;
    std::size_t mask_;
    std::unique_ptr<std::atomic<Series*>[]> slots_;
    std::atomic<std::size_t> count_{0};
    std::atomic<Series*> overflow_{nullptr};
};

}  // namespace detail

class CounterFamily {
  public:
    CounterFamily(std::vector<std::string> label_names, std::size_t max_series);
    ~CounterFamily();
    // One value per label name, in the order the family was declared with.
    Counter& get(std::initializer_list<std::string_view> values);
    const std::vector<std::string>& label_names() const { return names_; }
    const detail::SeriesTable& table() const { return table_; }

  private:
    std::vector<std::string> names_;
    detail::SeriesTable table_;
};

class HistogramFamily {
  public:
    HistogramFamily(std::vector<std::string> label_names, std::vector<double> bounds,
                    std::size_t max_series);
    ~HistogramFamily();
    Histogram& get(std::initializer_list<std::string_view> values);
    const std::vector<std::string>& label_names() const { return names_; }
    const detail::SeriesTable& table() const { return table_; }

  private:
    std::vector<std::string> names_;
    std::vector<double> bounds_;
    detail::SeriesTable table_;
};

class Registry {
  public:
    Registry();
    ~Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    Counter& counter(std::string name, std::string help);
    Histogram& histogram(std::string name, std::string help, std::vector<double> bounds);
    CounterFamily& counter_family(std::string name, std::string help,
                                  std::vector<std::string> label_names,
                                  std::size_t max_series = kDefaultMaxSeries);
    HistogramFamily& histogram_family(std::string name, std::string help,
                                      std::vector<std::string> label_names,
                                      std::vector<double> bounds,
                                      std::size_t max_series = kDefaultMaxSeries);
    // A gauge read when the page is rendered (a count that lives elsewhere, such as the
    // sessions in State): `read` runs on the scraping thread, under the registry's lock,
    // so it must be thread-safe and must not call the registry. nullopt (the source did
    // not answer) leaves the sample out of that page.
    void gauge(std::string name, std::string help, std::function<std::optional<double>()> read);

    // The whole page in the text exposition format, families in registration order and
    // series sorted by their labels (a stable page diffs well).
    std::string render() const;

  private:
    struct Entry;
    Entry& add(std::string name, std::string help);
    mutable std::mutex mu_;
    std::vector<std::unique_ptr<Entry>> entries_;
};

// The text format's escaping, exposed for tests: a label value escapes \ " and newline;
// HELP text escapes \ and newline.
std::string escape_label_value(std::string_view v);
std::string escape_help(std::string_view v);
// A sample value as the format writes it ("0.005", "10", "+Inf").
std::string format_value(double v);

}  // namespace pampero::metrics
