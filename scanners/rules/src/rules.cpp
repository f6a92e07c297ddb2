#include "pampero/rules/rules.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <fmt/format.h>
#include <hs/hs.h>
#include <pcre2.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <new>
#include <optional>
#include <set>
#include <unordered_map>

#include "pampero/common/config.hpp"
#include "pampero/common/strings.hpp"
#include "pampero/common/yaml_reader.hpp"
#include "rules_meta.hpp"

namespace pampero::scan {

// PCRE2 fallback bounds: a pattern that needs more than this many backtracking steps
// (or this deep a recursion) on one text gives up and counts as not matching.
constexpr std::uint32_t kPcreMatchLimit = 200'000;
constexpr std::uint32_t kPcreDepthLimit = 2'000;

struct RuleSet::Rule {
    std::string name;
    std::string description;
    std::string where;  // "FILE:LINE", for errors found after reading
    Target target = Target::body;
    std::string header;        // lowercase name or "all"
    bool header_raw = false;   // NAME:raw
    bool exists = false;       // header presence, no regex
    bool sub = false;          // "__" sub-rule: never reported or scored
    double score = 0;          // the rule file's
    double set_score[2] = {};  // by ScoreSet: `score` unless an overlay says otherwise
    std::string regex;
    unsigned hs_flags = 0;
    pcre2_code* code = nullptr;  // set only when Hyperscan cannot take the pattern
    std::string meta_text;
    meta::Program meta;

    ~Rule() { pcre2_code_free(code); }
};

struct RuleSet::Group {
    Target target = Target::body;
    std::string header;  // for header groups: lowercase name or "all"
    bool raw = false;
    hs_database_t* db = nullptr;
    std::vector<std::size_t> hs_rules;    // Hyperscan id -> rule index
    std::vector<std::size_t> pcre_rules;  // rule indexes matched with PCRE2
    std::vector<std::size_t> exists_rules;

