#include "pampero/classifier/cross_validation.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "pampero/classifier/frozen_store.hpp"
#include "pampero/classifier/memory_store.hpp"

namespace pampero::classifier {
namespace {

namespace fs = std::filesystem;

constexpr const char* kBuckets[] = {"BAYES_00", "BAYES_05", "BAYES_20", "BAYES_40", "BAYES_50",
                                    "BAYES_60", "BAYES_80", "BAYES_95", "BAYES_99", "BAYES_999"};

// -1: says ham (never positive), 1: unsure or says spam (never negative: unsure must not
// buy a ham score, see the header), 0: not a bucket.
int bucket_sign(const std::string& name) {
    for (int i = 0; i < 10; ++i) {
        if (name == kBuckets[i]) return i < 4 ? -1 : 1;
    }
    return 0;
}

bool is_bucket(const std::string& name) {
    return name.rfind("BAYES_", 0) == 0;
}

// Learns the messages of `corpus` whose fold is not in `skip` into a new memory store.
Result<std::shared_ptr<MemoryStore>> learn_all(const std::vector<CorpusMessage>& corpus, int skip1,
                                               int skip2) {
    auto store = std::make_shared<MemoryStore>();
    Learner l(*store);
    for (const auto& m : corpus) {
        if (m.fold == skip1 || m.fold == skip2) continue;
        auto r = l.learn(m.id, m.tokens, m.spam ? Class::spam : Class::ham);
        if (!r) return r.error();
    }
    if (auto st = l.flush(); !st) return st.error();
    return store;
}

}  // namespace

Result<std::vector<CorpusMessage>> load_corpus(const std::string& dir, const scan::Engine& engine,
                                               int folds) {
    std::map<std::string, scan::RuleScores> scores;
    for (auto& r : engine.rules().scores()) scores.emplace(r.name, r);
    std::vector<CorpusMessage> out;
    for (const char* label : {"ham", "hard-ham", "spam"}) {
        const fs::path sub = fs::path(dir) / label;
        if (!fs::is_directory(sub)) continue;
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(sub)) {
            if (e.is_regular_file() && e.path().extension() == ".eml") files.push_back(e.path());
        }
        std::sort(files.begin(), files.end());
        for (std::size_t i = 0; i < files.size(); ++i) {
            std::ifstream in(files[i], std::ios::binary);
            if (!in) return Error::temporary("cannot read " + files[i].string());
            std::ostringstream s;
            s << in.rdbuf();
            const std::string raw = std::move(s).str();
            CorpusMessage m;
            m.file = files[i].filename().string();
            m.label = label;
            m.spam = m.label == "spam";
            m.fold = static_cast<int>(i % static_cast<std::size_t>(folds));
            const auto msg = engine.parse(raw);
            m.tokens = tokenize(msg);
            m.id = message_id(msg);
            const auto v = engine.scan(msg);
            m.rules_score = v.score;
            for (const auto& h : v.hits) {
                m.hits.push_back(h.name);
                const auto it = scores.find(h.name);
                m.hit_scores.push_back(it != scores.end() ? it->second.file_score : h.score);
                m.rules_score_classifier += it != scores.end() ? it->second.classifier : h.score;
            }
            out.push_back(std::move(m));
        }
    }
    return out;
}

Scores bucket_scores(const scan::Engine& engine) {
    Scores out;
    scan::ScanContext ctx;
    ctx.score_set = scan::ScoreSet::classifier;
    for (const char* b : kBuckets) {
        auto msg = engine.parse("Subject: x\r\n\r\nx\r\n");
        msg.mime_summary += std::string("classifier ") + b + " p=0.5 tokens=0\n";
        for (const auto& h : engine.scan(msg, ctx).hits) {
            if (h.name == b) out[b] = h.score;
        }
    }
    return out;
}

Scores fixed_scores(const std::vector<CorpusMessage>& corpus) {
    Scores out;
    for (const auto& m : corpus) {
        for (std::size_t i = 0; i < m.hits.size(); ++i) {
            if (std::abs(m.hit_scores[i]) >= 100) out[m.hits[i]] = m.hit_scores[i];
        }
    }
    return out;
}

