#include "pampero/common/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <variant>

namespace pampero::metrics {
namespace {

bool valid_name(std::string_view n) {
    if (n.empty()) return false;
    for (std::size_t i = 0; i < n.size(); ++i) {
        const char c = n[i];
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

std::string_view cut(std::string_view v) {
    return v.substr(0, std::min(v.size(), kMaxLabelValue));
}

std::size_t hash_values(std::initializer_list<std::string_view> values) {
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (std::string_view v : values) {
        for (const char c : cut(v)) {
            h ^= static_cast<unsigned char>(c);
            h *= 1099511628211ull;
        }
        h ^= 0xff;  // a separator no UTF-8 text contains: {"ab",""} differs from {"a","b"}
        h *= 1099511628211ull;
    }
    return static_cast<std::size_t>(h);
}

std::string labels_text(const std::vector<std::string>& names,
                        const std::array<std::string, kMaxLabels>& values, std::string_view extra) {
    std::string out;
    for (std::size_t i = 0; i < names.size(); ++i) {
        out += out.empty() ? "{" : ",";
        out += names[i];
        out += "=\"";
        out += escape_label_value(values[i]);
        out += '"';
    }
    if (!extra.empty()) {
        out += out.empty() ? "{" : ",";
        out += extra;
    }
    if (!out.empty()) out += '}';
    return out;
}

void render_histogram(std::string& out, const std::string& name, const Histogram& h,
                      const std::vector<std::string>& names,
                      const std::array<std::string, kMaxLabels>& values) {
    const auto counts = h.bucket_counts();
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= h.bounds().size(); ++i) {
        cumulative += counts[i];
        const std::string le =
            i < h.bounds().size() ? format_value(h.bounds()[i]) : std::string("+Inf");
        out += fmt::format("{}_bucket{} {}\n", name,
                           labels_text(names, values, "le=\"" + le + "\""), cumulative);
    }
    const std::string l = labels_text(names, values, "");
    out += fmt::format("{}_sum{} {}\n", name, l,
                       format_value(static_cast<double>(h.sum_nanoseconds()) / 1e9));
    out += fmt::format("{}_count{} {}\n", name, l, cumulative);
}

}  // namespace

std::string escape_label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (const char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string escape_help(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (const char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string format_value(double v) {
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (std::isnan(v)) return "NaN";
    return fmt::format("{}", v);  // shortest text that reads back as the same double
}

// --- Histogram ---

Histogram::Histogram(const std::vector<double>& upper_bounds_seconds)
    : bounds_(upper_bounds_seconds),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(upper_bounds_seconds.size() + 1)) {
    for (std::size_t i = 0; i < bounds_.size(); ++i) {
        if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1]))
            throw std::invalid_argument("histogram bounds must be finite and ascending");
        bounds_ns_.push_back(static_cast<std::int64_t>(std::llround(bounds_[i] * 1e9)));
    }
}

void Histogram::observe(std::chrono::nanoseconds d) {
    const std::int64_t ns = std::max<std::int64_t>(d.count(), 0);
    // le is "less or equal": a value on a bound belongs to that bucket.
    const auto it = std::lower_bound(bounds_ns_.begin(), bounds_ns_.end(), ns);
    counts_[static_cast<std::size_t>(it - bounds_ns_.begin())].fetch_add(1,
                                                                         std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
}

std::vector<std::uint64_t> Histogram::bucket_counts() const {
    std::vector<std::uint64_t> out(bounds_.size() + 1);
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = counts_[i].load(std::memory_order_relaxed);
    return out;
}

// --- SeriesTable ---

namespace detail {

SeriesTable::SeriesTable(std::size_t label_count, std::size_t max_series)
    : labels_(label_count), max_series_(std::max<std::size_t>(max_series, 1)) {
    if (label_count == 0 || label_count > kMaxLabels)
        throw std::invalid_argument("a family has 1 to kMaxLabels labels");
    std::size_t cap = 8;
    while (cap < 2 * max_series_) cap *= 2;  // at most half full: probes stay short
    mask_ = cap - 1;
    slots_ = std::make_unique<std::atomic<Series*>[]>(cap);
}

SeriesTable::~SeriesTable() {
    for (std::size_t i = 0; i <= mask_; ++i) delete slots_[i].load();
    delete overflow_.load();
}

void SeriesTable::destroy_all(void (*destroy)(void*)) {
    for (std::size_t i = 0; i <= mask_; ++i) {
        if (Series* s = slots_[i].load()) destroy(s->metric);
    }
    if (Series* s = overflow_.load()) destroy(s->metric);
}

void* SeriesTable::find_or_add(std::initializer_list<std::string_view> values,
                               void* (*make)(const void*), void (*destroy)(void*),
                               const void* arg) {
    if (values.size() != labels_) throw std::invalid_argument("wrong number of label values");
    const std::size_t h = hash_values(values);
    auto matches = [&](const Series* s) {
        if (s->hash != h) return false;
        std::size_t i = 0;
        for (std::string_view v : values) {
            if (s->values[i++] != cut(v)) return false;
        }
        return true;
    };
    std::unique_ptr<Series> fresh;
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
        Series* s = slots_[i].load(std::memory_order_acquire);
        if (s) {
            if (matches(s)) return s->metric;
            continue;
        }
        // An empty slot: the label set is new. Reserve room for it first, so the table
        // never holds more than max_series_ and a probe always finds an empty slot.
        if (count_.fetch_add(1, std::memory_order_relaxed) >= max_series_) {
            count_.fetch_sub(1, std::memory_order_relaxed);
            break;
        }
        if (!fresh) {
            fresh = std::make_unique<Series>();
            std::size_t k = 0;
            for (std::string_view v : values) fresh->values[k++] = std::string(cut(v));
            fresh->hash = h;
            fresh->metric = make(arg);
        }
        Series* expected = nullptr;
        if (slots_[i].compare_exchange_strong(expected, fresh.get(), std::memory_order_acq_rel)) {
            return fresh.release()->metric;
        }
        count_.fetch_sub(1, std::memory_order_relaxed);
        if (matches(expected)) {  // another thread added the same set first
            destroy(fresh->metric);
            return expected->metric;
        }
    }
    // Full: the one overflow series.
    Series* o = overflow_.load(std::memory_order_acquire);
    if (o) {
        if (fresh) destroy(fresh->metric);
        return o->metric;
    }
    auto ov = std::make_unique<Series>();
    for (std::size_t k = 0; k < labels_; ++k) ov->values[k] = "_other";
    ov->metric = fresh ? fresh->metric : make(arg);
    Series* expected = nullptr;
    if (overflow_.compare_exchange_strong(expected, ov.get(), std::memory_order_acq_rel))
        return ov.release()->metric;
    destroy(ov->metric);
    return expected->metric;
}

std::vector<const SeriesTable::Series*> SeriesTable::snapshot() const {
    std::vector<const Series*> out;
    for (std::size_t i = 0; i <= mask_; ++i) {
        if (const Series* s = slots_[i].load(std::memory_order_acquire)) out.push_back(s);
    }
    if (const Series* s = overflow_.load(std::memory_order_acquire)) out.push_back(s);
    std::sort(out.begin(), out.end(),
              [](const Series* a, const Series* b) { return a->values < b->values; });
    return out;
}

}  // namespace detail

// --- families ---

CounterFamily::CounterFamily(std::vector<std::string> label_names, std::size_t max_series)
    : names_(std::move(label_names)), table_(names_.size(), max_series) {}

CounterFamily::~CounterFamily() {
    table_.destroy_all([](void* p) { delete static_cast<Counter*>(p); });
}

Counter& CounterFamily::get(std::initializer_list<std::string_view> values) {
    return *static_cast<Counter*>(table_.find_or_add(
        values, [](const void*) -> void* { return new Counter; },
        [](void* p) { delete static_cast<Counter*>(p); }, nullptr));
}

HistogramFamily::HistogramFamily(std::vector<std::string> label_names, std::vector<double> bounds,
                                 std::size_t max_series)
    : names_(std::move(label_names)),
      bounds_(std::move(bounds)),
      table_(names_.size(), max_series) {
    Histogram check(bounds_);  // bad bounds throw here, at registration
}

HistogramFamily::~HistogramFamily() {
    table_.destroy_all([](void* p) { delete static_cast<Histogram*>(p); });
}

Histogram& HistogramFamily::get(std::initializer_list<std::string_view> values) {
    return *static_cast<Histogram*>(table_.find_or_add(
        values,
        [](const void* b) -> void* {
            return new Histogram(*static_cast<const std::vector<double>*>(b));
        },
        [](void* p) { delete static_cast<Histogram*>(p); }, &bounds_));
}

// --- Registry ---

struct Registry::Entry {
    std::string name;
    std::string help;
    std::variant<std::monostate, std::unique_ptr<Counter>, std::unique_ptr<Histogram>,
                 std::unique_ptr<CounterFamily>, std::unique_ptr<HistogramFamily>,
                 std::function<std::optional<double>()>>
        metric;
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Entry& Registry::add(std::string name, std::string help) {
    if (!valid_name(name)) throw std::invalid_argument("bad metric name: " + name);
    for (const auto& e : entries_) {
        if (e->name == name) throw std::invalid_argument("metric registered twice: " + name);
    }
    entries_.push_back(std::make_unique<Entry>());
    entries_.back()->name = std::move(name);
    entries_.back()->help = std::move(help);
    return *entries_.back();
}

Counter& Registry::counter(std::string name, std::string help) {
    std::lock_guard lock(mu_);
    auto& e = add(std::move(name), std::move(help));
    auto c = std::make_unique<Counter>();
    Counter& ref = *c;
    e.metric = std::move(c);
    return ref;
}

Histogram& Registry::histogram(std::string name, std::string help, std::vector<double> bounds) {
    auto h = std::make_unique<Histogram>(bounds);
    std::lock_guard lock(mu_);
    auto& e = add(std::move(name), std::move(help));
    Histogram& ref = *h;
    e.metric = std::move(h);
    return ref;
}

CounterFamily& Registry::counter_family(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        std::size_t max_series) {
    for (const auto& l : label_names) {
        if (!valid_name(l) || l.find(':') != std::string::npos || l == "le")
            throw std::invalid_argument("bad label name: " + l);
    }
    auto f = std::make_unique<CounterFamily>(std::move(label_names), max_series);
    std::lock_guard lock(mu_);
    auto& e = add(std::move(name), std::move(help));
    CounterFamily& ref = *f;
    e.metric = std::move(f);
    return ref;
}

HistogramFamily& Registry::histogram_family(std::string name, std::string help,
                                            std::vector<std::string> label_names,
                                            std::vector<double> bounds, std::size_t max_series) {
    for (const auto& l : label_names) {
        if (!valid_name(l) || l.find(':') != std::string::npos || l == "le")
            throw std::invalid_argument("bad label name: " + l);
    }
    auto f =
        std::make_unique<HistogramFamily>(std::move(label_names), std::move(bounds), max_series);
    std::lock_guard lock(mu_);
    auto& e = add(std::move(name), std::move(help));
    HistogramFamily& ref = *f;
    e.metric = std::move(f);
    return ref;
}

void Registry::gauge(std::string name, std::string help,
                     std::function<std::optional<double>()> read) {
    std::lock_guard lock(mu_);
    auto& e = add(std::move(name), std::move(help));
    e.metric = std::move(read);
}

std::string Registry::render() const {
    std::lock_guard lock(mu_);
    std::string out;
    const std::array<std::string, kMaxLabels> none{};
    for (const auto& e : entries_) {
        const bool histogram = std::holds_alternative<std::unique_ptr<Histogram>>(e->metric) ||
                               std::holds_alternative<std::unique_ptr<HistogramFamily>>(e->metric);
        auto* gauge = std::get_if<std::function<std::optional<double>()>>(&e->metric);
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", e->name, escape_help(e->help), e->name,
                           histogram ? "histogram"
                           : gauge   ? "gauge"
                                     : "counter");
        if (gauge) {
            if (auto v = *gauge ? (*gauge)() : std::nullopt)
                out += fmt::format("{} {}\n", e->name, format_value(*v));
            continue;
        }
        if (auto* c = std::get_if<std::unique_ptr<Counter>>(&e->metric)) {
            out += fmt::format("{} {}\n", e->name, (*c)->value());
        } else if (auto* h = std::get_if<std::unique_ptr<Histogram>>(&e->metric)) {
            render_histogram(out, e->name, **h, {}, none);
        } else if (auto* cf = std::get_if<std::unique_ptr<CounterFamily>>(&e->metric)) {
            for (const auto* s : (*cf)->table().snapshot()) {
                out += fmt::format("{}{} {}\n", e->name,
                                   labels_text((*cf)->label_names(), s->values, ""),
                                   static_cast<const Counter*>(s->metric)->value());
            }
        } else if (auto* hf = std::get_if<std::unique_ptr<HistogramFamily>>(&e->metric)) {
            for (const auto* s : (*hf)->table().snapshot()) {
                render_histogram(out, e->name, *static_cast<const Histogram*>(s->metric),
                                 (*hf)->label_names(), s->values);
            }
        }
    }
    return out;
}

}  // namespace pampero::metrics
