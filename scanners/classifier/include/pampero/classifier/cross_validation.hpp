// cross_validation.hpp - issue 11's measure: k-fold cross-validation of the whole scan
// (rules + classifier) on a labelled corpus, with rule scores fitted from the data, never
// scoring a message that the classifier or a fit learned from.
//
// The corpus folder holds ham/, hard-ham/ and spam/ (one message a *.eml file). Each class
// is split into k folds (files sorted by name, file i in fold i mod k). For each fold f:
//   - the classifier learns every message of the other folds (hard ham as ham) into a fresh
//     in-memory store and classifies the messages of fold f (their BAYES_* bucket);
//   - the rule scores are fitted (fit_scores) on the other folds only. Their buckets must
//     be out-of-sample too, or the fit would learn what the classifier says about messages
//     it learned (always sure): so inside the other folds a second cross-validation gives
//     each of them a bucket from a classifier that did not learn it (nested CV);
//   - the messages of fold f are scored with those fitted scores, and also with the
//     shipped scores (the rules folder's, BAYES_* included).
// Two score sets are fitted that way (rules.hpp, score sets): `classifier`, on the rules
// hit and the bucket, used on a message the classifier voted on; `no_classifier`, on the
// rules alone, used when it abstains (a site that has not trained one yet). Each message
// is scored with the set its own scan would use (the classifier set when its out-of-fold
// classifier voted), and also with the no-classifier set alone (what a site without a
// classifier gets).
//
// The fit is SpamAssassin's score generation in small: logistic regression of "spam" on the
// rules hit (and the bucket), P(spam) = 1 / (1 + exp(-(score - tag))), so a fitted score
// means what a rule score means (at or over the level's `tag` the message leaves the
// Inbox); ham weighs `cost` times a spam (a false positive costs more than a missed spam);
// an L2 penalty pulls every score towards 0 (a rule must earn its score from the data,
// rather than towards the hand-picked one). Constraints an admin can read: BAYES_00..40
// never positive, BAYES_50..999 never negative (an unsure classifier is what a spammer
// gets for free by writing text the site's model never saw: it must not buy a ham score;
// 45-classifier.yaml); with `nonnegative_rules` the other rules
// never negative (a pattern a spammer can add at will must not lower a score); rules with
// a shipped |score| >= 100 (GTUBE) keep it.
//
// Costs: loading parses and scans each message once (~1 ms each); the nested CV learns
// about 16 x the corpus into memory stores and classifies about 5 x; the fit is gradient
// descent over the distinct (rules hit, label) rows. The corpus of 3,125 messages takes
// seconds. Not thread-safe (no shared state; call from one thread).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "pampero/classifier/classifier.hpp"
#include "pampero/classifier/tokenizer.hpp"
#include "pampero/rules/engine.hpp"

