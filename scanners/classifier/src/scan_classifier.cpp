#include "pampero/classifier/scan_classifier.hpp"

#include <fmt/format.h>

#include "pampero/classifier/sqlite_store.hpp"
#include "pampero/common/log.hpp"

namespace pampero::classifier {

using Clock = std::chrono::steady_clock;

Status ScanClassifier::open_locked() const {
    if (spec_.rfind("sqlite:", 0) != 0) {
        auto s = open_store(spec_, OpenMode::read);
        if (!s) return s.error();
        store_ = std::move(s).value();
        return ok_status();
    }
    auto s = SqliteStore::open(spec_.substr(7), OpenMode::read);
    if (!s) return s.error();
    sqlite_ = std::move(s).value();
    auto v = sqlite_->data_version();
    auto copy = sqlite_->copy_to_memory(max_cached_tokens_);
    if (!v || !copy) {
        const Error e = !v ? v.error() : copy.error();
        sqlite_.reset();
        return e;
    }
    version_ = *v;
    store_ = *copy ? std::shared_ptr<const ClassifierStore>(std::move(*copy))
                   : std::shared_ptr<const ClassifierStore>(sqlite_);
    next_check_ = Clock::now() + std::chrono::seconds(kRefreshSeconds);
    return ok_status();
}

void ScanClassifier::refresh_locked() const {
    const auto now = Clock::now();
    if (!sqlite_ || store_ == sqlite_ || now < next_check_) return;
    next_check_ = now + std::chrono::seconds(kRefreshSeconds);
    auto v = sqlite_->data_version();
    if (v && *v == version_) return;
    auto copy = sqlite_->copy_to_memory(max_cached_tokens_);
    if (!v || !copy) {
        // Keep serving the copy we have: it is a little stale, not wrong.
        if (!warned_.exchange(true)) {
            log::warning("{}; the classifier keeps its last copy",
                         (!v ? v.error() : copy.error()).message);
        }
        return;
    }
    version_ = *v;
    store_ = *copy ? std::shared_ptr<const ClassifierStore>(std::move(*copy))
                   : std::shared_ptr<const ClassifierStore>(sqlite_);
}

Result<std::shared_ptr<ScanClassifier>> ScanClassifier::open(const std::string& spec, Options o,
                                                             std::uint64_t max_cached_tokens,
                                                             bool quiet) {
    std::shared_ptr<ScanClassifier> c(new ScanClassifier(spec, o));
    c->max_cached_tokens_ = max_cached_tokens;
    std::lock_guard lock(c->mu_);
    if (auto st = c->open_locked(); !st) {
        if (st.error().kind == ErrorKind::config) return st.error();
        if (!quiet)
            log::warning("{}; the classifier abstains until it can be read", st.error().message);
        c->warned_ = true;
        c->next_try_ = Clock::now() + std::chrono::seconds(kReopenSeconds);
    }
    return c;
}

ScanClassifier::ScanClassifier(std::shared_ptr<const ClassifierStore> store, Options o)
    : options_(o), store_(std::move(store)) {}

std::shared_ptr<const ClassifierStore> ScanClassifier::store() const {
    std::lock_guard lock(mu_);
    if (spec_.empty()) return store_;
    if (store_) {
        refresh_locked();
        return store_;
    }
    const auto now = Clock::now();
    if (now < next_try_) return nullptr;
    next_try_ = now + std::chrono::seconds(kReopenSeconds);
    if (auto st = open_locked(); !st) {
        if (!warned_.exchange(true))
            log::warning("{}; the classifier abstains until it can be read", st.error().message);
        return nullptr;
    }
    log::notice("classifier store {} opened", spec_);
    warned_ = false;
    return store_;
}

bool ScanClassifier::available() const {
    return store() != nullptr;
}

std::optional<Classification> ScanClassifier::classify(const scan::Message& msg) const {
    const auto s = store();
    if (!s) return std::nullopt;             // no tokenizing for a classifier that abstains
    thread_local std::vector<Token> tokens;  // capacity kept (tokenizer.hpp)
    tokenize(msg, tokens);
    return classify_with(*s, tokens);
}

std::optional<Classification> ScanClassifier::classify_tokens(
    const std::vector<Token>& tokens) const {
    const auto s = store();
    if (!s) return std::nullopt;
    return classify_with(*s, tokens);
}

std::optional<Classification> ScanClassifier::classify_with(
    const ClassifierStore& s, const std::vector<Token>& tokens) const {
    const Classifier c(s, options_);
    auto r = c.classify(tokens);
    if (!r) {
        if (!warned_.exchange(true))
            log::warning("{}; the classifier abstains until it can be read", r.error().message);
        return std::nullopt;
    }
    warned_ = false;
    return *r;
}

std::string ScanClassifier::summary_line(const scan::Message& msg) const {
    return line_of(classify(msg));
}

std::string ScanClassifier::line_of(const std::optional<Classification>& c) {
    if (!c) return {};
    return fmt::format("classifier {} p={:.4f} tokens={}\n", c->bucket, c->probability, c->tokens);
}

}  // namespace pampero::classifier
