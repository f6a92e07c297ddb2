#include "pampero/classifier/classifier.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

namespace pampero::classifier {

const char* bucket_of(double p) {
    if (p < 0.01) return "BAYES_00";
    if (p < 0.05) return "BAYES_05";
    if (p < 0.20) return "BAYES_20";
    if (p < 0.40) return "BAYES_40";
    if (p < 0.60) return "BAYES_50";
    if (p < 0.80) return "BAYES_60";
    if (p < 0.95) return "BAYES_80";
    if (p < 0.99) return "BAYES_95";
    if (p < 0.999) return "BAYES_99";
    return "BAYES_999";
}

double chi2q(double x2, std::size_t dof) {
    // For even degrees of freedom the survival function is a finite sum:
    // e^-m * Σ_{i < dof/2} m^i / i!, m = x2 / 2.
    const double m = x2 / 2.0;
    double term = std::exp(-m);
    double sum = term;
    for (std::size_t i = 1; i < dof / 2; ++i) {
        term *= m / static_cast<double>(i);
        sum += term;
    }
    return std::min(sum, 1.0);
}

namespace {

double log_add(double a, double b) {
    if (a == -INFINITY) return b;
    if (b == -INFINITY) return a;
    const double m = std::max(a, b);
    return m + std::log1p(std::exp(-std::abs(a - b)));
}

// ln of chi2q(x2, dof) and of 1 - chi2q(x2, dof), each exact where the other rounds to
// 0 or 1 (the terms of the Poisson sum in log space).
double log_chi2q(double x2, std::size_t dof) {
    const double m = x2 / 2.0;
    if (m <= 0) return 0.0;
    const double lm = std::log(m);
    double acc = -INFINITY;
    double t = -m;  // ln(e^-m m^i / i!), i = 0, 1, ...
    for (std::size_t i = 0; i < dof / 2; ++i) {
        if (i > 0) t += lm - std::log(static_cast<double>(i));
        acc = log_add(acc, t);
    }
    return std::min(acc, 0.0);
}

double log_chi2p(double x2, std::size_t dof) {
    const double q = chi2q(x2, dof);
    if (q < 0.5) return std::log1p(-q);
    const double m = x2 / 2.0;
    if (m <= 0) return -INFINITY;
    const double lm = std::log(m);
    double acc = -INFINITY;
    // bound: the terms fall once i > m; stop when they no longer change the sum.
    const double k = static_cast<double>(dof / 2);
    double t = -m + k * lm - std::lgamma(k + 1);
    for (std::size_t i = dof / 2; i < dof / 2 + 100000; ++i) {
        const double d = static_cast<double>(i);
        if (i > dof / 2) t += lm - std::log(d);
        acc = log_add(acc, t);
        if (d > m && t < acc - 40) break;
    }
    return std::min(acc, 0.0);
}

// Fisher's two sums over the tokens' probabilities: sum ln p and sum ln(1 - p), each p
// kept off 0 and 1.
std::pair<double, double> log_sums(const std::vector<double>& probabilities) {
    double ln_f = 0;
    double ln_1f = 0;
    for (double p : probabilities) {
        p = std::clamp(p, 1e-9, 1 - 1e-9);
        ln_f += std::log(p);
        ln_1f += std::log1p(-p);
    }
    return {ln_f, ln_1f};
}

}  // namespace

double combine_log_odds(const std::vector<double>& probabilities) {
    if (probabilities.empty()) return 0.0;
    const auto [ln_f, ln_1f] = log_sums(probabilities);
    const std::size_t dof = 2 * probabilities.size();
    // I = (1 + H - S) / 2: ln I = ln(H + (1 - S)) - ln 2, ln(1 - I) = ln((1 - H) + S) - ln 2.
    const double lh = log_chi2q(-2.0 * ln_f, dof), l1h = log_chi2p(-2.0 * ln_f, dof);
    const double ls = log_chi2q(-2.0 * ln_1f, dof), l1s = log_chi2p(-2.0 * ln_1f, dof);
    return (log_add(lh, l1s) - log_add(l1h, ls)) / std::log(10.0);
}

double token_probability(const TokenCounts& c, const Totals& t, const Options& o) {
    const double n = static_cast<double>(c.spam + c.ham);
    if (n == 0 || t.spam == 0 || t.ham == 0) return o.robx;
    const double b = static_cast<double>(c.spam) / static_cast<double>(t.spam);
    const double g = static_cast<double>(c.ham) / static_cast<double>(t.ham);
    const double p = b / (b + g);
    return (o.robs * o.robx + n * p) / (o.robs + n);
}

namespace {

// Fisher's combination from the sums of ln f and ln(1 - f) over n tokens.
double combine_sums(double ln_f, double ln_1f, std::size_t n) {
    const std::size_t dof = 2 * n;
    const double h = chi2q(-2.0 * ln_f, dof);   // small when the f are near 1 (spammy)
    const double s = chi2q(-2.0 * ln_1f, dof);  // small when the f are near 0 (hammy)
    return (1.0 + h - s) / 2.0;
}

// A telling token: its f(w) and, once known, ln f and ln(1 - f) (of f clamped as
// combine() clamps it). NaN logs: not computed yet.
struct Telling {
    double p;
    double ln_p;
    double ln_1p;
};

void set_logs(Telling& t) {
    const double p = std::clamp(t.p, 1e-9, 1 - 1e-9);
    t.ln_p = std::log(p);
    t.ln_1p = std::log1p(-p);
}

// f(w) and its logs for the tokens seen fewer than kSmall times as spam and as ham, the
// most frequent counts by far: computed once per thread, store totals and options, not
// once per token and message (the two logs were most of the combination's cost). The
// same functions on the same inputs: the values are bit for bit those computed afresh.
// Each thread's table is 96 KB.
class SmallCounts {
  public:
    static constexpr std::uint64_t kSmall = 64;

