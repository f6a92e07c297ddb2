// model_set.cpp - per-domain and per-user classifier models (see model_set.hpp).
#include "pampero/classifier/model_set.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "pampero/common/log.hpp"

namespace pampero::classifier {

std::optional<ModelKind> parse_model_kind(std::string_view s) {
    if (s == "site") return ModelKind::site;
    if (s == "domain") return ModelKind::domain;
    if (s == "user") return ModelKind::user;
    return std::nullopt;
}

const char* to_string(ModelKind k) {
    switch (k) {
        case ModelKind::site:
            return "site";
        case ModelKind::domain:
            return "domain";
        case ModelKind::user:
            return "user";
    }
    return "?";
}

std::optional<std::string> model_key(ModelKind kind, std::string_view address) {
    if (kind == ModelKind::site) return std::nullopt;
    const auto at = address.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) return std::nullopt;
    const std::string_view raw = kind == ModelKind::domain ? address.substr(at + 1) : address;
    std::string key;
    key.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
        auto c = static_cast<unsigned char>(raw[i]);
        if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c - 'A' + 'a');
        const bool safe = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                          c == '_' || c == '+' || c == '=' || c == '@' || c == '-';
        if (safe && !(i == 0 && c == '.')) {
            key += static_cast<char>(c);
        } else {
            key += fmt::format("%{:02X}", static_cast<unsigned>(c));
        }
        // Bound the work on a hostile address as well as the result.
        if (key.size() > kMaxModelKeyBytes) return std::nullopt;
    }
    return key;
}

std::string model_spec(const std::string& store_template, const std::string& key) {
    // A Redis URL's query is %-decoded (redis_store.hpp): the key's own %XX escapes go in
    // as %25XX, so that the prefix in Redis keeps them (a ':' never becomes a separator).
    std::string k = key;
    if (store_template.rfind("redis", 0) == 0) {
        k.clear();
        for (char c : key) k += c == '%' ? std::string("%25") : std::string(1, c);
    }
    std::string out;
    out.reserve(store_template.size() + k.size());
    for (std::size_t i = 0; i < store_template.size(); ++i) {
        if (store_template[i] == '%' && i + 1 < store_template.size() &&
            store_template[i + 1] == 'm') {
            out += k;
            ++i;
        } else {
            out += store_template[i];
        }
    }
    return out;
}

std::string model_name(ModelKind kind, const std::string& key) {
    return fmt::format("{}:{}", to_string(kind), key);
}

Result<std::unique_ptr<ClassifierStore>> open_model_store(const std::string& spec, OpenMode mode) {
    if (mode == OpenMode::create && spec.rfind("sqlite:", 0) == 0) {
        const std::filesystem::path dir = std::filesystem::path(spec.substr(7)).parent_path();
        struct stat st {};
        if (!dir.empty() && ::stat(dir.c_str(), &st) != 0 && errno == ENOENT) {
            // One level only: bayes.d/ under an existing /var/lib/pampero. 2770 whatever
            // the umask, so that root (pamperoctl) and the mail user (the Dovecot pipe)
            // both create models in it; setgid keeps the parent's group on the files.
            if (::mkdir(dir.c_str(), 02770) != 0 && errno != EEXIST)
                return Error::temporary(fmt::format("classifier model directory {}: {}",
                                                    dir.string(), std::strerror(errno)));
            ::chmod(dir.c_str(), 02770);
        }
    }
    return open_store(spec, mode);
}

ModelSet::ModelSet(std::shared_ptr<const ScanClassifier> site, ModelSetOptions mo, Options o)
    : site_(std::move(site)), mo_(std::move(mo)), options_(o) {
    if (mo_.max_open_models == 0) mo_.max_open_models = 1;
}

std::size_t ModelSet::open_models() const {
    std::lock_guard lock(mu_);
    return open_.size();
}

std::size_t ModelSet::missing_models() const {
    std::lock_guard lock(mu_);
    return missing_.size();
}

