// The rule engine beyond the basics in rules_test.cpp: every target, Hyperscan with
// PCRE2 fallbacks, meta expressions (boundary rows), loading errors that name
// file:line:rule, sub-rules, exists, uri_domains, and matching from many threads.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "pampero/rules/engine.hpp"
#include "pampero/rules/rules.hpp"
#include "test_support.hpp"

using namespace pampero;
using namespace pampero::scan;

namespace {

// Per process: ctest runs every test case in its own process, in parallel.
std::string write_temp(const std::string& name, const std::string& text) {
    return pampero::testing::write_temp("pampero-rule-engine-test", name, text);
}

std::vector<std::string> names(const std::vector<RuleHit>& hits) {
    std::vector<std::string> out;
    for (const auto& h : hits) out.push_back(h.name);
    return out;
}

std::shared_ptr<const RuleSet> load(const std::string& name, const std::string& yaml) {
    auto r = RuleSet::load_files({write_temp(name, yaml)});
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : nullptr;
}

const char* kMessage =
    "Received: from relay.example.net (relay.example.net [198.51.100.7]) by mx.example.org\r\n"
    "From: \"Sender\" <sender@example.net>\r\n"
    "Subject: =?utf-8?q?Gro=C3=9Fe_Chance?=\r\n"
    "X-Mailer: Mass Mailer 2.0\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/alternative; boundary=b\r\n"
    "\r\n"
    "--b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nplain words here\r\n"
    "--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    // <p>Buy <b>now</b> at <a href="http://3232235777/x">here</a></p>
    "PHA+QnV5IDxiPm5vdzwvYj4gYXQgPGEgaHJlZj0iaHR0cDovLzMyMzIyMzU3NzcveCI+aGVyZTwvYT48L3A+\r\n"
    "--b--\r\n";

TEST(RuleEngine, EveryTargetMatchesItsText) {
    auto rules = load("targets.yaml", R"(rules:
  - {name: SUBJ_DECODED, target: header, header: Subject, regex: 'Große', score: 1}
  - {name: SUBJ_RAW, target: header, header: 'Subject:raw', regex: '=\?utf-8\?q\?', flags: [nocase], score: 1}
  - {name: SUBJ_RAW_NOT_DECODED, target: header, header: 'Subject:raw', regex: 'Große', score: 1}
  - {name: ALL_HEADERS, target: header, header: ALL, regex: '^X-Mailer: Mass', flags: [multiline], score: 1}
  - {name: HAS_XMAILER, target: header, header: X-Mailer, exists: true, score: 1}
  - {name: HAS_NOTHING, target: header, header: X-Nothing, exists: true, score: 1}
  - {name: BODY_RENDERED, target: body, regex: 'Buy now at here', score: 1}
  - {name: BODY_NO_TAGS, target: body, regex: '<b>', score: 1}
  - {name: DECODED_MARKUP, target: decoded, regex: '<b>now</b>', score: 1}
  - {name: RAWBODY_AS_SENT, target: rawbody, regex: 'PHA\+QnV5', score: 1}
  - {name: FULL_MESSAGE, target: full, regex: 'boundary=b\r\n\r\n--b', score: 1}
  - {name: URI_NUMERIC, target: uri, regex: '^http://192\.168\.1\.1/', score: 1}
  - {name: MIME_HTML_PART, target: mime, regex: '^part depth=1 type=text/html charset=utf-8 encoding=base64', flags: [multiline], score: 1}
  - {name: MIME_NUMERIC_IP, target: mime, regex: 'numeric_ip=[1-9]', score: 1}
)");
    ASSERT_TRUE(rules);
    auto hits = rules->match(parse_message(kMessage, 1 << 20));
    EXPECT_EQ(names(hits), (std::vector<std::string>{
                               "SUBJ_DECODED", "SUBJ_RAW", "ALL_HEADERS", "HAS_XMAILER",
                               "BODY_RENDERED", "DECODED_MARKUP", "RAWBODY_AS_SENT", "FULL_MESSAGE",
                               "URI_NUMERIC", "MIME_HTML_PART", "MIME_NUMERIC_IP"}));
}

TEST(RuleEngine, PcreFallbackForWhatHyperscanCannotCompile) {
    auto rules = load("fallback.yaml", R"(rules:
  - {name: BACKREF, target: body, regex: '\b(\w+) \1\b', score: 1}
  - {name: LOOKAHEAD, target: body, regex: 'plain(?= words)', score: 1}
  - {name: LOOKBEHIND_MISS, target: body, regex: '(?<!plain )words', score: 1}
  - {name: PLAIN_HS, target: body, regex: 'words\s+here', score: 1}
  - {name: EMPTY_OK, target: body, regex: '^', score: 1}
)");
    ASSERT_TRUE(rules);
    EXPECT_EQ(rules->pcre_count(), 3u);
    EXPECT_EQ(rules->hyperscan_count(), 2u);
    auto hits =
        rules->match(parse_message("Subject: x\r\n\r\nplain words here, the the end\r\n", 1 << 20));
    EXPECT_EQ(names(hits),
              (std::vector<std::string>{"BACKREF", "LOOKAHEAD", "PLAIN_HS", "EMPTY_OK"}));
}

TEST(RuleEngine, CatastrophicBacktrackingIsBoundedAndCountsAsNoMatch) {
    auto rules = load("backtrack.yaml", R"(rules:
  - {name: EVIL, target: body, regex: '^(a+)+\1$', score: 1}
)");
    ASSERT_TRUE(rules);
    EXPECT_EQ(rules->pcre_count(), 1u);
    auto hits =
        rules->match(parse_message("Subject: x\r\n\r\n" + std::string(40, 'a') + "b", 1 << 20));
    EXPECT_TRUE(hits.empty());
}

struct MetaRow {
    const char* expr;
    bool want;  // with A, B hit; C, D not
};

class Meta : public ::testing::TestWithParam<MetaRow> {};

TEST_P(Meta, Evaluates) {
    const auto& row = GetParam();
    auto rules = load("meta_row.yaml", std::string(R"(rules:
  - {name: A, target: body, regex: 'alpha', score: 0}
  - {name: B, target: body, regex: 'beta', score: 0}
  - {name: C, target: body, regex: 'gamma', score: 0}
  - {name: D, target: body, regex: 'delta', score: 0}
  - name: M
    meta: ')") + row.expr + R"('
    score: 1
)");
    ASSERT_TRUE(rules);
    auto hits = names(rules->match(parse_message("Subject: x\r\n\r\nalpha beta\r\n", 1 << 20)));
    const bool hit = std::find(hits.begin(), hits.end(), "M") != hits.end();
    EXPECT_EQ(hit, row.want) << row.expr;
}

INSTANTIATE_TEST_SUITE_P(
    Rows, Meta,
    ::testing::Values(MetaRow{"A", true}, MetaRow{"C", false}, MetaRow{"!C", true},
                      MetaRow{"!!A", true}, MetaRow{"A && B", true}, MetaRow{"A && C", false},
                      MetaRow{"C || A", true}, MetaRow{"C || D", false},
                      MetaRow{"A && !(C || D)", true}, MetaRow{"!A || C", false},
                      MetaRow{"C && D || A", true}, MetaRow{"C && (D || A)", false},
                      MetaRow{"(A + B + C) >= 2", true}, MetaRow{"(A + B + C) >= 3", false},
                      MetaRow{"A + B + C + D == 2", true}, MetaRow{"A + C > 1", false},
                      MetaRow{"(A + B) < 2", false}, MetaRow{"C + D <= 0", true},
                      MetaRow{"A + B != 2", false}, MetaRow{"A - B == 0", true},
                      MetaRow{"  A&&B  ", true}, MetaRow{"1", true}, MetaRow{"0", false},
                      MetaRow{"A + B >= 2 && !C", true}));

TEST(RuleEngine, MetaOverMetaAndSubRulesNotReported) {
    auto rules = load("meta_chain.yaml", R"(rules:
  - name: TOP
    meta: '__MID && !__NEVER'
    score: 2.5
    description: uses a meta defined after it
  - {name: __X, target: body, regex: 'alpha'}
  - {name: __Y, target: header, header: Subject, regex: 'hello'}
  - {name: __NEVER, target: body, regex: 'zzz'}
  - {name: __MID, meta: '__X && __Y'}
)");
    ASSERT_TRUE(rules);
    auto hits = rules->match(parse_message("Subject: hello\r\n\r\nalpha\r\n", 1 << 20));
    ASSERT_EQ(names(hits), (std::vector<std::string>{"TOP"}));
    EXPECT_EQ(hits[0].score, 2.5);
    EXPECT_EQ(hits[0].description, "uses a meta defined after it");
}

struct BadRow {
    const char* name;
    const char* text;
    int line;
    const char* expect;
};

class BadLoad : public ::testing::TestWithParam<BadRow> {};

TEST_P(BadLoad, NamesFileLineAndRule) {
    const auto& row = GetParam();
    const std::string path = write_temp(std::string(row.name) + ".yaml", row.text);
    auto r = RuleSet::load_files({path});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::config);
    EXPECT_NE(r.error().message.find(path + ":" + std::to_string(row.line) + ":"),
              std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find(row.expect), std::string::npos) << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Rows, BadLoad,
    ::testing::Values(
        BadRow{"meta_unknown",
               "rules:\n  - {name: A, target: body, regex: a, score: 1}\n  - name: M\n    meta: 'A "
               "&& NOPE'\n    score: 1\n",
               3, "rule M: meta uses unknown rule 'NOPE'"},
        BadRow{"meta_syntax",
               "rules:\n  - {name: A, target: body, regex: a, score: 1}\n  - name: M\n    meta: 'A "
               "&& (A'\n    score: 1\n",
               3, "rule M: bad meta expression: column 8: missing ')'"},
        BadRow{"meta_trailing", "rules:\n  - name: M\n    meta: 'A B'\n    score: 1\n", 2,
               "rule M: bad meta expression: column 3: unexpected 'B'"},
        BadRow{"meta_empty", "rules:\n  - name: M\n    meta: ''\n    score: 1\n", 2,
               "rule M: bad meta expression"},
        BadRow{"meta_loop",
               "rules:\n  - {name: P, meta: 'Q', score: 1}\n  - {name: Q, meta: 'R', score: 1}\n  "
               "- {name: R, meta: 'P', score: 1}\n",
               2, "meta rules refer to each other in a loop: P -> Q -> R -> P"},
        BadRow{"meta_self", "rules:\n  - {name: S, meta: 'S || 1', score: 1}\n", 2, "loop: S -> S"},
        BadRow{"meta_with_regex",
               "rules:\n  - name: M\n    meta: 'A'\n    regex: x\n    score: 1\n", 4,
               "rule M: 'regex' does not go with meta"},
        BadRow{"sub_scored", "rules:\n  - {name: __S, target: body, regex: x, score: 2}\n", 2,
               "rule __S: '__' sub-rules are never scored"},
        BadRow{
            "exists_regex",
            "rules:\n  - {name: E, target: header, header: X, exists: true, regex: x, score: 1}\n",
            2, "rule E: 'exists: true' takes no regex"},
        BadRow{"exists_all",
               "rules:\n  - {name: E, target: header, header: ALL, exists: true, score: 1}\n", 2,
               "rule E: 'exists' needs one header name"},
        BadRow{"bad_header_name",
               "rules:\n  - {name: H, target: header, header: 'Sub ject', regex: x, score: 1}\n", 2,
               "rule H: 'Sub ject' is not a header name"},
        BadRow{"score_nan", "rules:\n  - {name: N, target: body, regex: x, score: .nan}\n", 2,
               "rule N: score must be between"},
        BadRow{"uri_domains_missing_file",
               "uri_domains:\n  surbl_two_level: /nonexistent/2tld\nrules: []\n", 2,
               "/nonexistent/2tld: cannot read"},
        BadRow{"uri_domains_unknown_key", "uri_domains:\n  surbl_2tld: x\nrules: []\n", 2,
               "unknown key 'surbl_2tld'"}),
    [](const auto& info) { return info.param.name; });

TEST(RuleEngine, UriDomainsConfiguredInARuleFile) {
    const std::string d = std::string(PAMPERO_TEST_DATA) + "/surbl/";
    const std::string path = write_temp(
        "uri_domains.yaml", "uri_domains:\n  surbl_two_level: " + d +
                                "two-level-tlds\n  surbl_three_level: " + d + "three-level-tlds\n");
    auto rules = RuleSet::load_files({path});
    ASSERT_TRUE(rules) << rules.error().message;
    EXPECT_EQ((*rules)->domains()->two_level_count(), 18u);
    EXPECT_EQ((*rules)->domains()->surbl_base("a.b.school.act.edu.au"), "school.act.edu.au");
}

TEST(RuleEngine, ShippedRulesLoadAndUseHyperscan) {
    auto rules = RuleSet::load_dir(std::string(PAMPERO_SOURCE_DIR) + "/conf/rules.d");
    ASSERT_TRUE(rules) << rules.error().message;
    EXPECT_GT((*rules)->hyperscan_count(), (*rules)->pcre_count());
    EXPECT_GT((*rules)->domains()->two_level_count(), 0u);
}

TEST(RuleEngine, EngineScanReportsUrisAndExtraHits) {
    Config cfg;
    cfg.rules_dir = std::string(PAMPERO_SOURCE_DIR) + "/conf/rules.d";
    cfg.levels = std::string(PAMPERO_SOURCE_DIR) + "/conf/levels.yaml";
    auto engine = load_engine(cfg);
    ASSERT_TRUE(engine) << engine.error().message;
    const Message m = (*engine)->parse(kMessage);
    EXPECT_EQ(m.uri_ips(), (std::vector<std::string>{"192.168.1.1"}));
    EXPECT_EQ(m.received_ips(), (std::vector<std::string>{"198.51.100.7"}));
    ScanContext ctx;
    ctx.extra_hits.push_back({"RCVD_IN_TEST", 3.5, "listed"});
    const Verdict plain = (*engine)->scan(m);
    const Verdict v = (*engine)->scan(m, ctx);
    EXPECT_EQ(v.uris, (std::vector<std::string>{"http://192.168.1.1/x"}));
    EXPECT_DOUBLE_EQ(v.score, plain.score + 3.5);
    EXPECT_EQ(v.hits.back().name, "RCVD_IN_TEST");
}

// Per-recipient classifier models (scan_message_for): the variants of one message that
// differ in the classifier line each get what match() gives for that MIME summary and
// score set - the metas that read a BAYES_* rule included, on every variant.
TEST(RuleEngine, MatchVariantsEqualsMatchForEachSummary) {
    auto loaded = RuleSet::load_files(
        {write_temp("variants.yaml", R"(rules:
  - {name: BODY_BUY, target: body, regex: 'Buy now', score: 1}
  - {name: BAYES_99, target: mime, regex: '^classifier BAYES_99 ', flags: [multiline], score: 3}
  - {name: BAYES_00, target: mime, regex: '^classifier BAYES_00 ', flags: [multiline], score: -3}
  - {name: MIME_ALT, target: mime, regex: 'multipart/alternative', score: 0.25}
  - {name: BUY_AND_BAYES, meta: 'BODY_BUY && BAYES_99', score: 2}
  - {name: BUY_NOT_HAM, meta: 'BODY_BUY && !BAYES_00', score: 0.1}
)"),
         write_temp("variants.scores.yaml", "score_set: classifier\nscores: {BODY_BUY: 0.5}\n")});
    ASSERT_TRUE(loaded) << loaded.error().message;
    const auto& rules = *loaded;
    const Message m = parse_message(kMessage, 1 << 20);
    const std::string_view tails[] = {"", "classifier BAYES_99 p=0.9950 tokens=40\n",
                                      "classifier BAYES_00 p=0.0010 tokens=40\n", ""};
    const ScoreSet sets[] = {ScoreSet::no_classifier, ScoreSet::classifier, ScoreSet::classifier,
                             ScoreSet::classifier};
    const auto variants = rules->match_variants(m, tails, sets);
    ASSERT_EQ(variants.size(), 4u);
    for (std::size_t i = 0; i < 4; ++i) {
        Message copy = m;
        copy.mime_summary += tails[i];
        const auto alone = rules->match(copy, sets[i]);
        EXPECT_EQ(names(variants[i]), names(alone)) << i;
        ASSERT_EQ(variants[i].size(), alone.size());
        for (std::size_t j = 0; j < alone.size(); ++j)
            EXPECT_EQ(variants[i][j].score, alone[j].score) << i << " " << alone[j].name;
    }
    EXPECT_EQ(names(variants[1]), (std::vector<std::string>{"BODY_BUY", "BAYES_99", "MIME_ALT",
                                                            "BUY_AND_BAYES", "BUY_NOT_HAM"}));
    EXPECT_EQ(names(variants[2]), (std::vector<std::string>{"BODY_BUY", "BAYES_00", "MIME_ALT"}));
    EXPECT_EQ(variants[1][0].score, 0.5);  // the classifier set
    EXPECT_EQ(variants[0][0].score, 1);
}

// `pamperoctl learn` parses without compiling a rule (load_parser): the same Message as
// the engine's parse (the rule files' uri_domains included), and a rule that would not
// compile does not stop it, because no rule is read.
TEST(RuleEngine, ParserAloneReadsOnlyUriDomains) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("pampero-parser-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string d = std::string(PAMPERO_TEST_DATA) + "/surbl/";
    std::ofstream(dir / "00-domains.yaml")
        << "uri_domains:\n  surbl_two_level: " << d << "two-level-tlds\n  surbl_three_level: " << d
        << "three-level-tlds\n";
    std::ofstream(dir / "10-rules.yaml")
        << "rules:\n  - name: BODY_X\n    target: body\n    regex: 'x'\n    score: 1\n";
    Config cfg;
    cfg.rules_dir = dir.string();
    cfg.levels = std::string(PAMPERO_SOURCE_DIR) + "/conf/levels.yaml";
    const std::string msg =
        "From: a@example.net\r\nSubject: s\r\n\r\nsee http://a.b.school.act.edu.au/x\r\n";
    auto engine = load_engine(cfg);
    ASSERT_TRUE(engine) << engine.error().message;
    auto parser = load_parser(cfg);
    ASSERT_TRUE(parser) << parser.error().message;
    const Message a = (*engine)->parse(msg);
    const Message b = parser->parse(msg);
    EXPECT_EQ(b.uri_surbl_domains(), (std::vector<std::string>{"school.act.edu.au"}));
    EXPECT_EQ(a.uri_surbl_domains(), b.uri_surbl_domains());
    EXPECT_EQ(a.body_text, b.body_text);
    EXPECT_EQ(a.mime_summary, b.mime_summary);
    // A rule that cannot compile: the engine refuses, the parser never reads it.
    std::ofstream(dir / "10-rules.yaml")
        << "rules:\n  - name: BODY_X\n    target: body\n    regex: '(x'\n    score: 1\n";
    EXPECT_FALSE(load_engine(cfg));
    auto again = load_parser(cfg);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(again->parse(msg).uri_surbl_domains(), b.uri_surbl_domains());
    // Its own section is still checked: uri_domains given twice.
    std::ofstream(dir / "20-more.yaml")
        << "uri_domains:\n  surbl_two_level: " << d << "two-level-tlds\n";
    auto twice = load_parser(cfg);
    ASSERT_FALSE(twice);
    EXPECT_NE(twice.error().message.find("already given"), std::string::npos)
        << twice.error().message;
    std::filesystem::remove_all(dir);
}

TEST(RuleEngine, MatchesFromManyThreadsAndAcrossRuleSets) {
    auto one =
        load("threads1.yaml", "rules:\n  - {name: A, target: body, regex: 'alpha', score: 1}\n");
    auto two = load("threads2.yaml",
                    "rules:\n  - {name: B, target: body, regex: 'alpha\\s+beta', score: 1}\n"
                    "  - {name: C, target: header, header: Subject, regex: '^h', score: 1}\n");
    ASSERT_TRUE(one && two);
    const Message m = parse_message("Subject: hi\r\n\r\nalpha  beta\r\n", 1 << 20);
    std::vector<std::thread> threads;
    std::vector<int> good(4, 0);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                // Alternating rule sets in one thread regrows that thread's scratch.
                const bool ok = names(one->match(m)) == std::vector<std::string>{"A"} &&
                                names(two->match(m)) == std::vector<std::string>{"B", "C"};
                good[static_cast<std::size_t>(t)] += ok ? 1 : 0;
            }
        });
    }
    for (auto& t : threads) t.join();
    for (int g : good) EXPECT_EQ(g, 200);
}

}  // namespace