    ~Group() { hs_free_database(db); }
};

const char* to_string(ScoreSet set) {
    return set == ScoreSet::classifier ? "classifier" : "no_classifier";
}

const char* to_string(Target target) {
    switch (target) {
        case Target::header:
            return "header";
        case Target::body:
            return "body";
        case Target::rawbody:
            return "rawbody";
        case Target::decoded:
            return "decoded";
        case Target::uri:
            return "uri";
        case Target::full:
            return "full";
        case Target::mime:
            return "mime";
        case Target::meta:
            return "meta";
    }
    return "body";
}

namespace {

std::atomic<std::uint64_t> g_next_id{1};

std::string lowered(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

bool valid_rule_name(const std::string& n) {
    if (n.empty() || n.size() > 64) return false;
    return std::all_of(n.begin(), n.end(), [](unsigned char c) {
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
}

bool valid_header_name(std::string_view n) {
    if (n.empty() || n.size() > 128) return false;
    return std::all_of(n.begin(), n.end(),
                       [](unsigned char c) { return c > 32 && c < 127 && c != ':'; });
}

// Per-thread matching state: Hyperscan scratch (grown for every database of the rule
// set last used by this thread) and PCRE2 match data.
struct ThreadState {
    hs_scratch_t* scratch = nullptr;
    std::uint64_t ready_for = 0;
    pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
    pcre2_match_context* mc = [] {
        pcre2_match_context* c = pcre2_match_context_create(nullptr);
        pcre2_set_match_limit(c, kPcreMatchLimit);
        pcre2_set_depth_limit(c, kPcreDepthLimit);
        return c;
    }();
    ~ThreadState() {
        hs_free_scratch(scratch);
        pcre2_match_data_free(md);
        pcre2_match_context_free(mc);
    }
};

ThreadState& thread_state() {
    thread_local ThreadState s;
    return s;
}

bool pcre_matches(const pcre2_code* code, std::string_view text, ThreadState& ts) {
    const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0,
                               ts.md, ts.mc);
    // Negative results other than "no match" (match limit, depth limit) count as no
    // match: a rule that cannot decide must not add score.
    return rc >= 0;
}

int on_match(unsigned int id, unsigned long long, unsigned long long, unsigned int, void* ctx) {
    auto* c = static_cast<std::pair<const RuleSet::Group*, std::vector<char>*>*>(ctx);
    (*c->second)[c->first->hs_rules[id]] = 1;
    return 0;
}

std::unique_ptr<RuleSet::Rule> read_rule(const std::string& file, const YAML::Node& node,
                                         std::set<std::string>& names) {
    auto rule = std::make_unique<RuleSet::Rule>();
    rule->where = yaml::where(file, node);
    yaml::MapReader r(file, node, "rule");
    rule->name = r.require_string("name");
    const std::string ctx = "rule " + rule->name;
    if (!valid_rule_name(rule->name)) {
        yaml::fail(file, node, ctx + ": names are capital letters, digits and '_' (at most 64)");
    }
    if (!names.insert(rule->name).second) yaml::fail(file, node, ctx + ": defined twice");
    rule->sub = rule->name.rfind("__", 0) == 0;

    if (auto meta = r.get_string("meta")) {
        if (auto t = r.get_string("target"); t && *t != "meta") {
            yaml::fail(file, node, ctx + ": a meta rule has no target (or target: meta)");
        }
        for (const char* k : {"regex", "header", "flags", "exists"}) {
            if (r.has(k))
                yaml::fail(file, r.node(k), fmt::format("{}: '{}' does not go with meta", ctx, k));
        }
        rule->target = Target::meta;
        rule->meta_text = *meta;
        auto compiled = meta::compile(*meta);
        if (auto* err = std::get_if<std::string>(&compiled)) {
            yaml::fail(file, node, fmt::format("{}: bad meta expression: {}", ctx, *err));
        }
        rule->meta = std::move(std::get<meta::Program>(compiled));
    } else {
        const std::string target = r.require_string("target");
        static const std::map<std::string, Target> kTargets = {
            {"header", Target::header},   {"body", Target::body}, {"rawbody", Target::rawbody},
            {"decoded", Target::decoded}, {"uri", Target::uri},   {"full", Target::full},
            {"mime", Target::mime}};
        auto t = kTargets.find(target);
        if (t == kTargets.end()) {
            yaml::fail(file, r.node("target"),
                       ctx +
                           ": target must be header, body, rawbody, decoded, uri, full or mime (or "
                           "use meta:)");
        }
        rule->target = t->second;
        if (rule->target == Target::header) {
            auto h = r.get_string("header");
            if (!h || h->empty())
                yaml::fail(file, node, ctx + ": target header needs 'header: NAME' (or ALL)");
            std::string name = *h;
            if (name.size() > 4 && lowered(name.substr(name.size() - 4)) == ":raw") {
                rule->header_raw = true;
                name.resize(name.size() - 4);
            }
            if (!valid_header_name(name))
                yaml::fail(file, node, ctx + ": '" + *h + "' is not a header name");
            rule->header = name == "ALL" ? "all" : lowered(name);
            rule->exists = r.get_bool("exists").value_or(false);
            if (rule->exists && rule->header == "all") {
                yaml::fail(file, node, ctx + ": 'exists' needs one header name, not ALL");
            }
        } else {
            for (const char* k : {"header", "exists"}) {
                if (r.has(k))
                    yaml::fail(file, r.node(k),
                               fmt::format("{}: '{}' only goes with target header", ctx, k));
            }
        }
        if (rule->exists) {
            if (r.has("regex") || r.has("flags")) {
                yaml::fail(file, node, ctx + ": 'exists: true' takes no regex");
            }
        } else {
            rule->regex = r.require_string("regex");
            std::uint32_t options = 0;
            if (auto flags = r.get_string_list("flags")) {
                for (const auto& f : *flags) {
                    if (f == "nocase") {
                        options |= PCRE2_CASELESS;
                        rule->hs_flags |= HS_FLAG_CASELESS;
                    } else if (f == "multiline") {
                        options |= PCRE2_MULTILINE;
                        rule->hs_flags |= HS_FLAG_MULTILINE;
                    } else if (f == "dotall") {
                        options |= PCRE2_DOTALL;
                        rule->hs_flags |= HS_FLAG_DOTALL;
                    } else {
                        yaml::fail(file, r.node("flags"),
                                   ctx + ": unknown flag '" + f + "' (nocase, multiline, dotall)");
                    }
                }
            }
            // PCRE2 checks the syntax for every pattern, so errors read the same whichever
            // engine ends up matching it; the compiled code is kept only for fallbacks.
            int err = 0;
            PCRE2_SIZE offset = 0;
            rule->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rule->regex.data()),
                                       rule->regex.size(), options, &err, &offset, nullptr);
            if (!rule->code) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(err, msg, sizeof msg);
                yaml::fail(file, r.node("regex"),
                           fmt::format("{}: bad regex at offset {}: {}", ctx, offset,
                                       reinterpret_cast<char*>(msg)));
            }
        }
    }

