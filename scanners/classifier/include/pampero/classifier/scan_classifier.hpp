// scan_classifier.hpp - the classifier as the scanner uses it: a read-only store, opened
// once, and what to do when it is not there.
//
// It speaks through the rules like any other test: summary_line() ("classifier BAYES_95
// p=0.9712 tokens=150\n", or "" when it abstains) is appended by scan_message()
// (scanners/scan) to the message's mime_summary, where `target: mime` rules
// (conf/rules.d/45-classifier.yaml) score it, so levels apply and `pamperoctl scan`
// explains it. A sender cannot write that line: every other mime_summary line starts
// with a fixed word and file names are sanitized.
//
// Failure modes (issue 11): a store that is missing or cannot be read makes the
// classifier abstain - no line, no score, never a 4xx for every message - and is logged
// once (warning), then looked for again at most every kReopenSeconds (so a store that
// `pamperoctl learn` creates later is picked up without a restart). A store that is
// there but corrupt makes open() fail with Error::config naming the file: the caller
// refuses to start or reload. A read error during a scan abstains for that message and
// is logged once until the store answers again.
//
// Speed: a SQLite store is copied into memory when opened (a FrozenStore, up to
// kMaxCachedTokens tokens, ~11 bytes each plus 16 a distinct (spam, ham) pair: 365K
// tokens from 3,125 messages take 3.9 MB, the bound ~45 MB; the copy briefly needs 24
// bytes a token more) and copied again when `pamperoctl learn` has changed the file
// (PRAGMA data_version, checked at most every kRefreshSeconds, by the scan that finds it
// changed: that one scan waits for the copy, ~0.5 s per million tokens). Read in place,
// its B-tree lookups cost three times the CPU of the whole scan without the classifier
// (~1,500 tokens a message); from memory the classifier adds about a seventh of the
// scan's instructions (bench_scan under callgrind: +15%, tokenizing 60% of it, lookups
// and Fisher's combination the rest). A bigger store is read in place.
//
// Thread-safety: summary_line() and classify() may run in many threads at once (the
// store pointer is swapped under a mutex; the SQLite store serializes its reads).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>

#include "pampero/classifier/classifier.hpp"
#include "pampero/mime/message.hpp"

namespace pampero::classifier {

constexpr int kReopenSeconds = 60;
constexpr int kRefreshSeconds = 10;
constexpr std::uint64_t kMaxCachedTokens = 4'000'000;

class SqliteStore;

class ScanClassifier final {
  public:
    // Opens `spec` read-only (store.hpp). Error only for Error::config (corrupt, unknown
    // scheme); a missing or unreadable store gives an abstaining classifier.
    // `max_cached_tokens`: a SQLite store with more tokens is read in place instead of
    // copied (per-user models use a smaller bound, model_set.hpp); `quiet`: a store that
    // cannot be opened now is not logged (a per-user model that was never trained).
    static Result<std::shared_ptr<ScanClassifier>> open(
        const std::string& spec, Options o, std::uint64_t max_cached_tokens = kMaxCachedTokens,
        bool quiet = false);
    // Over a store the caller made (tests, the cross-validation bench).
    ScanClassifier(std::shared_ptr<const ClassifierStore> store, Options o);

    std::string summary_line(const scan::Message& msg) const;
    // nullopt: abstains (see above and classifier.hpp).
    std::optional<Classification> classify(const scan::Message& msg) const;
    // The same over the message's tokens (tokenizer.hpp), so that one message tokenized
    // once is classified by several models (model_set.hpp).
    std::optional<Classification> classify_tokens(const std::vector<Token>& tokens) const;
    // Whether a store is open now (false: abstaining until it is found again; looked for
    // again as classify() does, at most every kReopenSeconds).
    bool available() const;
    // The summary line of a classification ("" for none).
    static std::string line_of(const std::optional<Classification>& c);

  private:
    ScanClassifier(std::string spec, Options o) : spec_(std::move(spec)), options_(o) {}
    std::shared_ptr<const ClassifierStore> store() const;
    std::optional<Classification> classify_with(const ClassifierStore& s,
                                                const std::vector<Token>& tokens) const;
    // Opens spec_ (and copies a SQLite store into memory); false with a warning.
    Status open_locked() const;
    void refresh_locked() const;

    std::string spec_;  // empty: a store handed in, never reopened
    Options options_;
    std::uint64_t max_cached_tokens_ = kMaxCachedTokens;
    mutable std::mutex mu_;
    mutable std::shared_ptr<const ClassifierStore> store_;  // what classify() reads
    mutable std::shared_ptr<SqliteStore> sqlite_;           // the file behind a copy
    mutable std::int64_t version_ = 0;                      // its data_version when copied
    mutable std::chrono::steady_clock::time_point next_try_{};
    mutable std::chrono::steady_clock::time_point next_check_{};
    mutable std::atomic<bool> warned_{false};
};

}  // namespace pampero::classifier
