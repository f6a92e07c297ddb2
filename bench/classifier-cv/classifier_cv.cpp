// classifier-cv: k-fold cross-validation of the whole scan (rules + classifier) on a
// labelled corpus, never scoring a message the classifier learned from.
//
// The corpus folder holds ham/, hard-ham/ and spam/ (one message a file). Each class is
// split into k folds (files sorted by name, file i in fold i mod k); for each fold the
// classifier learns every message of the other folds (hard ham as ham) into a fresh
// in-memory store, then each message of the fold goes through scan_message() with the
// shipped rules and the classifier, and is decided at the levels file's default level.
// Reported, per class, how many left the Inbox (Spam folder or refused):
//   rules       the rules alone (no classifier)
//   classifier  the classifier alone (probability >= 0.5, and >= 0.99)
//   full        rules + classifier (the BAYES_* rules' scores from the rules folder)
// --tsv FILE writes one line per message (class, fold, file, rules score, probability,
// bucket, full score, rules hit) for fitting scores offline (scripts/fit-bayes-scores).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "pampero/classifier/frozen_store.hpp"
#include "pampero/classifier/scan_classifier.hpp"
#include "pampero/rules/engine.hpp"
#include "pampero/scan/scan_message.hpp"
#include "pampero/verdict/decision.hpp"

using namespace pampero;
using namespace pampero::classifier;
namespace fs = std::filesystem;

namespace {

struct Item {
    std::string file;
    std::string cls;  // ham, hard-ham, spam
    int fold = 0;
    std::string raw;
    std::string id;
    std::vector<Token> tokens;
    double rules_score = 0;
    double full_score = 0;
    double p = -1;  // -1: abstained
    std::string bucket;
    std::string hits;  // the rules that hit (without the classifier), comma-separated
};

int usage() {
    fmt::print(stderr,
               "usage: classifier-cv [--corpus DIR] [--rules DIR] [--levels FILE] [--folds K]\n"
               "                     [--tsv FILE] [--min-dev X] [--max-tokens N] [--robs X]\n");
    return 64;
}

}  // namespace