Scores fit_scores(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& spam,
                  const Scores& fixed, const FitOptions& o) {
    // Features by index; identical (features, label) rows grouped with their weight.
    std::map<std::string, std::size_t> index;
    for (const auto& r : rows) {
        for (const auto& f : r) index.emplace(f, 0);
    }
    std::vector<std::string> names;
    for (auto& [name, i] : index) {
        i = names.size();
        names.push_back(name);
    }
    std::map<std::pair<std::vector<std::size_t>, bool>, double> groups;
    double total = 0;
    for (std::size_t r = 0; r < rows.size(); ++r) {
        std::vector<std::size_t> f;
        for (const auto& n : rows[r]) f.push_back(index[n]);
        std::sort(f.begin(), f.end());
        f.erase(std::unique(f.begin(), f.end()), f.end());
        const double w = spam[r] ? 1.0 : o.cost;
        groups[{std::move(f), spam[r]}] += w;
        total += w;
    }
    const std::size_t n = names.size();
    std::vector<double> w(n, 0.0), m(n, 0.0), v(n, 0.0), g(n);
    std::vector<int> sign(n, 0);
    std::vector<bool> keep(n, false);
    for (std::size_t i = 0; i < n; ++i) {
        if (const auto it = fixed.find(names[i]); it != fixed.end()) {
            w[i] = it->second;
            keep[i] = true;
        }
        sign[i] = is_bucket(names[i]) ? bucket_sign(names[i]) : (o.nonnegative_rules ? 1 : 0);
    }
    // Adam (full batch): scores move ~0.1 a step at first, so 300 steps reach any score a
    // rule can need.
    const double rate = 0.1, b1 = 0.9, b2 = 0.999;
    for (int t = 1; t <= o.iterations; ++t) {
        for (std::size_t i = 0; i < n; ++i) g[i] = 2 * o.l2 * w[i];
        for (const auto& [key, weight] : groups) {
            double z = -o.tag;
            for (const auto f : key.first) z += w[f];
            const double p = 1 / (1 + std::exp(-std::clamp(z, -50.0, 50.0)));
            const double d = weight / total * (p - (key.second ? 1.0 : 0.0));
            for (const auto f : key.first) g[f] += d;
        }
        for (std::size_t i = 0; i < n; ++i) {
            if (keep[i]) continue;
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            const double mh = m[i] / (1 - std::pow(b1, t));
            const double vh = v[i] / (1 - std::pow(b2, t));
            w[i] -= rate * mh / (std::sqrt(vh) + 1e-8);
            if (sign[i] > 0) w[i] = std::max(w[i], 0.0);
            if (sign[i] < 0) w[i] = std::min(w[i], 0.0);
        }
    }
    Scores out;
    for (std::size_t i = 0; i < n; ++i) out[names[i]] = std::round(w[i] * 10) / 10;
    return out;
}

