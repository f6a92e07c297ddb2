// classifier.hpp - the statistical spam classifier: token probabilities, their
// combination, learning, and the buckets the rules score.
//
// The design follows bogofilter and SpamBayes (Gary Robinson's method), with rspamd's
// OSB tokens (tokenizer.hpp):
//   - each token's spam probability is Robinson's f(w): with b = spam count / spam
//     messages and g = min(1, ham_bias x ham count / ham messages), p = b / (b + g)
//     (ham_bias > 1 is Paul Graham's "A Plan for Spam" bias: ham counted twice, so that
//     a word seen in both classes leans ham; 1 = none), pulled towards `robx`
//     with strength `robs` when the token was seen few times:
//         f(w) = (robs * robx + n * p) / (robs + n),   n = spam count + ham count;
//   - tokens nearer 0.5 than `min_dev` say nothing and are left out; of the rest, the
//     `max_tokens` farthest from 0.5 are combined (SpamBayes' max_discriminators: OSB
//     tokens come in correlated groups, and a long message must not win by length);
//   - Fisher's method combines them: H = C⁻¹(-2 Σ ln f, 2n), S = C⁻¹(-2 Σ ln(1 - f), 2n)
//     (C⁻¹ the inverse chi-square survival function), and the message's probability is
//     (1 + H - S) / 2: near 1 when the spam evidence is strong and the ham evidence weak,
//     near 0 for the reverse, near 0.5 when both or neither are strong (SpamBayes calls
//     that "unsure" and so do the BAYES_40..60 buckets);
//   - the classifier abstains (no bucket, no score) until at least `min_spam` spam and
//     `min_ham` ham messages are learned (SpamAssassin and rspamd use 200 each: below
//     that the counts are noise), and on a message with fewer than `min_tokens` tokens
//     left after min_dev.
//
// Learning: a message counts once (its id, tokenizer.hpp message_id()). Learning it
// again as the same class does nothing; as the other class moves its counts over
// (what a user correcting a misfiled message means); forgetting takes its counts out.
//
// Thread-safety: Classifier holds no state of its own besides the store; it is as
// thread-safe as the store it reads (SqliteStore: yes).
#pragma once

#include <optional>
#include <string>
#include <unordered_map>

#include "pampero/classifier/store.hpp"

namespace pampero::classifier {

struct Options {
    std::uint64_t min_spam = 200;  // spam messages learned before the classifier votes
    std::uint64_t min_ham = 200;   // ham messages likewise
    std::size_t min_tokens = 5;    // tokens with something to say, per message
    std::size_t max_tokens = 250;  // the most telling tokens combined: what the corpus CV
                                   // chooses among 150..400 (cross_validation.hpp,
                                   // kMaxTokensGrid; SpamBayes 150, bogofilter-like 400)
    double robs = 1.0;             // strength of the prior on rarely seen tokens
    double robx = 0.5;             // the prior: an unseen token's probability
    double ham_bias = 1.0;         // ham counts weigh this much in f(w) (Graham: 2)
    double min_dev = 0.1;          // tokens with |f(w) - 0.5| below this are ignored
    bool log_odds = false;         // fill Classification::log_odds (costly; the scan and
                                   // its buckets use the probability only)
};

struct Classification {
    double probability = 0.5;  // that the message is spam
    std::size_t tokens = 0;    // tokens combined
    double log_odds = 0;       // with Options::log_odds only: log10(p / (1 - p)), exact
                               // where p rounds to 0 or 1 (the CV's table: 4 spam in 5
                               // are past p = 1 - 1e-6, no ham is)
    const char* bucket = "";   // BAYES_00 .. BAYES_999 (see bucket_of)
};

// The rule bucket of a probability: BAYES_00 [0, .01), BAYES_05 [.01, .05), BAYES_20
// [.05, .2), BAYES_40 [.2, .4), BAYES_50 [.4, .6), BAYES_60 [.6, .8), BAYES_80 [.8, .95),
// BAYES_95 [.95, .99), BAYES_99 [.99, .999), BAYES_999 [.999, 1]. One bucket a message.
const char* bucket_of(double probability);

// The upper tail of the chi-square distribution with `dof` (even) degrees of freedom.
double chi2q(double x2, std::size_t dof);

// Robinson's f(w) for one token (see above).
double token_probability(const TokenCounts& counts, const Totals& totals, const Options& o);

// Fisher's combination of token probabilities (see above); 0.5 for none.
double combine(const std::vector<double>& probabilities);
// The same as log10(p / (1 - p)), computed in log space so that it stays exact where p
// rounds to 0 or 1 in a double (a spam's p is often 1 - 1e-30). 0 for none.
double combine_log_odds(const std::vector<double>& probabilities);

class Classifier {
  public:
    Classifier(const ClassifierStore& store, Options options) : store_(store), options_(options) {}

    // nullopt: abstains (too little learned, too few telling tokens). Store errors pass
    // through (the caller abstains too, see ScanClassifier).
    Result<std::optional<Classification>> classify(const std::vector<Token>& tokens) const;
    const Options& options() const { return options_; }

  private:
    const ClassifierStore& store_;
    Options options_;
};

// What learning one message did.
enum class LearnOutcome { learned, already, relearned, forgotten, unknown };
const char* to_string(LearnOutcome o);

// Learns many messages into a store in batches: changes accumulate in memory and go to
// the store in one apply() per flush() (learning 3,000 messages is then a few
// transactions, not three million statements one by one). A message's id is looked up
// in the pending batch first, then in the store. When the store bounds an update
// (ClassifierStore::max_update_tokens()), learn() and forget() flush first whenever the
// message's tokens would take the pending batch past the bound: each apply() then holds
// whole messages (their ids with their counts, so a failure between two leaves every
// message either learned or not) and at most max(bound, one message's tokens) token
// deltas. Not thread-safe.
class Learner {
  public:
    explicit Learner(ClassifierStore& store) : store_(store) {}
    Result<LearnOutcome> learn(const std::string& id, const std::vector<Token>& tokens, Class c);
    Result<LearnOutcome> forget(const std::string& id, const std::vector<Token>& tokens);
    Status flush();
    std::size_t pending() const { return pending_messages_; }

  private:
    Result<std::optional<Class>> known(const std::string& id) const;
    Status make_room(std::size_t tokens);
    void count(const std::vector<Token>& tokens, Class c, std::int64_t sign);

    ClassifierStore& store_;
    std::unordered_map<Token, std::pair<std::int64_t, std::int64_t>> deltas_;
    std::unordered_map<std::string, std::optional<Class>> ids_;
    std::int64_t spam_ = 0;
    std::int64_t ham_ = 0;
    std::size_t pending_messages_ = 0;
};

}  // namespace pampero::classifier
