// scan_classifier.hpp - the classifier as the scanner uses it (scan::MessageClassifier):
// a read-only store, opened once, and what to do when it is not there.
//
// Failure modes (issue 11): a store that is missing or cannot be read makes the
// classifier abstain - no line, no score, never a 4xx for every message - and is logged
// once (warning), then looked for again at most every kReopenSeconds (so a store that
// `pamperoctl learn` creates later is picked up without a restart). A store that is
// there but corrupt makes open() fail with Error::config naming the file: the caller
// refuses to start or reload. A read error during a scan abstains for that message and
// is logged once until the store answers again.
//
// Thread-safety: summary_line() and classify() may run in many threads at once (the
// store pointer is swapped under a mutex; the SQLite store serializes its reads).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>

#include "pampero/classifier/classifier.hpp"
#include "pampero/scan/scan_message.hpp"

namespace pampero::classifier {

constexpr int kReopenSeconds = 60;

class ScanClassifier final : public scan::MessageClassifier {
  public:
    // Opens `spec` read-only (store.hpp). Error only for Error::config (corrupt, unknown
    // scheme); a missing or unreadable store gives an abstaining classifier.
    static Result<std::shared_ptr<ScanClassifier>> open(const std::string& spec, Options o);
    // Over a store the caller made (tests, the cross-validation bench).
    ScanClassifier(std::shared_ptr<const ClassifierStore> store, Options o);

    std::string summary_line(const scan::Message& msg) const override;
    // nullopt: abstains (see above and classifier.hpp).
    std::optional<Classification> classify(const scan::Message& msg) const;

  private:
    ScanClassifier(std::string spec, Options o) : spec_(std::move(spec)), options_(o) {}
    std::shared_ptr<const ClassifierStore> store() const;

    std::string spec_;  // empty: a store handed in, never reopened
    Options options_;
    mutable std::mutex mu_;
    mutable std::shared_ptr<const ClassifierStore> store_;
    mutable std::chrono::steady_clock::time_point next_try_{};
    mutable std::atomic<bool> warned_{false};
};

}  // namespace pampero::classifier