int main(int argc, char** argv) {
    std::string corpus = std::string(PAMPERO_SOURCE_DIR) + "/../shared/corpus";
    std::string rules_dir = std::string(PAMPERO_SOURCE_DIR) + "/conf/rules.d";
    std::string levels_file = std::string(PAMPERO_SOURCE_DIR) + "/conf/levels.yaml";
    std::string tsv;
    int k = 5;
    Options opt;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc) return usage();
        const std::string v = argv[++i];
        if (a == "--corpus")
            corpus = v;
        else if (a == "--rules")
            rules_dir = v;
        else if (a == "--levels")
            levels_file = v;
        else if (a == "--folds")
            k = std::stoi(v);
        else if (a == "--tsv")
            tsv = v;
        else if (a == "--min-dev")
            opt.min_dev = std::stod(v);
        else if (a == "--max-tokens")
            opt.max_tokens = std::stoul(v);
        else if (a == "--robs")
            opt.robs = std::stod(v);
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

    const auto t0 = std::chrono::steady_clock::now();
    std::vector<Item> items;
    for (const char* cls : {"ham", "hard-ham", "spam"}) {
        std::vector<std::string> files;
        for (const auto& e : fs::directory_iterator(fs::path(corpus) / cls)) {
            if (e.is_regular_file() && e.path().extension() == ".eml") files.push_back(e.path());
        }
        std::sort(files.begin(), files.end());
        for (std::size_t i = 0; i < files.size(); ++i) {
            Item it;
            it.file = files[i];
            it.cls = cls;
            it.fold = static_cast<int>(i % static_cast<std::size_t>(k));
            std::ifstream in(it.file, std::ios::binary);
            std::ostringstream s;
            s << in.rdbuf();
            it.raw = std::move(s).str();
            const auto msg = engine.parse(it.raw);
            it.tokens = tokenize(msg);
            it.id = message_id(msg);
            const auto v = engine.scan(msg);
            it.rules_score = v.score;
            for (const auto& h : v.hits) it.hits += (it.hits.empty() ? "" : ",") + h.name;
            items.push_back(std::move(it));
        }
    }
    const auto t1 = std::chrono::steady_clock::now();
    double learn_seconds = 0;
    std::size_t learned = 0;
    for (int f = 0; f < k; ++f) {
        auto store = std::make_shared<MemoryStore>();
        Learner l(*store);
        const auto l0 = std::chrono::steady_clock::now();
        for (const auto& it : items) {
            if (it.fold == f) continue;
            auto r = l.learn(it.id, it.tokens, it.cls == "spam" ? Class::spam : Class::ham);
            if (!r) return fmt::print(stderr, "{}\n", r.error().message), 75;
            ++learned;
        }
        if (!l.flush()) return 75;
        learn_seconds +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - l0).count();
        const ScanClassifier c(FrozenStore::copy_of(*store), opt);  // as the milter reads it
        for (auto& it : items) {
            if (it.fold != f) continue;
            const auto v =
                scan::scan_message(engine, nullptr, it.raw, "", nullptr, false, nullptr, &c);
            it.full_score = v.score;
            const auto cl = c.classify(engine.parse(it.raw));
            if (cl) {
                it.p = cl->probability;
                it.bucket = cl->bucket;
            }
        }
    }
    const auto t2 = std::chrono::steady_clock::now();

    auto out_of_inbox = [&](double score) {
        return scan::decide(score, Listing::none, false, level) != scan::Action::inbox;
    };
    struct Row {
        std::size_t n = 0, rules = 0, c50 = 0, c99 = 0, full = 0, abstained = 0;
    };
    std::map<std::string, Row> rows;
    for (const auto& it : items) {
        auto& r = rows[it.cls];
        ++r.n;
        r.rules += out_of_inbox(it.rules_score);
        r.full += out_of_inbox(it.full_score);
        r.c50 += it.p >= 0.5;
        r.c99 += it.p >= 0.99;
        r.abstained += it.p < 0;
    }
    fmt::print("{}-fold cross-validation on {} ({} messages), level {} ({}): tag {:.1f}\n", k,
               corpus, items.size(), level.number, level.name, level.tag);
    fmt::print("out of the Inbox    {:>8} {:>16} {:>16} {:>16} {:>16}\n", "messages", "rules",
               "classifier>=.5", "classifier>=.99", "rules+classifier");
    auto pct = [](std::size_t a, std::size_t n) {
        return fmt::format("{:>5} {:>6.2f}%", a,
                           n ? 100.0 * static_cast<double>(a) / static_cast<double>(n) : 0.0);
    };
    Row all_ham;
    for (const char* cls : {"ham", "hard-ham", "spam"}) {
        const auto& r = rows[cls];
        fmt::print("{:<19} {:>8} {:>16} {:>16} {:>16} {:>16}\n", cls, r.n, pct(r.rules, r.n),
                   pct(r.c50, r.n), pct(r.c99, r.n), pct(r.full, r.n));
        if (std::strcmp(cls, "spam") != 0) {
            all_ham.n += r.n;
            all_ham.rules += r.rules;
            all_ham.c50 += r.c50;
            all_ham.c99 += r.c99;
            all_ham.full += r.full;
        }
    }
    fmt::print("{:<19} {:>8} {:>16} {:>16} {:>16} {:>16}\n", "ham (all)", all_ham.n,
               pct(all_ham.rules, all_ham.n), pct(all_ham.c50, all_ham.n),
               pct(all_ham.c99, all_ham.n), pct(all_ham.full, all_ham.n));
    std::size_t abst = 0;
    for (auto& [_, r] : rows) abst += r.abstained;
    fmt::print(
        "classifier abstained on {} messages; parse+tokenize+rules {:.1f} s, learning {} "
        "messages {:.2f} s, scoring {:.1f} s\n",
        abst, std::chrono::duration<double>(t1 - t0).count(), learned, learn_seconds,
        std::chrono::duration<double>(t2 - t1).count() - learn_seconds);
    if (!tsv.empty()) {
        std::ofstream out(tsv);
        out << "class\tfold\tfile\trules\tp\tbucket\tfull\thits\n";
        for (const auto& it : items) {
            out << fmt::format("{}\t{}\t{}\t{:.2f}\t{:.6f}\t{}\t{:.2f}\t{}\n", it.cls, it.fold,
                               fs::path(it.file).filename().string(), it.rules_score, it.p,
                               it.bucket.empty() ? "-" : it.bucket, it.full_score, it.hits);
        }
    }
    return 0;
}