namespace {

// How many ham and spam of the folds in `use` leave the Inbox when each fold is scored
// with the classifier set fitted on the others (rows[i]: message i's rules and bucket).
std::pair<std::size_t, std::size_t> inner_cv(const std::vector<CorpusMessage>& corpus,
                                             const std::vector<std::vector<std::string>>& rows,
                                             const std::vector<bool>& use, const FitOptions& fit,
                                             const Scores& fixed) {
    std::pair<std::size_t, std::size_t> out{0, 0};  // ham, spam
    std::vector<int> folds;
    for (std::size_t i = 0; i < corpus.size(); ++i) {
        if (use[i] && std::find(folds.begin(), folds.end(), corpus[i].fold) == folds.end())
            folds.push_back(corpus[i].fold);
    }
    for (const int g : folds) {
        std::vector<std::vector<std::string>> train;
        std::vector<bool> spam;
        for (std::size_t i = 0; i < corpus.size(); ++i) {
            if (!use[i] || corpus[i].fold == g) continue;
            train.push_back(rows[i]);
            spam.push_back(corpus[i].spam);
        }
        const Scores s = fit_scores(train, spam, fixed, fit);
        for (std::size_t i = 0; i < corpus.size(); ++i) {
            if (!use[i] || corpus[i].fold != g) continue;
            const auto& m = corpus[i];
            double total = 0;
            for (const auto& name : rows[i]) {
                if (const auto it = s.find(name); it != s.end()) {
                    total += it->second;
                    continue;
                }
                // Never seen hit in training: its rule file's score (a bucket: 0).
                const auto k = std::find(m.hits.begin(), m.hits.end(), name);
                if (k != m.hits.end())
                    total += m.hit_scores[static_cast<std::size_t>(k - m.hits.begin())];
            }
            if (total >= fit.tag) ++(m.spam ? out.second : out.first);
        }
    }
    return out;
}

// The candidate of `counts` (ham, spam out) taking the most spam with at most `bound` ham
// out, or else the fewest ham, then the most spam; ties: the first.
std::size_t choose(const std::vector<std::pair<std::size_t, std::size_t>>& counts,
                   std::size_t bound) {
    std::size_t chosen = 0;
    bool within = false;
    for (std::size_t k = 0; k < counts.size(); ++k) {
        const auto& c = counts[k];
        const auto& b = counts[chosen];
        if (c.first <= bound) {
            if (!within || c.second > b.second) chosen = k;
            within = true;
        } else if (!within && (c.first < b.first || (c.first == b.first && c.second > b.second))) {
            chosen = k;
        }
    }
    return chosen;
}

// The buckets of the messages outside fold `exclude` (-1: none), each from a classifier
// that learned the other folds outside it, one vector per candidate (learning does not
// depend on the options: one store serves them all); "" where it abstained or outside.
Result<std::vector<std::vector<std::string>>> inner_buckets(
    const std::vector<CorpusMessage>& corpus, const std::vector<CvCandidate>& candidates,
    int exclude, int folds) {
    std::vector<std::vector<std::string>> out(candidates.size(),
                                              std::vector<std::string>(corpus.size()));
    for (int g = 0; g < folds; ++g) {
        if (g == exclude) continue;
        auto store = learn_all(corpus, exclude, g);
        if (!store) return store.error();
        // A frozen copy, what pampero-milter reads: its fingerprints are part of what the
        // CV measures.
        const auto frozen = FrozenStore::copy_of(**store);
        for (std::size_t k = 0; k < candidates.size(); ++k) {
            const Classifier c(*frozen, candidates[k].classifier);
            for (std::size_t i = 0; i < corpus.size(); ++i) {
                if (corpus[i].fold != g) continue;
                auto r = c.classify(corpus[i].tokens);
                if (!r) return r.error();
                out[k][i] = *r ? (*r)->bucket : "";
            }
        }
    }
    return out;
}

// The candidate the CV over the folds other than `exclude` chooses (see CvOptions::grid),
// given each candidate's buckets (inner_buckets).
std::size_t select_candidate(const std::vector<CorpusMessage>& corpus,
                             const std::vector<CvCandidate>& candidates,
                             const std::vector<std::vector<std::string>>& inners, int exclude,
                             const CvOptions& o) {
    if (candidates.size() < 2) return 0;
    std::vector<bool> training(corpus.size());
    std::size_t hams = 0;
    for (std::size_t i = 0; i < corpus.size(); ++i) {
        training[i] = corpus[i].fold != exclude;
        hams += training[i] && !corpus[i].spam;
    }
    std::vector<std::pair<std::size_t, std::size_t>> counts;
    for (std::size_t k = 0; k < candidates.size(); ++k) {
        std::vector<std::vector<std::string>> all_rows(corpus.size());
        for (std::size_t i = 0; i < corpus.size(); ++i) {
            all_rows[i] = corpus[i].hits;
            if (!inners[k][i].empty()) all_rows[i].push_back(inners[k][i]);
        }
        counts.push_back(inner_cv(corpus, all_rows, training, candidates[k].fit, o.fixed));
    }
    return choose(counts, static_cast<std::size_t>(o.select_ham * static_cast<double>(hams)));
}

std::vector<CvCandidate> candidates_of(const CvOptions& o) {
    return o.grid.empty() ? std::vector<CvCandidate>{{o.classifier, o.fit}} : o.grid;
}

}  // namespace

std::vector<CvCandidate> max_tokens_grid(const Options& classifier, const FitOptions& fit) {
    std::vector<CvCandidate> out;
    for (const std::size_t n : kMaxTokensGrid) {
        out.push_back({classifier, fit});
        out.back().classifier.max_tokens = n;
    }
    return out;
}