    auto score = r.get_double("score");
    if (rule->sub) {
        if (score && *score != 0)
            yaml::fail(file, node, ctx + ": '__' sub-rules are never scored (no score)");
    } else if (!score) {
        yaml::fail(file, node, ctx + ": missing 'score'");
    } else if (!std::isfinite(*score) || *score > 1000 || *score < -1000) {
        yaml::fail(file, node, ctx + ": score must be between -1000 and 1000");
    }
    rule->score = score.value_or(0);
    rule->description = r.get_string("description").value_or("");
    r.finish();
    return rule;
}

// Can Hyperscan take this pattern as it is? (It refuses backreferences, lookaround,
// atomic groups, conditionals, \C, embedded NULs ...)
bool hyperscan_accepts(const RuleSet::Rule& rule) {
    if (rule.regex.find('\0') != std::string::npos) return false;
    hs_expr_info_t* info = nullptr;
    hs_compile_error_t* err = nullptr;
    const unsigned flags = rule.hs_flags | HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY;
    if (hs_expression_info(rule.regex.c_str(), flags, &info, &err) != HS_SUCCESS) {
        hs_free_compile_error(err);
        return false;
    }
    std::free(info);
    return true;
}

}  // namespace

RuleSet::~RuleSet() = default;

std::size_t RuleSet::hyperscan_count() const {
    std::size_t n = 0;
    for (const auto& g : groups_) n += g->hs_rules.size();
    return n;
}

std::size_t RuleSet::pcre_count() const {
    std::size_t n = 0;
    for (const auto& g : groups_) n += g->pcre_rules.size();
    return n;
}

namespace {

// The `uri_domains:` section of a rule file (throws yaml::Error naming file and line).
std::shared_ptr<const DomainReducer> read_uri_domains(const std::string& file,
                                                      const YAML::Node& d) {
    yaml::MapReader dr(file, d, "uri_domains");
    auto path = [&](const char* key) {
        auto v = dr.get_string(key);
        return v && !v->empty() ? resolve_path(file, *v) : std::string();
    };
    const std::string psl_file = path("public_suffix_list");
    const std::string two_level = path("surbl_two_level");
    const std::string three_level = path("surbl_three_level");
    dr.finish();
    auto loaded = DomainReducer::load(psl_file, two_level, three_level);
    if (!loaded) yaml::fail(file, d, "uri_domains: " + loaded.error().message);
    return std::move(loaded).value();
}

// The *.yaml files of a rules folder, sorted.
Result<std::vector<std::string>> rule_files(const std::string& dir) {
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        if (entry.path().extension() == ".yaml") files.push_back(entry.path().string());
    }
    if (ec) return Error::config(fmt::format("{}: {}", dir, ec.message()));
    if (files.empty()) return Error::config(fmt::format("{}: no *.yaml rule files", dir));
    std::sort(files.begin(), files.end());
    return files;
}

}  // namespace

