// classifier-cv: k-fold cross-validation of the whole scan (rules + classifier) on a
// labelled corpus, never scoring a message that the classifier or a score fit learned from
// (pampero/classifier/cross_validation.hpp says how: nested CV for the fitted scores).
//
// Reported at the levels file's default level, per class (ham, hard-ham, spam), how many
// left the Inbox (Spam folder or refused):
//   rules       the rules alone (no classifier), the shipped no_classifier score set
//   rules-fit   the rules alone, the no_classifier set fitted on the other folds
//               (--cost-rules, --l2-rules)
//   c>=.5 .99   the classifier alone (probability >= 0.5, >= 0.99)
//   shipped     rules + classifier, the shipped classifier score set (BAYES_* included;
//               when the shipped sets were fitted on this corpus, this column and `rules`
//               are in-sample)
//   fitted      rules + classifier, the classifier set (every score, BAYES_* included)
//               fitted on the other folds (--cost, --l2), nested CV for the buckets
// By default the classifier's max_tokens is chosen so among kMaxTokensGrid (the shipped
// procedure); --fixed: the options as given, no choice.
// --grid-ham-bias/-max-tokens/-robs/-robx/-min-dev/-cost/-l2 A,B,...: the classifier's
// options and the classifier set's fit are chosen in each outer fold among every
// combination, by a CV inside its training folds (CvOptions::grid); the choices are printed.
// A message the classifier abstains on is scored with the no_classifier set in the last
// two columns, as the scan does (rules.hpp, score sets).
// --tsv FILE writes one line per message for offline fits (scripts/fit-bayes-scores,
// scripts/fit-rule-scores). --explain NAME prints the most telling tokens of the message
// whose file name contains NAME, as its fold's classifier sees them. --write-sets DIR
// writes both score sets fitted on the whole corpus, as the overlays
// DIR/90-fitted-no-classifier.scores.yaml and DIR/91-fitted-classifier.scores.yaml, with
// a header giving this run's cross-validated figures (what conf/rules.d ships).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "pampero/classifier/cross_validation.hpp"
#include "pampero/classifier/memory_store.hpp"
#include "pampero/rules/engine.hpp"
#include "pampero/verdict/decision.hpp"

using namespace pampero;
using namespace pampero::classifier;
namespace fs = std::filesystem;

namespace {

int usage() {
    fmt::print(
        stderr,
        "usage: classifier-cv [--corpus DIR] [--rules DIR] [--levels FILE] [--folds K]\n"
        "                     [--tsv FILE] [--min-dev X] [--max-tokens N] [--robs X]\n"
        "                     [--robx X] [--ham-bias B]\n"
        "                     [--grid-{{ham-bias,max-tokens,robs,robx,min-dev,cost,l2}} A,B,...]\n"
        "                     [--fixed]\n"
        "                     [--cost C] [--l2 X] [--cost-rules C] [--l2-rules X]\n"
        "                     [--negative-rules] [--explain NAME] [--write-sets DIR]\n");
    return 64;
}

// The message's tokens the classifier combines, most telling first, with their counts
// in the store (its fold's training messages): for looking at a misfiled message.
void print_tokens(const ClassifierStore& store, const scan::Message& msg, const Options& o) {
    const auto tokens = tokenize_verbose(msg);
    std::vector<Token> ids;
    for (const auto& t : tokens) ids.push_back(t.first);
    const auto counts = store.get(ids);
    const auto totals = store.totals();
    if (!counts || !totals) return;
    std::vector<std::tuple<double, std::string, std::uint64_t, std::uint64_t>> rows;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const double p = token_probability((*counts)[i], *totals, o);
        if (std::abs(p - 0.5) >= o.min_dev)
            rows.emplace_back(p, tokens[i].second, (*counts)[i].spam, (*counts)[i].ham);
    }
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
        return std::abs(std::get<0>(a) - 0.5) > std::abs(std::get<0>(b) - 0.5);
    });
    fmt::print("{} telling tokens (of {}); spam {} ham {} learned\n", rows.size(), ids.size(),
               totals->spam, totals->ham);
    for (const auto& [p, text, s, h] : rows)
        fmt::print("  {:.4f} {:>4} {:>4}  {}\n", p, s, h, text);
}

// `text` as "# " comment lines of at most 88 characters.
std::string wrap_comment(const std::string& text) {
    std::string out, line = "#";
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t j = text.find(' ', i);
        if (j == std::string::npos) j = text.size();
        const std::string word = text.substr(i, j - i);
        if (line.size() + 1 + word.size() > 88 && line != "#") {
            out += line + "\n";
            line = "#";
        }
        line += " " + word;
        i = j + 1;
    }
    return out + line + "\n";
}

}  // namespace