Result<std::size_t> choose_candidate(const std::vector<CorpusMessage>& corpus, const CvOptions& o) {
    const auto candidates = candidates_of(o);
    if (candidates.size() < 2) return std::size_t{0};
    auto inners = inner_buckets(corpus, candidates, -1, o.folds);
    if (!inners) return inners.error();
    return select_candidate(corpus, candidates, *inners, -1, o);
}

Result<std::vector<CvOutcome>> cross_validate(const std::vector<CorpusMessage>& corpus,
                                              const CvOptions& o) {
    std::vector<CvOutcome> out(corpus.size());
    const auto candidates = candidates_of(o);
    std::vector<std::string> outer(corpus.size());
    for (int f = 0; f < o.folds; ++f) {
        // Buckets for the training messages (folds other than f), and the candidate their
        // own CV chooses: the fold's messages choose nothing.
        auto inners = inner_buckets(corpus, candidates, f, o.folds);
        if (!inners) return inners.error();
        const std::size_t chosen = select_candidate(corpus, candidates, *inners, f, o);
        const std::vector<std::string>& inner = (*inners)[chosen];
        std::vector<std::vector<std::string>> rows, rule_rows;
        std::vector<bool> spam;
        for (std::size_t i = 0; i < corpus.size(); ++i) {
            if (corpus[i].fold == f) continue;
            rows.push_back(corpus[i].hits);
            rule_rows.push_back(corpus[i].hits);
            if (!inner[i].empty()) rows.back().push_back(inner[i]);
            spam.push_back(corpus[i].spam);
        }
        const Scores fitted = fit_scores(rows, spam, o.fixed, candidates[chosen].fit);
        const Scores rules_fitted = fit_scores(rule_rows, spam, o.fixed, o.fit_rules);
        auto store = learn_all(corpus, f, f);
        if (!store) return store.error();
        {
            const auto frozen = FrozenStore::copy_of(**store);  // as above
            const Classifier c(*frozen, candidates[chosen].classifier);
            for (std::size_t i = 0; i < corpus.size(); ++i) {
                if (corpus[i].fold != f) continue;
                auto r = c.classify(corpus[i].tokens);
                if (!r) return r.error();
                outer[i] = *r ? (*r)->bucket : "";
                out[i].probability = *r ? (*r)->probability : -1;
            }
        }
        for (std::size_t i = 0; i < corpus.size(); ++i) {
            const auto& m = corpus[i];
            if (m.fold != f) continue;
            auto& r = out[i];
            r.bucket = outer[i];
            r.candidate = chosen;
            // A rule the other folds never saw hit has no fitted score: its rule file's.
            auto sum = [&](const Scores& s) {
                double total = 0;
                for (std::size_t h = 0; h < m.hits.size(); ++h) {
                    const auto it = s.find(m.hits[h]);
                    total += it != s.end() ? it->second : m.hit_scores[h];
                }
                return total;
            };
            r.rules_fitted_score = sum(rules_fitted);
            if (r.bucket.empty()) {  // abstained: the scan uses the no_classifier set
                r.shipped_score = m.rules_score;
                r.fitted_score = r.rules_fitted_score;
                continue;
            }
            r.shipped_score = m.rules_score_classifier;
            if (const auto it = o.shipped.find(r.bucket); it != o.shipped.end())
                r.shipped_score += it->second;
            r.fitted_score = sum(fitted);
            if (const auto it = fitted.find(r.bucket); it != fitted.end())
                r.fitted_score += it->second;
        }
    }
    return out;
}

ScoreSets fit_score_sets(const std::vector<CorpusMessage>& corpus,
                         const std::vector<CvOutcome>& outcomes, const CvOptions& o) {
    std::vector<std::vector<std::string>> rows, rule_rows;
    std::vector<bool> spam;
    for (std::size_t i = 0; i < corpus.size(); ++i) {
        rows.push_back(corpus[i].hits);
        rule_rows.push_back(corpus[i].hits);
        if (i < outcomes.size() && !outcomes[i].bucket.empty())
            rows.back().push_back(outcomes[i].bucket);
        spam.push_back(corpus[i].spam);
    }
    return {fit_scores(rule_rows, spam, o.fixed, o.fit_rules),
            fit_scores(rows, spam, o.fixed, o.fit)};
}

}  // namespace pampero::classifier