    // The table for `totals` and `o`, emptied when they changed since the last call.
    static SmallCounts& for_thread(const Totals& totals, const Options& o) {
        thread_local SmallCounts table;
        if (!table.valid_ || table.totals_.spam != totals.spam || table.totals_.ham != totals.ham ||
            table.robs_ != o.robs || table.robx_ != o.robx) {
            table.valid_ = true;
            table.totals_ = totals;
            table.robs_ = o.robs;
            table.robx_ = o.robx;
            for (auto& t : table.entries_) t.p = std::nan("");
        }
        return table;
    }

    // nullptr when the counts are not small.
    const Telling* find(const TokenCounts& c, const Options& o) {
        if (c.spam >= kSmall || c.ham >= kSmall) return nullptr;
        Telling& t = entries_[c.spam * kSmall + c.ham];
        if (std::isnan(t.p)) {
            t.p = token_probability(c, totals_, o);
            set_logs(t);
        }
        return &t;
    }

  private:
    bool valid_ = false;
    Totals totals_;
    double robs_ = 0;
    double robx_ = 0;
    std::array<Telling, kSmall * kSmall> entries_;
};

std::vector<double> probabilities(const std::vector<Telling>& ps) {
    std::vector<double> out;
    out.reserve(ps.size());
    for (const auto& t : ps) out.push_back(t.p);
    return out;
}

}  // namespace

double combine(const std::vector<double>& probabilities) {
    if (probabilities.empty()) return 0.5;
    const auto [ln_f, ln_1f] = log_sums(probabilities);
    return combine_sums(ln_f, ln_1f, probabilities.size());
}

Result<std::optional<Classification>> Classifier::classify(const std::vector<Token>& tokens) const {
    auto totals = store_.totals();
    if (!totals) return totals.error();
    if (totals->spam < options_.min_spam || totals->ham < options_.min_ham)
        return std::optional<Classification>{};
    // Buffers each thread keeps (capacity: the most tokens a message had, at most
    // kMaxTokens), so that a scan allocates nothing large here.
    thread_local std::vector<TokenCounts> counts;
    if (auto st = store_.get_into(tokens, counts); !st) return st.error();
    // Exactly what combine() of the selected f(w) computes, in the same order (the
    // selection compares the f(w) only, so it permutes these as it would the bare
    // values), with the logs of small counts from a table.
    SmallCounts& small = SmallCounts::for_thread(*totals, options_);
    thread_local std::vector<Telling> ps;
    ps.clear();
    // An unseen token's probability is robx, which says nothing with the defaults.
    const bool skip_unseen = std::abs(options_.robx - 0.5) < options_.min_dev;
    for (const auto& c : counts) {
        if (skip_unseen && c.spam == 0 && c.ham == 0) continue;
        Telling t;
        if (const Telling* known = small.find(c, options_)) {
            t = *known;
        } else {
            t = {token_probability(c, *totals, options_), std::nan(""), std::nan("")};
        }
        if (std::abs(t.p - 0.5) >= options_.min_dev) ps.push_back(t);
    }
    if (ps.size() < options_.min_tokens) return std::optional<Classification>{};
    if (ps.size() > options_.max_tokens) {
        std::nth_element(ps.begin(), ps.begin() + static_cast<std::ptrdiff_t>(options_.max_tokens),
                         ps.end(), [](const Telling& a, const Telling& b) {
                             return std::abs(a.p - 0.5) > std::abs(b.p - 0.5);
                         });
        ps.resize(options_.max_tokens);
    }
    double ln_f = 0;
    double ln_1f = 0;
    for (auto& t : ps) {
        if (std::isnan(t.ln_p)) set_logs(t);
        ln_f += t.ln_p;
        ln_1f += t.ln_1p;
    }
    Classification c;
    c.probability = combine_sums(ln_f, ln_1f, ps.size());
    // Exact only where asked and needed: the sum of Poisson terms costs ~4 x max_tokens
    // logs, 30% of the classifier's whole cost in a scan, which never reads it.
    if (options_.log_odds) {
        c.log_odds = c.probability > 0.999 || c.probability < 0.001
                         ? combine_log_odds(probabilities(ps))
                         : std::log10(c.probability / (1 - c.probability));
    }
    c.tokens = ps.size();
    c.bucket = bucket_of(c.probability);
    return std::optional<Classification>{c};
}

const char* to_string(LearnOutcome o) {
    switch (o) {
        case LearnOutcome::learned:
            return "learned";
        case LearnOutcome::already:
            return "already learned";
        case LearnOutcome::relearned:
            return "relearned";
        case LearnOutcome::forgotten:
            return "forgotten";
        case LearnOutcome::unknown:
            return "not learned";
    }
    return "?";
}

Result<std::optional<Class>> Learner::known(const std::string& id) const {
    if (const auto it = ids_.find(id); it != ids_.end()) return it->second;
    return store_.learned(id);
}

void Learner::count(const std::vector<Token>& tokens, Class c, std::int64_t sign) {
    for (const Token t : tokens) {
        auto& d = deltas_[t];
        (c == Class::spam ? d.first : d.second) += sign;
    }
    (c == Class::spam ? spam_ : ham_) += sign;
}

Status Learner::make_room(std::size_t tokens) {
    const std::size_t bound = store_.max_update_tokens();
    if (bound == 0 || pending_messages_ == 0 || deltas_.size() + tokens <= bound)
        return ok_status();
    return flush();
}

Result<LearnOutcome> Learner::learn(const std::string& id, const std::vector<Token>& tokens,
                                    Class c) {
    auto was = known(id);
    if (!was) return was.error();
    if (*was == c) return LearnOutcome::already;
    // `was` stays true across the flush: it writes the pending ids into the store.
    if (auto st = make_room(tokens.size()); !st) return st.error();
    if (*was) count(tokens, **was, -1);
    count(tokens, c, +1);
    ids_[id] = c;
    ++pending_messages_;
    return *was ? LearnOutcome::relearned : LearnOutcome::learned;
}

Result<LearnOutcome> Learner::forget(const std::string& id, const std::vector<Token>& tokens) {
    auto was = known(id);
    if (!was) return was.error();
    if (!*was) return LearnOutcome::unknown;
    if (auto st = make_room(tokens.size()); !st) return st.error();
    count(tokens, **was, -1);
    ids_[id] = std::nullopt;
    ++pending_messages_;
    return LearnOutcome::forgotten;
}

Status Learner::flush() {
    if (pending_messages_ == 0) return ok_status();
    Update u;
    u.tokens.reserve(deltas_.size());
    for (const auto& [t, d] : deltas_) {
        if (d.first != 0 || d.second != 0) u.tokens.push_back({t, d.first, d.second});
    }
    u.spam_messages = spam_;
    u.ham_messages = ham_;
    u.learned.assign(ids_.begin(), ids_.end());
    auto st = store_.apply(u);
    if (!st) return st;
    deltas_.clear();
    ids_.clear();
    spam_ = ham_ = 0;
    pending_messages_ = 0;
    return ok_status();
}

}  // namespace pampero::classifier