int main(int argc, char** argv) {
    std::string corpus = std::string(PAMPERO_SOURCE_DIR) + "/../shared/corpus";
    std::string rules_dir = std::string(PAMPERO_SOURCE_DIR) + "/conf/rules.d";
    std::string levels_file = std::string(PAMPERO_SOURCE_DIR) + "/conf/levels.yaml";
    std::string tsv, explain, sets_dir;
    CvOptions cv;
    std::optional<double> cost_rules, l2_rules;
    std::map<std::string, std::string> grid;  // --grid-NAME a,b,c
    bool fixed_options = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--fixed") {
            fixed_options = true;
            continue;
        }
        if (a == "--negative-rules") {
            cv.fit.nonnegative_rules = false;
            cv.fit_rules.nonnegative_rules = false;
            continue;
        }
        if (i + 1 >= argc) return usage();
        const std::string v = argv[++i];
        if (a == "--corpus")
            corpus = v;
        else if (a == "--rules")
            rules_dir = v;
        else if (a == "--levels")
            levels_file = v;
        else if (a == "--folds")
            cv.folds = std::stoi(v);
        else if (a == "--tsv")
            tsv = v;
        else if (a == "--min-dev")
            cv.classifier.min_dev = std::stod(v);
        else if (a == "--max-tokens")  // given: no choice of it (as --fixed)
            cv.classifier.max_tokens = std::stoul(v), fixed_options = true;
        else if (a == "--robs")
            cv.classifier.robs = std::stod(v);
        else if (a == "--robx")
            cv.classifier.robx = std::stod(v);
        else if (a == "--ham-bias")
            cv.classifier.ham_bias = std::stod(v);
        else if (a == "--cost")
            cv.fit.cost = std::stod(v);
        else if (a == "--l2")
            cv.fit.l2 = std::stod(v);
        else if (a == "--cost-rules")
            cost_rules = std::stod(v);
        else if (a == "--l2-rules")
            l2_rules = std::stod(v);
        else if (a.rfind("--grid-", 0) == 0)
            grid[a.substr(7)] = v;
        else if (a == "--explain")
            explain = v;
        else if (a == "--write-sets")
            sets_dir = v;
        else
            return usage();
    }
    if (!fs::is_directory(corpus)) {
        fmt::print("corpus not found: {}\n", corpus);
        return 0;
    }
    auto rules = scan::RuleSet::load_dir(rules_dir);
    if (!rules) return fmt::print(stderr, "{}\n", rules.error().message), 78;
    auto levels = scan::load_levels(levels_file);
    if (!levels) return fmt::print(stderr, "{}\n", levels.error().message), 78;
    const scan::Engine engine(*rules, *levels, scan::ScanBounds{});
    const auto& level = levels->fallback();
    cv.fit.tag = level.tag;
    // The no_classifier set's own defaults (cross_validation.hpp) unless told otherwise.
    cv.fit_rules.cost = cost_rules.value_or(cv.fit_rules.cost);
    cv.fit_rules.l2 = l2_rules.value_or(cv.fit_rules.l2);
    cv.fit_rules.tag = level.tag;

    // The candidates: every combination of the --grid-* lists, the other options as given;
    // without any, the shipped procedure's max_tokens grid; --fixed: none (the options as
    // given, no choice).
    if (grid.empty() && !fixed_options) cv.grid = max_tokens_grid(cv.classifier, cv.fit);
    if (!grid.empty()) {
        cv.grid = {{cv.classifier, cv.fit}};
        for (const auto& [name, list] : grid) {
            std::vector<CvCandidate> next;
            for (const auto& base : cv.grid) {
                std::istringstream in(list);
                for (std::string x; std::getline(in, x, ',');) {
                    CvCandidate k = base;
                    Options& c = k.classifier;
                    if (name == "cost")
                        k.fit.cost = std::stod(x);
                    else if (name == "l2")
                        k.fit.l2 = std::stod(x);
                    else if (name == "ham-bias")
                        c.ham_bias = std::stod(x);
                    else if (name == "max-tokens")
                        c.max_tokens = std::stoul(x);
                    else if (name == "robs")
                        c.robs = std::stod(x);
                    else if (name == "robx")
                        c.robx = std::stod(x);
                    else if (name == "min-dev")
                        c.min_dev = std::stod(x);
                    else
                        return usage();
                    next.push_back(k);
                }
            }
            cv.grid = std::move(next);
        }
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto items = load_corpus(corpus, engine, cv.folds);
    if (!items) return fmt::print(stderr, "{}\n", items.error().message), 74;
    cv.shipped = bucket_scores(engine);
    cv.fixed = fixed_scores(*items);
    const auto t1 = std::chrono::steady_clock::now();
    auto outcomes = cross_validate(*items, cv);
    if (!outcomes) return fmt::print(stderr, "{}\n", outcomes.error().message), 75;
    const auto t2 = std::chrono::steady_clock::now();

    auto out_of_inbox = [&](double score) {
        return scan::decide(score, Listing::none, false, level) != scan::Action::inbox;
    };
    struct Row {
        std::size_t n = 0, rules = 0, rules_fit = 0, c50 = 0, c99 = 0, shipped = 0, fitted = 0;
    };
    std::map<std::string, Row> rows;
    std::size_t abstained = 0;
    for (std::size_t i = 0; i < items->size(); ++i) {
        const auto& it = (*items)[i];
        const auto& o = (*outcomes)[i];
        auto& r = rows[it.label];
        ++r.n;
        r.rules += out_of_inbox(it.rules_score);
        r.rules_fit += out_of_inbox(o.rules_fitted_score);
        r.c50 += o.probability >= 0.5;
        r.c99 += o.probability >= 0.99;
        r.shipped += out_of_inbox(o.shipped_score);
        r.fitted += out_of_inbox(o.fitted_score);
        abstained += o.probability < 0;
    }
    fmt::print(
        "{}-fold cross-validation on {} ({} messages), level {} ({}): tag {:.1f}; fit: cost {} "
        "l2 {} (no_classifier set: cost {} l2 {}){}\n",
        cv.folds, corpus, items->size(), level.number, level.name, level.tag, cv.fit.cost,
        cv.fit.l2, cv.fit_rules.cost, cv.fit_rules.l2,
        cv.fit.nonnegative_rules ? "" : ", negative rule scores allowed");
    fmt::print("out of the Inbox {:>8} {:>14} {:>14} {:>14} {:>14} {:>14} {:>14}\n", "messages",
               "rules", "rules-fit", "classifier>=.5", "classifier>=.99", "shipped", "fitted");
    auto pct = [](std::size_t a, std::size_t n) {
        return fmt::format("{:>5} {:>6.2f}%", a,
                           n ? 100.0 * static_cast<double>(a) / static_cast<double>(n) : 0.0);
    };
    auto print_row = [&](const char* name, const Row& r) {
        fmt::print("{:<16} {:>8} {:>14} {:>14} {:>14} {:>14} {:>14} {:>14}\n", name, r.n,
                   pct(r.rules, r.n), pct(r.rules_fit, r.n), pct(r.c50, r.n), pct(r.c99, r.n),
                   pct(r.shipped, r.n), pct(r.fitted, r.n));
    };
    Row all_ham;
    for (const char* cls : {"ham", "hard-ham", "spam"}) {
        const auto& r = rows[cls];
        print_row(cls, r);
        if (std::strcmp(cls, "spam") != 0) {
            all_ham.n += r.n;
            all_ham.rules += r.rules;
            all_ham.rules_fit += r.rules_fit;
            all_ham.c50 += r.c50;
            all_ham.c99 += r.c99;
            all_ham.shipped += r.shipped;
            all_ham.fitted += r.fitted;
        }
    }
    print_row("ham (all)", all_ham);
    std::size_t tokens = 0;
    for (const auto& it : *items) tokens += it.tokens.size();
    fmt::print(
        "classifier abstained on {} messages; {:.0f} tokens a message; parse+tokenize+rules "
        "{:.1f} s, CV {:.1f} s\n",
        abstained,
        items->empty() ? 0.0 : static_cast<double>(tokens) / static_cast<double>(items->size()),
        std::chrono::duration<double>(t1 - t0).count(),
        std::chrono::duration<double>(t2 - t1).count());
    if (!cv.grid.empty()) {
        std::map<int, std::size_t> chosen;
        for (std::size_t i = 0; i < items->size(); ++i)
            chosen[(*items)[i].fold] = (*outcomes)[i].candidate;
        for (const auto& [fold, k] : chosen) {
            const auto& c = cv.grid[k].classifier;
            fmt::print(
                "  fold {} chose ham_bias {} max_tokens {} robs {} robx {} min_dev {}; cost {} l2 "
                "{}\n",
                fold, c.ham_bias, c.max_tokens, c.robs, c.robx, c.min_dev, cv.grid[k].fit.cost,
                cv.grid[k].fit.l2);
        }
    }
    for (std::size_t i = 0; i < items->size(); ++i) {
        const auto& it = (*items)[i];
        const auto& o = (*outcomes)[i];
        if (!it.spam && out_of_inbox(o.fitted_score))
            fmt::print("  ham out (fitted): {}/{} score {:.1f} {} p={:.6f}\n", it.label, it.file,
                       o.fitted_score, o.bucket, o.probability);
    }
    for (std::size_t i = 0; i < items->size(); ++i) {
        const auto& it = (*items)[i];
        if (!it.spam && out_of_inbox((*outcomes)[i].rules_fitted_score))
            fmt::print("  ham out (rules-fit): {}/{} score {:.1f}\n", it.label, it.file,
                       (*outcomes)[i].rules_fitted_score);
    }

    if (!explain.empty()) {
        for (const auto& it : *items) {
            if (it.file.find(explain) == std::string::npos) continue;
            auto store = std::make_shared<MemoryStore>();
            Learner l(*store);
            for (const auto& m : *items) {
                if (m.fold != it.fold)
                    (void)l.learn(m.id, m.tokens, m.spam ? Class::spam : Class::ham);
            }
            (void)l.flush();
            std::ifstream in(fs::path(corpus) / it.label / it.file, std::ios::binary);
            std::ostringstream s;
            s << in.rdbuf();
            fmt::print("{}/{}: ", it.label, it.file);
            print_tokens(*store, engine.parse(s.str()), cv.classifier);
        }
    }
    if (!sets_dir.empty()) {
        // What a site installs: the candidate the CV over the whole corpus chooses, and the
        // score sets fitted on buckets from that classifier (each from one that did not
        // learn the message); the header's figures are the whole procedure's (above).
        CvOptions chosen = cv;
        std::vector<CvOutcome> chosen_outcomes = *outcomes;  // without a grid: the same
        if (!cv.grid.empty()) {
            auto k = choose_candidate(*items, cv);
            if (!k) return fmt::print(stderr, "{}\n", k.error().message), 75;
            chosen.classifier = cv.grid[*k].classifier;
            chosen.fit = cv.grid[*k].fit;
            chosen.grid.clear();
            fmt::print(
                "the whole corpus chose max_tokens {} ham_bias {} robs {} robx {} min_dev {}; "
                "cost {} l2 {}\n",
                chosen.classifier.max_tokens, chosen.classifier.ham_bias, chosen.classifier.robs,
                chosen.classifier.robx, chosen.classifier.min_dev, chosen.fit.cost, chosen.fit.l2);
            auto again = cross_validate(*items, chosen);
            if (!again) return fmt::print(stderr, "{}\n", again.error().message), 75;
            chosen_outcomes = std::move(*again);
        }
        const auto sets = fit_score_sets(*items, chosen_outcomes, chosen);
        // Per rule: hits by class (the bucket: the out-of-fold one), for the reviewer.
        std::map<std::string, std::map<std::string, std::size_t>> hits;
        std::map<std::string, double> file_score;
        for (const auto& r : engine.rules().scores()) file_score[r.name] = r.file_score;
        for (std::size_t i = 0; i < items->size(); ++i) {
            for (const auto& h : (*items)[i].hits) ++hits[h][(*items)[i].label];
            if (!chosen_outcomes[i].bucket.empty())
                ++hits[chosen_outcomes[i].bucket][(*items)[i].label];
        }
        auto figures = [&](bool classifier) {
            std::string out;
            for (const char* cls : {"ham", "hard-ham"}) {
                const auto& r = rows[cls];
                const std::size_t k = classifier ? r.fitted : r.rules_fit;
                out += fmt::format(
                    "{}{} {}/{} ({:.2f}%)", out.empty() ? "" : ", ", cls, k, r.n,
                    r.n ? 100.0 * static_cast<double>(k) / static_cast<double>(r.n) : 0.0);
            }
            const std::size_t k = classifier ? all_ham.fitted : all_ham.rules_fit;
            return out + fmt::format(": all ham {}/{} ({:.2f}%)", k, all_ham.n,
                                     all_ham.n ? 100.0 * static_cast<double>(k) /
                                                     static_cast<double>(all_ham.n)
                                               : 0.0);
        };
        for (const bool classifier : {false, true}) {
            const auto& scores = classifier ? sets.classifier : sets.no_classifier;
            const auto& fo = classifier ? chosen.fit : cv.fit_rules;
            const fs::path file =
                fs::path(sets_dir) / (classifier ? "91-fitted-classifier.scores.yaml"
                                                 : "90-fitted-no-classifier.scores.yaml");
            std::ofstream out(file);
            const std::size_t spam_out = classifier ? rows["spam"].fitted : rows["spam"].rules_fit;
            const std::string what = fmt::format(
                "Rule scores for a message the statistical classifier {} (score_set: {}; "
                "rules.hpp, pampero.yaml(5)), fitted by bench/classifier-cv --write-sets on the "
                "development corpus ({} messages: {} ham, {} hard ham, {} spam; SpamAssassin's "
                "public corpus, 2002-2003): logistic regression of spam on {}, a ham weighing {} "
                "spam (cost), L2 {} towards 0, rule scores {}{}; GTUBE-like rules (|score| >= "
                "100) keep theirs.{}",
                classifier ? "voted on (its store learned enough)"
                           : "did not vote on (none configured, too little learned, store missing)",
                classifier ? "classifier" : "no_classifier", items->size(), rows["ham"].n,
                rows["hard-ham"].n, rows["spam"].n,
                classifier ? "the rules hit and the classifier's bucket (each from a classifier "
                             "that did not learn the message)"
                           : "the rules hit",
                fo.cost, fo.l2, fo.nonnegative_rules ? ">= 0" : "of either sign",
                classifier ? ", BAYES_00..40 <= 0 and BAYES_50..999 >= 0" : "",
                classifier && !cv.grid.empty()
                    ? fmt::format(" The classifier's options and the fit's settings are the "
                                  "ones a CV on the corpus chose among {} candidates (in the "
                                  "CV below, each fold's training folds chose): max_tokens {}, "
                                  "ham_bias {}, min_dev {}, cost {}, l2 {}.",
                                  cv.grid.size(), chosen.classifier.max_tokens,
                                  chosen.classifier.ham_bias, chosen.classifier.min_dev,
                                  chosen.fit.cost, chosen.fit.l2)
                    : std::string());
            const std::string how = fmt::format(
                "These scores are fitted on the whole corpus. The same procedure, cross-validated "
                "({}-fold: each fold scored with scores fitted on the other four{}), at the "
                "default level (tag {:.1f}) takes out of the Inbox:",
                cv.folds,
                classifier ? ", every bucket from a classifier that did not learn its message" : "",
                level.tag);
            const std::string after =
                "Rules not listed never hit the corpus: they keep their rule file's score. The "
                "comment after each score: the rule file's score and the corpus messages it hit. "
                "They are this corpus's scores: refit them on your own mail (classifier-cv "
                "--corpus DIR --write-sets DIR) and replace this file, as a rule given two scores "
                "in one set refuses to load.";
            out << wrap_comment(what) << wrap_comment(how)
                << fmt::format("#   {}\n#   spam {}/{} ({:.1f}%)\n", figures(classifier), spam_out,
                               rows["spam"].n,
                               rows["spam"].n ? 100.0 * static_cast<double>(spam_out) /
                                                    static_cast<double>(rows["spam"].n)
                                              : 0.0)
                << wrap_comment(after)
                << fmt::format("score_set: {}\nscores:\n",
                               classifier ? "classifier" : "no_classifier");
            for (const auto& [name, score] : scores) {
                if (cv.fixed.count(name)) continue;
                auto& h = hits[name];
                out << fmt::format("  {:<26} {:5.1f}   # file {:.1f}; ham {} hard-ham {} spam {}\n",
                                   name + ":", score == 0 ? 0.0 : score,
                                   file_score.count(name) ? file_score[name] : 0.0, h["ham"],
                                   h["hard-ham"], h["spam"]);
            }
            if (!out) return fmt::print(stderr, "{}: cannot write\n", file.string()), 73;
            fmt::print("wrote {}\n", file.string());
        }
    }
    if (!tsv.empty()) {
        std::ofstream out(tsv);
        out << "class\tfold\tfile\trules\tp\tbucket\tshipped\tfitted\thits\n";
        for (std::size_t i = 0; i < items->size(); ++i) {
            const auto& it = (*items)[i];
            const auto& o = (*outcomes)[i];
            std::string hits;
            for (const auto& h : it.hits) hits += (hits.empty() ? "" : ",") + h;
            out << fmt::format("{}\t{}\t{}\t{:.2f}\t{:.6f}\t{}\t{:.2f}\t{:.2f}\t{}\n", it.label,
                               it.fold, it.file, it.rules_score, o.probability,
                               o.bucket.empty() ? "-" : o.bucket, o.shipped_score, o.fitted_score,
                               hits);
        }
    }
    return 0;
}