Result<std::shared_ptr<const RuleSet>> RuleSet::load_files(const std::vector<std::string>& files) {
    std::shared_ptr<RuleSet> set(new RuleSet());
    set->id_ = g_next_id.fetch_add(1);
    std::set<std::string> names;
    std::string domains_where;
    struct Overlay {
        std::string name;
        double score;
        std::string where;
        std::optional<ScoreSet> set;  // none: both sets
    };
    std::vector<Overlay> overlays;  // `scores:` of every file, applied once all rules are in
    try {
        for (const auto& file : files) {
            yaml::MapReader top(file, yaml::load_file(file), "rule file");
            const bool has_scores = top.has("scores");
            std::optional<ScoreSet> score_set;
            if (top.has("score_set")) {
                const YAML::Node n = top.node("score_set");
                const std::string v = n.IsScalar() ? n.Scalar() : std::string();
                if (v == "classifier")
                    score_set = ScoreSet::classifier;
                else if (v == "no_classifier")
                    score_set = ScoreSet::no_classifier;
                else
                    yaml::fail(file, n, "score_set must be classifier or no_classifier");
                // A set names the scores of its file: a rule's own score is both sets'.
                if (!has_scores || top.has("rules") || top.has("uri_domains"))
                    yaml::fail(file, n,
                               "score_set goes in a file of scores only (scores:, no rules: or "
                               "uri_domains:)");
            }
            if (has_scores) {
                const YAML::Node sc = top.node("scores");
                // An empty `scores:` (a fit that changed nothing) is null: no overlay.
                if (!sc.IsMap() && !sc.IsNull())
                    yaml::fail(file, sc, "'scores' must be a mapping RULE: score");
                for (const auto& kv : sc) {
                    const std::string name = kv.first.Scalar();
                    double score = 0;
                    if (!kv.second.IsScalar() || !YAML::convert<double>::decode(kv.second, score) ||
                        !std::isfinite(score) || score > 1000 || score < -1000) {
                        yaml::fail(file, kv.second,
                                   "scores: " + name + ": score must be between -1000 and 1000");
                    }
                    overlays.push_back({name, score, yaml::where(file, kv.first), score_set});
                }
            }
            if (top.has("uri_domains")) {
                YAML::Node d = top.node("uri_domains");
                if (!domains_where.empty()) {
                    yaml::fail(file, d, "uri_domains: already given at " + domains_where);
                }
                domains_where = yaml::where(file, d);
                set->domains_ = read_uri_domains(file, d);
            }
            if (!top.has("rules") && (!domains_where.empty() || has_scores)) {
                top.finish();
                continue;
            }
            YAML::Node list = top.node("rules");
            if (!list.IsSequence()) yaml::fail(file, top.self(), "'rules' must be a list");
            for (const auto& item : list) set->rules_.push_back(read_rule(file, item, names));
            top.finish();
        }
    } catch (const yaml::Error& e) {
        return Error::config(e.what());
    } catch (const YAML::Exception& e) {
        return Error::config(e.what());
    }
    if (!set->domains_) set->domains_ = DomainReducer::system_default();
    if (!set->domains_) return Error::config("cannot load the system Public Suffix List");

    // Score overlays (scripts/fit-rule-scores --out, or the admin's own): they replace the
    // score of a rule defined in some file, whichever file sorts first. A name no file
    // defines is an error rather than ignored: a rule renamed or removed upstream must
    // not leave a stale overlay silently doing nothing.
    // An overlay with a score_set replaces that set's score only; one without, both.
    {
        std::unordered_map<std::string, Rule*> by_name;
        for (auto& rule : set->rules_) {
            by_name.emplace(rule->name, rule.get());
            rule->set_score[0] = rule->set_score[1] = rule->score;
        }
        std::unordered_map<std::string, std::string> given[2];  // by ScoreSet
        for (const auto& o : overlays) {
            auto it = by_name.find(o.name);
            if (it == by_name.end())
                return Error::config(fmt::format("{}: scores: unknown rule '{}'", o.where, o.name));
            if (it->second->sub) {
                return Error::config(fmt::format(
                    "{}: scores: '{}' is a '__' sub-rule, never scored", o.where, o.name));
            }
            for (const ScoreSet s : {ScoreSet::no_classifier, ScoreSet::classifier}) {
                if (o.set && *o.set != s) continue;
                const auto i = static_cast<std::size_t>(s);
                if (auto [at, fresh] = given[i].emplace(o.name, o.where); !fresh) {
                    return Error::config(fmt::format(
                        "{}: scores: rule {} already has a score{} at {}", o.where, o.name,
                        o.set ? fmt::format(" in score_set {}", to_string(s)) : "", at->second));
                }
                it->second->set_score[i] = o.score;
            }
        }
    }

    // Meta rules: resolve names, then order them so each runs after the metas it uses.
    std::unordered_map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < set->rules_.size(); ++i) index.emplace(set->rules_[i]->name, i);
    for (auto& rule : set->rules_) {
        if (rule->target != Target::meta) continue;
        for (auto& in : rule->meta.code) {
            if (in.op != meta::Op::rule) continue;
            const std::string& name = rule->meta.names[static_cast<std::size_t>(in.value)];
            auto it = index.find(name);
            if (it == index.end()) {
                return Error::config(fmt::format("{}: rule {}: meta uses unknown rule '{}'",
                                                 rule->where, rule->name, name));
            }
            in.value = static_cast<std::int64_t>(it->second);
        }
    }
    {
        // Depth-first, with an explicit stack (bounded by the number of rules).
        enum : char { unseen, active, done };
        std::vector<char> state(set->rules_.size(), unseen);
        for (std::size_t root = 0; root < set->rules_.size(); ++root) {
            if (set->rules_[root]->target != Target::meta || state[root] == done) continue;
            std::vector<std::pair<std::size_t, std::size_t>> stack{{root, 0}};
            state[root] = active;
            while (!stack.empty()) {
                auto& [r, next] = stack.back();
                const auto& code = set->rules_[r]->meta.code;
                bool pushed = false;
                while (next < code.size()) {
                    const auto& in = code[next++];
                    if (in.op != meta::Op::rule) continue;
                    const auto dep = static_cast<std::size_t>(in.value);
                    if (set->rules_[dep]->target != Target::meta || state[dep] == done) continue;
                    if (state[dep] == active) {
                        std::string loop = set->rules_[dep]->name;
                        for (auto it = stack.rbegin(); it != stack.rend(); ++it) {
                            loop = set->rules_[it->first]->name + " -> " + loop;
                            if (it->first == dep) break;
                        }
                        return Error::config(
                            fmt::format("{}: rule {}: meta rules refer to each other in a loop: {}",
                                        set->rules_[dep]->where, set->rules_[dep]->name, loop));
                    }
                    state[dep] = active;
                    stack.emplace_back(dep, 0);
                    pushed = true;
                    break;
                }
                if (pushed) continue;
                state[r] = done;
                set->meta_order_.push_back(r);
                stack.pop_back();
            }
        }
    }

    // One group per target (header rules: per header name and raw-ness).
    std::map<std::string, std::size_t> group_of;
    for (std::size_t i = 0; i < set->rules_.size(); ++i) {
        const Rule& rule = *set->rules_[i];
        if (rule.target == Target::meta) continue;
        const std::string key =
            fmt::format("{}:{}:{}", to_string(rule.target), rule.header, rule.header_raw);
        auto [it, fresh] = group_of.emplace(key, set->groups_.size());
        if (fresh) {
            auto g = std::make_unique<Group>();
            g->target = rule.target;
            g->header = rule.header;
            g->raw = rule.header_raw;
            set->groups_.push_back(std::move(g));
        }
        Group& g = *set->groups_[it->second];
        if (rule.exists)
            g.exists_rules.push_back(i);
        else if (hyperscan_accepts(rule))
            g.hs_rules.push_back(i);
        else
            g.pcre_rules.push_back(i);
    }
    for (auto& g : set->groups_) {
        // Compile; a pattern Hyperscan refuses only in the full compile (too large, ...)
        // moves to PCRE2 and the rest is compiled again: at most one retry per pattern.
        while (!g->hs_rules.empty()) {
            std::vector<const char*> exprs;
            std::vector<unsigned> flags, ids;
            for (std::size_t k = 0; k < g->hs_rules.size(); ++k) {
                const Rule& rule = *set->rules_[g->hs_rules[k]];
                exprs.push_back(rule.regex.c_str());
                flags.push_back(rule.hs_flags | HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY);
                ids.push_back(static_cast<unsigned>(k));
            }
            hs_compile_error_t* err = nullptr;
            const hs_error_t rc = hs_compile_multi(exprs.data(), flags.data(), ids.data(),
                                                   static_cast<unsigned>(exprs.size()),
                                                   HS_MODE_BLOCK, nullptr, &g->db, &err);
            if (rc == HS_SUCCESS) break;
            const int bad = err ? err->expression : -1;
            const std::string why = err && err->message ? err->message : "unknown error";
            hs_free_compile_error(err);
            g->db = nullptr;
            if (bad < 0 || static_cast<std::size_t>(bad) >= g->hs_rules.size()) {
                return Error::config(fmt::format("{} rules: Hyperscan cannot compile them: {}",
                                                 to_string(g->target), why));
            }
            g->pcre_rules.push_back(g->hs_rules[static_cast<std::size_t>(bad)]);
            g->hs_rules.erase(g->hs_rules.begin() + bad);
        }
        std::sort(g->pcre_rules.begin(), g->pcre_rules.end());
        for (std::size_t i : g->pcre_rules)
            pcre2_jit_compile(set->rules_[i]->code, PCRE2_JIT_COMPLETE);
        // Hyperscan matches the others: their PCRE2 code was only the syntax check.
        for (std::size_t i : g->hs_rules) {
            pcre2_code_free(set->rules_[i]->code);
            set->rules_[i]->code = nullptr;
        }
    }
    return std::shared_ptr<const RuleSet>(std::move(set));
}

