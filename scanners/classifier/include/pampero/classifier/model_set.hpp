// model_set.hpp - per-domain and per-user classifier models (issue 11: "per-site model by
// default; per-domain or per-user models as an option"), as SpamAssassin's per-user Bayes
// and rspamd's per-user statistics do.
//
// classifier.model (pampero.yaml) chooses which model scores and learns a recipient's mail:
//   site     one model for everybody: classifier.store (the default; no ModelSet at all)
//   domain   the recipient's domain's model
//   user     the recipient's own model
// A model's store is classifier.model_store with every %m replaced by the model's key
// (model_key() below), e.g. sqlite:/var/lib/pampero/bayes.d/%m.db or
// redis://127.0.0.1:6379?prefix=pampero:bayes:%m: . The site store (classifier.store)
// stays: a recipient whose model abstains (never trained, or fewer than min_spam spam /
// min_ham ham learned, or unreadable) is scored with the site model ("site (fallback)");
// when that abstains too, no classifier line (the rules' no_classifier score set).
//
// Bounds (each a pampero.yaml key, and why):
//   max_open_models (256)        models kept open per process, least recently used
//                                closed first. A SQLite model is copied into memory when
//                                opened (FrozenStore, 32-64 bytes a token) up to
//                                kMaxModelCachedTokens tokens (a bigger one is read in
//                                place through its own SQLite connection): 256 models of
//                                that size are at most ~1 GB, a typical user's model
//                                (~400 messages learned, ~50K tokens) ~2-4 MB.
//   max_models_per_message (8)   distinct models one message consults; the recipients
//                                beyond them are scored with the site model. A spammer
//                                sending to 1,000 addresses costs at most 8 model opens
//                                and 8 classifications, not 1,000.
//   kMaxMissingModels            keys remembered as having no model (never trained,
//                                unreadable, corrupt): asked again at most every
//                                kReopenSeconds, so that most users, who never train, cost
//                                one map lookup a message. Oldest forgotten first.
//   kMaxModelKeyBytes            an escaped key longer than this has no model of its own
//                                (the site model scores it): a file name stays under
//                                NAME_MAX with room for the template's own text.
// Failure modes: a model's store that is missing or unreadable abstains quietly (most
// users never train one); corrupt (Error::config) abstains with one warning naming the
// store until it is found good again - never a refusal to start, unlike the site store;
// a read error during a scan (Redis down) abstains for that message (ScanClassifier).
// Each open SQLite model keeps kModelDescriptors file descriptors, each open Redis model
// its own connections (at most 8, one while idle): max_open_models bounds both.
// Thread-safety: votes() and model() from many threads at once (one mutex around the
// maps, held only while finding or inserting; opening a model happens outside it).
#pragma once

#include <chrono>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pampero/classifier/scan_classifier.hpp"
#include "pampero/common/config.hpp"

namespace pampero::classifier {

enum class ModelKind { site, domain, user };
// "site", "domain", "user"; nullopt for anything else.
std::optional<ModelKind> parse_model_kind(std::string_view s);
const char* to_string(ModelKind k);

constexpr std::size_t kMaxModelKeyBytes = 200;
constexpr std::size_t kMaxMissingModels = 65536;
constexpr std::uint64_t kMaxModelCachedTokens = 131072;
// File descriptors an open SQLite model holds (the file, its -wal and -shm: the
// connection stays open to notice learning, PRAGMA data_version): pampero-milter raises
// its descriptor limit by max_open_models times this.
constexpr std::size_t kModelDescriptors = 3;

// The model key of a recipient address: the whole address (user) or what follows its last
// '@' (domain), ASCII-lowercased (Bob@Example.COM and bob@example.com share a model),
// then escaped so that it is safe as a file name and in a Redis key or URL query: every
// byte outside [a-z0-9._+=@-] (so '/', ':', '%', '&', '?', control characters, spaces,
// UTF-8 of an internationalized address) becomes %XX, and a leading '.' too (no "." or
// ".." or hidden file). nullopt (the site model scores that recipient): kind site, an
// address without '@' or with an empty local part or domain, or a key over
// kMaxModelKeyBytes once escaped.
std::optional<std::string> model_key(ModelKind kind, std::string_view address);

// The store spec of a model: `store_template` with every "%m" replaced by `key` (in a
// redis URL, its '%' written %25: the query is %-decoded, the prefix keeps the escapes).
std::string model_spec(const std::string& store_template, const std::string& key);

// "user:bob@example.org", "domain:example.org".
std::string model_name(ModelKind kind, const std::string& key);

// Opens a model's store to learn into it (pamperoctl learn --for): as open_store(), and a
// missing directory of a sqlite: model (bayes.d/) is made first, mode 2770 whatever the
// umask, as /var/lib/pampero is (the store file itself is 0660, sqlite_store.cpp).
Result<std::unique_ptr<ClassifierStore>> open_model_store(const std::string& spec, OpenMode mode);

struct ModelSetOptions {
    ModelKind kind = ModelKind::user;
    std::string store_template;  // with %m
    std::size_t max_open_models = 256;
    std::size_t max_models_per_message = 8;
    std::uint64_t max_cached_tokens = kMaxModelCachedTokens;
};

// One recipient's vote: which model voted and what it said.
struct Vote {
    // "user:bob@example.org" / "domain:example.org" (its own model voted), "site
    // (fallback)" (its model abstained, the site model voted), "site" (no model of its
    // own: unsafe key, or past max_models_per_message), "none" (nothing voted).
    std::string model;
    std::optional<Classification> classification;
    std::string line() const { return ScanClassifier::line_of(classification); }
};

class ModelSet {
  public:
    // `site`: the site model (classifier.store), nullptr for none.
    ModelSet(std::shared_ptr<const ScanClassifier> site, ModelSetOptions mo, Options o);

    // One vote per address, in order: the message is tokenized once, each distinct model
    // (at most max_models_per_message) classifies it once, the site model at most once.
    std::vector<Vote> votes(const scan::Message& msg, std::span<const std::string> addresses) const;

    // The model of a key, opened (or found open) now; nullptr when it has none that can
    // be read (missing, unreadable, corrupt: see above).
    std::shared_ptr<const ScanClassifier> model(const std::string& key) const;

    const ScanClassifier* site() const { return site_.get(); }
    const ModelSetOptions& options() const { return mo_; }
    std::size_t open_models() const;     // for tests
    std::size_t missing_models() const;  // likewise

  private:
    using Clock = std::chrono::steady_clock;
    struct Open {
        std::shared_ptr<const ScanClassifier> classifier;
        std::list<std::string>::iterator lru;  // its place in lru_ (front: newest)
    };
    struct Missing {
        Clock::time_point retry;
        bool warned = false;  // corrupt: logged once until it is found good
        std::list<std::string>::iterator age;
    };

    std::shared_ptr<const ScanClassifier> site_;
    ModelSetOptions mo_;
    Options options_;
    mutable std::mutex mu_;
    mutable std::unordered_map<std::string, Open> open_;
    mutable std::list<std::string> lru_;
    mutable std::unordered_map<std::string, Missing> missing_;
    mutable std::list<std::string> missing_age_;  // front: newest
};

// The classifier's Options from pampero.yaml's classifier: section.
Options options_of(const ClassifierConfig& c);
// The ModelSet pampero.yaml asks for (classifier.model domain or user) over the site
// model `site`; nullptr for model: site (or the classifier disabled).
std::shared_ptr<const ModelSet> make_model_set(const ClassifierConfig& c,
                                               std::shared_ptr<const ScanClassifier> site);

}  // namespace pampero::classifier
