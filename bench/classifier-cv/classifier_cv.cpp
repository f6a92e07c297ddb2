// classifier-cv: k-fold cross-validation of the whole scan (rules + classifier) on a
// labelled corpus, never scoring a message that the classifier or a score fit learned from
// (pampero/classifier/cross_validation.hpp says how: nested CV for the fitted scores).
//
// Reported at the levels file's default level, per class (ham, hard-ham, spam), how many
// left the Inbox (Spam folder or refused):
//   rules       the rules alone, shipped scores (no classifier)
//   c>=.5 .99   the classifier alone (probability >= 0.5, >= 0.99)
//   shipped     rules + classifier, the shipped scores (BAYES_* included: those were fitted
//               on this corpus, so this column is in-sample for ten numbers)
//   fitted      rules + classifier, every score fitted on the other folds (cost, l2)
// --tsv FILE writes one line per message for offline fits (scripts/fit-bayes-scores,
// scripts/fit-rule-scores). --explain NAME prints the most telling tokens of the message
// whose file name contains NAME, as its fold's classifier sees them. --scores FILE writes
// the scores fitted on the whole corpus (for review; what a site would run after fitting).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
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
    fmt::print(stderr,
               "usage: classifier-cv [--corpus DIR] [--rules DIR] [--levels FILE] [--folds K]\n"
               "                     [--tsv FILE] [--min-dev X] [--max-tokens N] [--robs X]\n"
               "                     [--cost C] [--l2 X] [--negative-rules] [--explain NAME]\n"
               "                     [--scores FILE]\n");
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

}  // namespace

int main(int argc, char** argv) {
    std::string corpus = std::string(PAMPERO_SOURCE_DIR) + "/../shared/corpus";
    std::string rules_dir = std::string(PAMPERO_SOURCE_DIR) + "/conf/rules.d";
    std::string levels_file = std::string(PAMPERO_SOURCE_DIR) + "/conf/levels.yaml";
    std::string tsv, explain, scores_file;
    CvOptions cv;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--negative-rules") {
            cv.fit.nonnegative_rules = false;
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
        else if (a == "--max-tokens")
            cv.classifier.max_tokens = std::stoul(v);
        else if (a == "--robs")
            cv.classifier.robs = std::stod(v);
        else if (a == "--cost")
            cv.fit.cost = std::stod(v);
        else if (a == "--l2")
            cv.fit.l2 = std::stod(v);
        else if (a == "--explain")
            explain = v;
        else if (a == "--scores")
            scores_file = v;
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
        std::size_t n = 0, rules = 0, c50 = 0, c99 = 0, shipped = 0, fitted = 0;
    };
    std::map<std::string, Row> rows;
    std::size_t abstained = 0;
    for (std::size_t i = 0; i < items->size(); ++i) {
        const auto& it = (*items)[i];
        const auto& o = (*outcomes)[i];
        auto& r = rows[it.label];
        ++r.n;
        r.rules += out_of_inbox(it.rules_score);
        r.c50 += o.probability >= 0.5;
        r.c99 += o.probability >= 0.99;
        r.shipped += out_of_inbox(o.shipped_score);
        r.fitted += out_of_inbox(o.fitted_score);
        abstained += o.probability < 0;
    }
    fmt::print(
        "{}-fold cross-validation on {} ({} messages), level {} ({}): tag {:.1f}; fit: cost {} "
        "l2 {}{}\n",
        cv.folds, corpus, items->size(), level.number, level.name, level.tag, cv.fit.cost,
        cv.fit.l2, cv.fit.nonnegative_rules ? "" : ", negative rule scores allowed");
    fmt::print("out of the Inbox {:>8} {:>14} {:>14} {:>14} {:>14} {:>14}\n", "messages", "rules",
               "classifier>=.5", "classifier>=.99", "shipped", "fitted");
    auto pct = [](std::size_t a, std::size_t n) {
        return fmt::format("{:>5} {:>6.2f}%", a,
                           n ? 100.0 * static_cast<double>(a) / static_cast<double>(n) : 0.0);
    };
    auto print_row = [&](const char* name, const Row& r) {
        fmt::print("{:<16} {:>8} {:>14} {:>14} {:>14} {:>14} {:>14}\n", name, r.n,
                   pct(r.rules, r.n), pct(r.c50, r.n), pct(r.c99, r.n), pct(r.shipped, r.n),
                   pct(r.fitted, r.n));
    };
    Row all_ham;
    for (const char* cls : {"ham", "hard-ham", "spam"}) {
        const auto& r = rows[cls];
        print_row(cls, r);
        if (std::strcmp(cls, "spam") != 0) {
            all_ham.n += r.n;
            all_ham.rules += r.rules;
            all_ham.c50 += r.c50;
            all_ham.c99 += r.c99;
            all_ham.shipped += r.shipped;
            all_ham.fitted += r.fitted;
        }
    }
    print_row("ham (all)", all_ham);
    fmt::print("classifier abstained on {} messages; parse+tokenize+rules {:.1f} s, CV {:.1f} s\n",
               abstained, std::chrono::duration<double>(t1 - t0).count(),
               std::chrono::duration<double>(t2 - t1).count());
    for (std::size_t i = 0; i < items->size(); ++i) {
        const auto& it = (*items)[i];
        const auto& o = (*outcomes)[i];
        if (!it.spam && out_of_inbox(o.fitted_score))
            fmt::print("  ham out (fitted): {}/{} score {:.1f} {} p={:.6f}\n", it.label, it.file,
                       o.fitted_score, o.bucket, o.probability);
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
    if (!scores_file.empty()) {
        // Fitted on everything (buckets from the one-level CV): for review, not a figure.
        std::vector<std::vector<std::string>> fit_rows;
        std::vector<bool> spam;
        for (std::size_t i = 0; i < items->size(); ++i) {
            fit_rows.push_back((*items)[i].hits);
            if (!(*outcomes)[i].bucket.empty()) fit_rows.back().push_back((*outcomes)[i].bucket);
            spam.push_back((*items)[i].spam);
        }
        const auto fitted = fit_scores(fit_rows, spam, cv.fixed, cv.fit);
        std::ofstream out(scores_file);
        out << fmt::format("# fitted by classifier-cv on {} (cost {}, l2 {})\nscores:\n", corpus,
                           cv.fit.cost, cv.fit.l2);
        for (const auto& [name, s] : fitted) out << fmt::format("  {}: {:.1f}\n", name, s);
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