Result<std::shared_ptr<const RuleSet>> RuleSet::load_dir(const std::string& dir) {
    auto files = rule_files(dir);
    if (!files) return files.error();
    return load_files(*files);
}

Result<std::shared_ptr<const DomainReducer>> RuleSet::load_uri_domains(const std::string& dir) {
    auto files = rule_files(dir);
    if (!files) return files.error();
    std::shared_ptr<const DomainReducer> domains;
    std::string where;
    try {
        for (const auto& file : *files) {
            const YAML::Node top = yaml::load_file(file);
            if (!top.IsMap() || !top["uri_domains"]) continue;
            const YAML::Node d = top["uri_domains"];
            if (!where.empty()) yaml::fail(file, d, "uri_domains: already given at " + where);
            where = yaml::where(file, d);
            domains = read_uri_domains(file, d);
        }
    } catch (const yaml::Error& e) {
        return Error::config(e.what());
    } catch (const YAML::Exception& e) {
        return Error::config(e.what());
    }
    if (!domains) domains = DomainReducer::system_default();
    if (!domains) return Error::config("cannot load the system Public Suffix List");
    return domains;
}

std::vector<RuleScores> RuleSet::scores() const {
    std::vector<RuleScores> out;
    for (const auto& r : rules_) {
        if (!r->sub) out.push_back({r->name, r->score, r->set_score[0], r->set_score[1]});
    }
    return out;
}