std::shared_ptr<const ScanClassifier> ModelSet::model(const std::string& key) const {
    const auto now = Clock::now();
    {
        std::lock_guard lock(mu_);
        if (auto it = open_.find(key); it != open_.end()) {
            lru_.splice(lru_.begin(), lru_, it->second.lru);
            return it->second.classifier;
        }
        if (auto it = missing_.find(key); it != missing_.end() && now < it->second.retry)
            return nullptr;
    }
    // Opened outside the lock: copying a model into memory takes a while, and other
    // threads' models must not wait for it. Two threads may open the same model at once;
    // the second to finish uses the first's.
    const std::string spec = model_spec(mo_.store_template, key);
    auto c = ScanClassifier::open(spec, options_, mo_.max_cached_tokens, true);
    const bool usable = c && (*c)->available();
    std::lock_guard lock(mu_);
    if (!usable) {
        auto it = missing_.find(key);
        if (it == missing_.end()) {
            missing_age_.push_front(key);
            it = missing_.emplace(key, Missing{{}, false, missing_age_.begin()}).first;
            if (missing_.size() > kMaxMissingModels) {
                missing_.erase(missing_age_.back());
                missing_age_.pop_back();
            }
        }
        it->second.retry = now + std::chrono::seconds(kReopenSeconds);
        if (!c && !it->second.warned) {
            // Corrupt or foreign: this model abstains, the rest of the site is scanned.
            log::warning(
                "classifier model {}: {}; it abstains (the site model scores its mail) "
                "until the store is repaired or removed",
                model_name(mo_.kind, key), c.error().message);
            it->second.warned = true;
        }
        return nullptr;
    }
    if (auto it = missing_.find(key); it != missing_.end()) {
        if (it->second.warned) log::notice("classifier model {} readable again", key);
        missing_age_.erase(it->second.age);
        missing_.erase(it);
    }
    if (auto it = open_.find(key); it != open_.end()) return it->second.classifier;
    lru_.push_front(key);
    open_.emplace(key, Open{*c, lru_.begin()});
    while (open_.size() > mo_.max_open_models) {
        // A scan still holding the evicted model keeps it alive until it is done.
        open_.erase(lru_.back());
        lru_.pop_back();
    }
    return *c;
}

std::vector<Vote> ModelSet::votes(const scan::Message& msg,
                                  std::span<const std::string> addresses) const {
    thread_local std::vector<Token> tokens;  // capacity kept (tokenizer.hpp)
    bool tokenized = false;
    const auto toks = [&]() -> const std::vector<Token>& {
        if (!tokenized) tokenize(msg, tokens);
        tokenized = true;
        return tokens;
    };
    std::optional<std::optional<Classification>> site;  // asked at most once
    const auto site_vote = [&]() -> const std::optional<Classification>& {
        if (!site) {
            site.emplace();
            if (site_ && site_->available()) *site = site_->classify_tokens(toks());
        }
        return *site;
    };
    const auto fallback = [&](const char* label) {
        const auto& s = site_vote();
        return Vote{s ? label : "none", s};
    };

    std::vector<Vote> out;
    out.reserve(addresses.size());
    // Each distinct model's vote, at most max_models_per_message of them (model_set.hpp).
    std::unordered_map<std::string, std::size_t> seen;  // key -> index in out
    for (const auto& a : addresses) {
        const auto key = model_key(mo_.kind, a);
        if (!key) {
            out.push_back(fallback("site"));
            continue;
        }
        if (auto it = seen.find(*key); it != seen.end()) {
            out.push_back(out[it->second]);
            continue;
        }
        if (seen.size() >= mo_.max_models_per_message) {
            out.push_back(fallback("site"));
            continue;
        }
        seen.emplace(*key, out.size());
        const auto m = model(*key);
        std::optional<Classification> c;
        if (m) c = m->classify_tokens(toks());
        if (c) {
            out.push_back(Vote{model_name(mo_.kind, *key), c});
        } else {
            out.push_back(fallback("site (fallback)"));
        }
    }
    return out;
}

Options options_of(const ClassifierConfig& c) {
    Options o;
    o.min_spam = static_cast<std::uint64_t>(c.min_spam);
    o.min_ham = static_cast<std::uint64_t>(c.min_ham);
    return o;
}

std::shared_ptr<const ModelSet> make_model_set(const ClassifierConfig& c,
                                               std::shared_ptr<const ScanClassifier> site) {
    const auto kind = parse_model_kind(c.model);
    if (!c.enabled || !kind || *kind == ModelKind::site) return nullptr;
    ModelSetOptions mo;
    mo.kind = *kind;
    mo.store_template = c.model_store;
    mo.max_open_models = static_cast<std::size_t>(c.max_open_models);
    mo.max_models_per_message = static_cast<std::size_t>(c.max_models_per_message);
    return std::make_shared<const ModelSet>(std::move(site), std::move(mo), options_of(c));
}

}  // namespace pampero::classifier
