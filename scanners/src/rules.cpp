#include "pampero/scan/rules.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <fmt/format.h>
#include <pcre2.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "pampero/common/yaml_reader.hpp"

namespace pampero::scan {

struct RuleSet::Rule {
    std::string name;
    std::string description;
    Target target = Target::body;
    std::string header;  // with Target::header: a name or "ALL"
    double score = 0;
    pcre2_code* code = nullptr;

    ~Rule() { pcre2_code_free(code); }
};

namespace {

bool valid_rule_name(const std::string& n) {
    if (n.empty() || n.size() > 64) return false;
    return std::all_of(n.begin(), n.end(), [](unsigned char c) {
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
}

// One match_data per thread: the compiled patterns are shared, the scratch is not.
pcre2_match_data* thread_match_data() {
    struct Holder {
        pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
        ~Holder() { pcre2_match_data_free(md); }
    };
    thread_local Holder h;
    return h.md;
}

bool matches(const pcre2_code* code, std::string_view text) {
    const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0,
                               thread_match_data(), nullptr);
    // Negative results other than "no match" (match limit, bad UTF) count as no match:
    // a rule that cannot decide must not add score.
    return rc >= 0;
}

std::unique_ptr<RuleSet::Rule> read_rule(const std::string& file, const YAML::Node& node,
                                         std::set<std::string>& names) {
    auto rule = std::make_unique<RuleSet::Rule>();
    yaml::MapReader r(file, node, "rule");
    rule->name = r.require_string("name");
    const std::string ctx = "rule " + rule->name;
    if (!valid_rule_name(rule->name)) {
        yaml::fail(file, node, ctx + ": names are capital letters, digits and '_' (at most 64)");
    }
    if (!names.insert(rule->name).second) yaml::fail(file, node, ctx + ": defined twice");

    const std::string target = r.require_string("target");
    if (target == "header") {
        rule->target = Target::header;
        auto h = r.get_string("header");
        if (!h || h->empty()) yaml::fail(file, node, ctx + ": target header needs 'header: NAME' (or ALL)");
        rule->header = *h;
    } else if (target == "body") {
        rule->target = Target::body;
    } else if (target == "rawbody") {
        rule->target = Target::rawbody;
    } else {
        yaml::fail(file, r.node("target"), ctx + ": target must be header, body or rawbody");
    }
    if (rule->target != Target::header && r.has("header")) {
        yaml::fail(file, r.node("header"), ctx + ": 'header' only goes with target header");
    }

    std::uint32_t options = 0;
    if (auto flags = r.get_string_list("flags")) {
        for (const auto& f : *flags) {
            if (f == "nocase") options |= PCRE2_CASELESS;
            else if (f == "multiline") options |= PCRE2_MULTILINE;
            else if (f == "dotall") options |= PCRE2_DOTALL;
            else yaml::fail(file, r.node("flags"), ctx + ": unknown flag '" + f + "' (nocase, multiline, dotall)");
        }
    }
    const std::string regex = r.require_string("regex");
    int err = 0;
    PCRE2_SIZE offset = 0;
    rule->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(regex.data()), regex.size(), options,
                               &err, &offset, nullptr);
    if (!rule->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        yaml::fail(file, r.node("regex"),
                   fmt::format("{}: bad regex at offset {}: {}", ctx, offset, reinterpret_cast<char*>(msg)));
    }
    pcre2_jit_compile(rule->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is unavailable

    auto score = r.get_double("score");
    if (!score) yaml::fail(file, node, ctx + ": missing 'score'");
    rule->score = *score;
    rule->description = r.get_string("description").value_or("");
    r.finish();
    return rule;
}

}  // namespace

RuleSet::~RuleSet() = default;

Result<std::shared_ptr<const RuleSet>> RuleSet::load_files(const std::vector<std::string>& files) {
    std::shared_ptr<RuleSet> set(new RuleSet());
    std::set<std::string> names;
    try {
        for (const auto& file : files) {
            yaml::MapReader top(file, yaml::load_file(file), "rule file");
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
    return std::shared_ptr<const RuleSet>(std::move(set));
}

Result<std::shared_ptr<const RuleSet>> RuleSet::load_dir(const std::string& dir) {
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        if (entry.path().extension() == ".yaml") files.push_back(entry.path().string());
    }
    if (ec) return Error::config(fmt::format("{}: {}", dir, ec.message()));
    if (files.empty()) return Error::config(fmt::format("{}: no *.yaml rule files", dir));
    std::sort(files.begin(), files.end());
    return load_files(files);
}

std::vector<RuleHit> RuleSet::match(const Message& msg) const {
    std::vector<RuleHit> hits;
    std::string all_headers;  // built once, only if a rule wants it
    for (const auto& rule : rules_) {
        bool hit = false;
        switch (rule->target) {
            case Target::body: hit = matches(rule->code, msg.body_text); break;
            case Target::rawbody: hit = matches(rule->code, msg.raw_body); break;
            case Target::header:
                if (rule->header == "ALL") {
                    if (all_headers.empty()) {
                        for (const auto& h : msg.headers) {
                            all_headers += h.name + ": " + h.value + "\n";
                        }
                    }
                    hit = matches(rule->code, all_headers);
                } else {
                    for (const auto& h : msg.headers) {
                        if (iequals(h.name, rule->header) && matches(rule->code, h.value)) {
                            hit = true;
                            break;
                        }
                    }
                }
                break;
        }
        if (hit) hits.push_back({rule->name, rule->score, rule->description});
    }
    return hits;
}

}  // namespace pampero::scan
