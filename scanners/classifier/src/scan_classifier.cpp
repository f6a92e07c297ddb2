#include "pampero/classifier/scan_classifier.hpp"

#include <fmt/format.h>

#include "pampero/common/log.hpp"

namespace pampero::classifier {

Result<std::shared_ptr<ScanClassifier>> ScanClassifier::open(const std::string& spec, Options o) {
    std::shared_ptr<ScanClassifier> c(new ScanClassifier(spec, o));
    auto s = open_store(spec, OpenMode::read);
    if (!s) {
        if (s.error().kind == ErrorKind::config) return s.error();
        log::warning("{}; the classifier abstains until it can be read", s.error().message);
        c->warned_ = true;
        c->next_try_ = std::chrono::steady_clock::now() + std::chrono::seconds(kReopenSeconds);
    } else {
        c->store_ = std::move(s).value();
    }
    return c;
}

ScanClassifier::ScanClassifier(std::shared_ptr<const ClassifierStore> store, Options o)
    : options_(o), store_(std::move(store)) {}

std::shared_ptr<const ClassifierStore> ScanClassifier::store() const {
    std::lock_guard lock(mu_);
    if (store_ || spec_.empty()) return store_;
    const auto now = std::chrono::steady_clock::now();
    if (now < next_try_) return nullptr;
    next_try_ = now + std::chrono::seconds(kReopenSeconds);
    auto s = open_store(spec_, OpenMode::read);
    if (!s) {
        if (!warned_.exchange(true))
            log::warning("{}; the classifier abstains until it can be read", s.error().message);
        return nullptr;
    }
    log::notice("classifier store {} opened", spec_);
    warned_ = false;
    store_ = std::move(s).value();
    return store_;
}

std::optional<Classification> ScanClassifier::classify(const scan::Message& msg) const {
    const auto s = store();
    if (!s) return std::nullopt;
    const Classifier c(*s, options_);
    auto r = c.classify(tokenize(msg));
    if (!r) {
        if (!warned_.exchange(true))
            log::warning("{}; the classifier abstains until it can be read", r.error().message);
        return std::nullopt;
    }
    warned_ = false;
    return *r;
}

std::string ScanClassifier::summary_line(const scan::Message& msg) const {
    const auto c = classify(msg);
    if (!c) return {};
    return fmt::format("classifier {} p={:.4f} tokens={}\n", c->bucket, c->probability, c->tokens);
}

}  // namespace pampero::classifier