namespace pampero::classifier {

struct CorpusMessage {
    std::string file;   // its file name
    std::string label;  // "ham", "hard-ham" or "spam" (its folder)
    bool spam = false;
    int fold = 0;
    std::string id;                     // message_id()
    std::vector<Token> tokens;          // tokenize()
    std::vector<std::string> hits;      // the rules it hits without the classifier
    std::vector<double> hit_scores;     // their rule files' scores (overlays left out): what a
                                        // fit keeps for a rule it never saw hit
    double rules_score = 0;             // their shipped no_classifier scores, summed
    double rules_score_classifier = 0;  // their shipped classifier scores (no bucket), summed
};

// Reads DIR/{ham,hard-ham,spam}/*.eml (a missing folder is empty) and scans each message
// with `engine` (no classifier). Error: a file that cannot be read.
Result<std::vector<CorpusMessage>> load_corpus(const std::string& dir, const scan::Engine& engine,
                                               int folds);

using Scores = std::map<std::string, double>;

// The shipped score of each BAYES_* bucket in `engine`'s rules, in the classifier score
// set (absent: no such rule).
Scores bucket_scores(const scan::Engine& engine);

struct FitOptions {
    double tag = 5.0;  // the default level's tag
    // Defaults: the best honest row of the corpus CV (CLASSIFIER-STATUS.md; picked on
    // that same CV, so mildly in-sample): 3 of 2,625 ham and 89.8% of spam out.
    double cost = 10.0;    // a ham's weight, a spam's being 1
    double l2 = 1e-4;      // L2 pull towards 0 (the loss is a weighted mean)
    int iterations = 300;  // Adam steps
    bool nonnegative_rules = true;
};

// Scores for every feature name in `rows` (each row: the rules hit and the bucket), fitted
// as described above; `fixed` scores are kept as they are.
Scores fit_scores(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& spam,
                  const Scores& fixed, const FitOptions& o);

struct CvOutcome {
    double probability = -1;  // the out-of-fold classifier's; -1 when it abstained
    std::string bucket;       // BAYES_*, empty when it abstained
    // The scan with the classifier: rules + bucket in the classifier set, or the rules in
    // the no_classifier set where it abstained.
    double shipped_score = 0;  // shipped scores
    double fitted_score = 0;   // scores fitted on the other folds
    // The scan without a classifier: the rules in the no_classifier set.
    double rules_fitted_score = 0;  // fitted on the other folds (shipped: rules_score)
    std::size_t candidate = 0;      // with CvOptions::grid: the one its fold chose
};

// A classifier and a fit of the classifier set, one candidate of CvOptions::grid.
struct CvCandidate {
    Options classifier;
    FitOptions fit;
};

struct CvOptions {
    int folds = 5;
    Options classifier;
    FitOptions fit;  // the classifier set's fit
    // The no_classifier set's fit. A ham costs 40 spam there: at 10 the rules alone take
    // 7 of 2,625 ham out of the Inbox in the corpus CV (57% of spam), at 40 two (27%):
    // without a classifier the ham bound comes first (CLASSIFIER-STATUS.md).
    FitOptions fit_rules{.cost = 40.0};
    // When not empty, the classifier's options and the classifier set's fit are chosen
    // among these (instead of `classifier` and `fit`) in each outer fold by a
    // cross-validation inside its training folds: each candidate's nested buckets, the
    // classifier set fitted on all training folds but one and counted on that one; the
    // candidate taking the most spam out among those keeping at most `select_ham` of the
    // inner ham out, or else the fewest ham (then the most spam; ties: the first). The
    // fold's own messages choose nothing.
    std::vector<CvCandidate> grid;
    double select_ham = 0.001;  // the bound
    Scores shipped;             // bucket_scores()
    Scores fixed;               // scores the fit keeps (rules with |score| >= 100)
};

// The max_tokens the shipped procedure chooses among (CvOptions::grid), by the inner CV:
// SpamBayes' 150 to this classifier's former 400. Chosen so in the corpus CV (nested: 2 of
// 2,625 ham and 451 of 500 spam out, where each fixed value gave 2-3 ham at 440-452;
// CLASSIFIER-STATUS.md).
inline constexpr std::size_t kMaxTokensGrid[] = {150, 200, 250, 300, 400};
// A grid of `classifier` and `fit` with each of kMaxTokensGrid.
std::vector<CvCandidate> max_tokens_grid(const Options& classifier, const FitOptions& fit);

// One outcome per message, in the order of `corpus` (see above). Errors: the memory
// store's (none in practice).
Result<std::vector<CvOutcome>> cross_validate(const std::vector<CorpusMessage>& corpus,
                                              const CvOptions& o);

// The candidate of `o.grid` (0 without one) that the CV over the whole corpus chooses, as
// each outer fold of cross_validate() chooses on its training folds: what a site installs
// (bench/classifier-cv --write-sets).
Result<std::size_t> choose_candidate(const std::vector<CorpusMessage>& corpus, const CvOptions& o);

// Rules in `corpus` whose shipped score is at least 100 in magnitude (GTUBE).
Scores fixed_scores(const std::vector<CorpusMessage>& corpus);

// The two score sets fitted on the whole corpus by the procedure cross_validate() measures:
// the no_classifier set on the rules hit, the classifier set on the rules hit and each
// message's out-of-fold bucket (`outcomes`, from cross_validate(): a bucket from a
// classifier that did not learn the message, as inside the nested CV). What a site ships
// or installs (bench/classifier-cv --write-sets).
struct ScoreSets {
    Scores no_classifier;
    Scores classifier;
};
ScoreSets fit_score_sets(const std::vector<CorpusMessage>& corpus,
                         const std::vector<CvOutcome>& outcomes, const CvOptions& o);

}  // namespace pampero::classifier
