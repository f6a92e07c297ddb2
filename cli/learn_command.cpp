// learn_command.cpp - `pamperoctl learn spam|ham|forget FILE|DIR...` and `pamperoctl
// classifier stats`: the classifier's store (scanners/classifier) filled from the
// admin's (or, through the Dovecot hook, the users') sorted mail.
//
// What a FILE or DIR may be:
//   - a Maildir folder (has cur/ or new/): every message in cur/ and new/;
//   - any other folder: every file in it and its sub-folders, in name order;
//   - an mbox file (its first line starts with "From "): each message, split at "From "
//     lines, ">From " lines unquoted one level (mboxrd);
//   - any other file: one message;
//   - "-": one message read from standard input (what the Dovecot hook pipes in,
//     conf/dovecot/); a leading mbox "From " line makes it an mbox like a file's.
// Bounds: a message is read up to kMaxLearnBytes (the rest of a longer one is skipped,
// as the scanner reads only its scan limit anyway); changes go to the store in batches
// of kBatch messages (one transaction each), so learning thousands takes seconds.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "pampero/classifier/classifier.hpp"
#include "pampero/classifier/model_set.hpp"
#include "pampero/classifier/store.hpp"
#include "pampero/rules/engine.hpp"

namespace pampero::cli {
namespace {

namespace fs = std::filesystem;
using classifier::LearnOutcome;

constexpr std::size_t kMaxLearnBytes = 10 * 1024 * 1024;
constexpr std::size_t kBatch = 1000;

using MessageFn = std::function<bool(const std::string& where, const std::string& raw)>;

std::string read_file(const fs::path& p, bool& ok) {
    std::ifstream in(p, std::ios::binary);
    ok = static_cast<bool>(in);
    std::string raw(kMaxLearnBytes, '\0');
    in.read(raw.data(), static_cast<std::streamsize>(raw.size()));
    raw.resize(static_cast<std::size_t>(in.gcount()));
    return raw;
}

// Standard input up to kMaxLearnBytes; the rest is read and dropped, so the program
// piping the message in (Dovecot's sieve pipe) never sees a broken pipe.
std::string read_stdin() {
    std::string raw;
    char buf[65536];
    while (std::cin.read(buf, sizeof buf) || std::cin.gcount() > 0) {
        const auto n = static_cast<std::size_t>(std::cin.gcount());
        if (raw.size() < kMaxLearnBytes) raw.append(buf, std::min(n, kMaxLearnBytes - raw.size()));
    }
    return raw;
}

bool each_in_mbox(std::istream& in, const std::string& name, const MessageFn& fn) {
    std::string line;
    std::string msg;
    std::size_t n = 0;
    bool ok = true;
    auto emit = [&] {
        if (!msg.empty()) ok = fn(fmt::format("{} (message {})", name, ++n), msg) && ok;
        msg.clear();
    };
    while (std::getline(in, line)) {
        if (line.rfind("From ", 0) == 0) {
            emit();
            continue;
        }
        // mboxrd: ">From ", ">>From " ... lost one '>' when quoted.
        const auto gt = line.find_first_not_of('>');
        if (gt > 0 && gt != std::string::npos && line.compare(gt, 5, "From ") == 0)
            line.erase(0, 1);
        if (msg.size() < kMaxLearnBytes) msg += line + "\n";
    }
    emit();
    return ok;
}

bool each_message(const std::string& arg, const MessageFn& fn) {
    if (arg == "-") {
        std::string raw = read_stdin();
        if (raw.rfind("From ", 0) == 0) {
            std::istringstream in(std::move(raw));
            return each_in_mbox(in, "stdin", fn);
        }
        return fn("stdin", raw);
    }
    std::error_code ec;
    const fs::path p(arg);
    if (fs::is_directory(p, ec)) {
        std::vector<fs::path> files;
        const bool maildir = fs::is_directory(p / "cur", ec) || fs::is_directory(p / "new", ec);
        if (maildir) {
            for (const char* sub : {"cur", "new"}) {
                if (!fs::is_directory(p / sub, ec)) continue;
                for (const auto& e : fs::directory_iterator(p / sub, ec))
                    if (e.is_regular_file()) files.push_back(e.path());
            }
        } else {
            for (const auto& e : fs::recursive_directory_iterator(p, ec))
                if (e.is_regular_file()) files.push_back(e.path());
        }
        if (ec) {
            fmt::print(stderr, "pamperoctl: {}: {}\n", arg, ec.message());
            return false;
        }
        std::sort(files.begin(), files.end());
        bool ok = true;
        for (const auto& f : files) ok = each_message(f.string(), fn) && ok;
        return ok;
    }
    bool readable = false;
    std::string raw = read_file(p, readable);
    if (!readable) {
        fmt::print(stderr, "pamperoctl: {}: cannot open\n", arg);
        return false;
    }
    if (raw.rfind("From ", 0) == 0) {
        std::ifstream in(p, std::ios::binary);
        return each_in_mbox(in, p.string(), fn);
    }
    return fn(arg, raw);
}

}  // namespace

namespace {

// The store of the model of `address` (model_set.hpp): the site store for an empty
// address or classifier.model site (the learn summary line names the store, so a user's
// moves learned into the site model say so); an address that cannot name a model
// (no '@', too long) is a usage error.
struct ModelStore {
    std::string spec;
    std::string model;  // "user:bob@example.org"; "" for the site store
};

Result<ModelStore> store_for(const ClassifierConfig& cfg, const std::string& address) {
    const auto kind = classifier::parse_model_kind(cfg.model);
    if (address.empty() || !kind || *kind == classifier::ModelKind::site)
        return ModelStore{cfg.store, ""};
    const auto key = classifier::model_key(*kind, address);
    if (!key)
        return Error::permanent(fmt::format(
            "--for '{}': not an address that names a model (LOCAL@DOMAIN, at most {} bytes)",
            address, classifier::kMaxModelKeyBytes));
    return ModelStore{classifier::model_spec(cfg.model_store, *key),
                      classifier::model_name(*kind, *key)};
}

}  // namespace

int learn(Context& c, const std::string& what, const std::vector<std::string>& paths, bool verbose,
          const std::string& for_address) {
    if (what != "spam" && what != "ham" && what != "forget")
        return fail(fmt::format("learn: '{}': expected spam, ham or forget", what), EX_USAGE);
    const auto& cfg = c.config().classifier;
    // Learning needs the tokens only: parse as the scanner does, compile no rule.
    auto parser = scan::load_parser(c.config());
    if (!parser) return fail(parser.error());
    const auto spec = store_for(cfg, for_address);
    if (!spec) return fail(spec.error().message, EX_USAGE);
    auto store = classifier::open_model_store(
        spec->spec, what == "forget" ? classifier::OpenMode::write : classifier::OpenMode::create);
    if (!store) return fail(store.error());
    classifier::Learner learner(**store);
    std::size_t counts[5] = {};
    std::optional<Error> error;
    // An unreadable path is reported and makes the exit status 1; the others are still
    // learned. A store error stops everything (what was flushed stays learned).
    bool all_read = true;
    if (std::count(paths.begin(), paths.end(), "-") > 1)
        return fail("learn: '-' (standard input) may be given once", EX_USAGE);
    for (const auto& path : paths) {
        if (error) break;
        all_read =
            each_message(path,
                         [&](const std::string& where, const std::string& raw) {
                             if (error) return false;
                             const auto msg = parser->parse(raw);
                             const auto tokens = classifier::tokenize(msg);
                             const auto id = classifier::message_id(msg);
                             auto r = what == "forget"
                                          ? learner.forget(id, tokens)
                                          : learner.learn(id, tokens,
                                                          what == "spam" ? classifier::Class::spam
                                                                         : classifier::Class::ham);
                             if (!r) {
                                 error = r.error();
                                 return false;
                             }
                             ++counts[static_cast<int>(*r)];
                             if (verbose) fmt::print("{}: {}\n", where, classifier::to_string(*r));
                             if (learner.pending() >= kBatch) {
                                 if (auto st = learner.flush(); !st) {
                                     error = st.error();
                                     return false;
                                 }
                             }
                             return true;
                         }) &&
            all_read;
    }
    if (!error) {
        if (auto st = learner.flush(); !st) error = st.error();
    }
    if (error) return fail(*error);
    auto stats = (*store)->stats();
    if (!stats) return fail(stats.error());
    using O = LearnOutcome;
    fmt::print(
        "{}: learned {}, relearned {}, already learned {}, forgotten {}, not learned {}; the "
        "store holds {} spam and {} ham\n",
        (*store)->name(), counts[static_cast<int>(O::learned)],
        counts[static_cast<int>(O::relearned)], counts[static_cast<int>(O::already)],
        counts[static_cast<int>(O::forgotten)], counts[static_cast<int>(O::unknown)],
        stats->totals.spam, stats->totals.ham);
    return all_read ? 0 : EXIT_FAILURE;
}

int classifier_stats(Context& c, const std::string& for_address) {
    const auto& cfg = c.config().classifier;
    const auto spec = store_for(cfg, for_address);
    if (!spec) return fail(spec.error().message, EX_USAGE);
    if (!spec->model.empty()) fmt::print("model: {}\n", spec->model);
    auto store = classifier::open_store(spec->spec, classifier::OpenMode::read);
    if (!store) return fail(store.error());
    auto s = (*store)->stats();
    if (!s) return fail(s.error());
    const bool votes = cfg.enabled && s->totals.spam >= static_cast<std::uint64_t>(cfg.min_spam) &&
                       s->totals.ham >= static_cast<std::uint64_t>(cfg.min_ham);
    fmt::print("store: {}\nspam: {}\nham: {}\ntokens: {}\nlearned messages: {}\nvotes: {}\n",
               (*store)->name(), s->totals.spam, s->totals.ham, s->tokens, s->learned,
               votes ? "yes"
               : !cfg.enabled
                   ? "no (classifier.enabled is false)"
                   : fmt::format("no (needs {} spam and {} ham)", cfg.min_spam, cfg.min_ham));
    return 0;
}

}  // namespace pampero::cli