std::vector<RuleHit> RuleSet::match(const Message& msg, ScoreSet set) const {
    const std::string_view tail;
    return std::move(match_variants(msg, {&tail, 1}, {&set, 1}).front());
}

std::vector<std::vector<RuleHit>> RuleSet::match_variants(const Message& msg,
                                                          std::span<const std::string_view> tails,
                                                          std::span<const ScoreSet> sets) const {
    ThreadState& ts = thread_state();
    if (ts.ready_for != id_) {
        for (const auto& g : groups_) {
            if (g->db && hs_alloc_scratch(g->db, &ts.scratch) != HS_SUCCESS) throw std::bad_alloc();
        }
        ts.ready_for = id_;
    }
    std::vector<char> hit(rules_.size(), 0);

    auto scan = [&](const Group& g, std::string_view text, std::vector<char>& into) {
        if (g.db) {
            std::pair<const Group*, std::vector<char>*> ctx{&g, &into};
            // An error here (only HS_SCRATCH_IN_USE or corruption) leaves these rules unhit.
            hs_scan(g.db, text.empty() ? "" : text.data(), static_cast<unsigned>(text.size()), 0,
                    ts.scratch, on_match, &ctx);
        }
        for (std::size_t i : g.pcre_rules) {
            if (!into[i] && pcre_matches(rules_[i]->code, text, ts)) into[i] = 1;
        }
    };

    // Every target but the MIME summary, once: the variants differ only in its tail.
    std::string all_decoded, all_raw;  // built once, only if a group wants them
    for (const auto& gp : groups_) {
        const Group& g = *gp;
        switch (g.target) {
            case Target::body:
                scan(g, msg.body_text, hit);
                break;
            case Target::rawbody:
                scan(g, msg.raw_body, hit);
                break;
            case Target::decoded:
                scan(g, msg.decoded_body, hit);
                break;
            case Target::full:
                scan(g, msg.raw, hit);
                break;
            case Target::mime:
                break;
            case Target::uri:
                for (const auto& u : msg.uris) scan(g, u.url, hit);
                break;
            case Target::header:
                if (g.header == "all") {
                    std::string& all = g.raw ? all_raw : all_decoded;
                    if (all.empty()) {
                        for (const auto& h : msg.headers) {
                            all += h.name;
                            all += ": ";
                            all += g.raw ? h.raw : h.value;
                            all += '\n';
                        }
                    }
                    scan(g, all, hit);
                } else {
                    bool present = false;
                    for (const auto& h : msg.headers) {
                        if (!iequals(h.name, g.header)) continue;
                        present = true;
                        scan(g, g.raw ? h.raw : h.value, hit);
                    }
                    if (present) {
                        for (std::size_t i : g.exists_rules) hit[i] = 1;
                    }
                }
                break;
            case Target::meta:
                break;
        }
    }
    std::vector<std::vector<RuleHit>> out;
    out.reserve(tails.size());
    std::string summary;
    for (std::size_t v = 0; v < tails.size(); ++v) {
        // The last variant may take the bits over; the others work on a copy.
        std::vector<char> mine;
        if (v + 1 < tails.size()) mine = hit;
        std::vector<char>& h = v + 1 < tails.size() ? mine : hit;
        const std::string_view text =
            tails[v].empty() ? std::string_view(msg.mime_summary)
                             : std::string_view(summary.assign(msg.mime_summary).append(tails[v]));
        for (const auto& gp : groups_)
            if (gp->target == Target::mime) scan(*gp, text, h);
        for (std::size_t i : meta_order_) {
            h[i] =
                meta::run(rules_[i]->meta, [&](std::size_t r) { return h[r] != 0; }) != 0 ? 1 : 0;
        }
        const auto set = static_cast<std::size_t>(sets[v]);
        std::vector<RuleHit> hits;
        for (std::size_t i = 0; i < rules_.size(); ++i) {
            if (h[i] && !rules_[i]->sub)
                hits.push_back(
                    {rules_[i]->name, rules_[i]->set_score[set], rules_[i]->description});
        }
        out.push_back(std::move(hits));
    }
    return out;
}

}  // namespace pampero::scan
