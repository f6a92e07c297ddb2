#include "pampero/rules/rules.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "pampero/rules/engine.hpp"
#include "test_support.hpp"

using namespace pampero;
using namespace pampero::scan;

namespace {
std::string write_temp(const std::string& name, const std::string& text) {
    return pampero::testing::write_temp("pampero-rules-test", name, text);
}

std::vector<std::string> names(const std::vector<RuleHit>& hits) {
    std::vector<std::string> out;
    for (const auto& h : hits) out.push_back(h.name);
    return out;
}
}  // namespace

TEST(Rules, ShippedRulesLoadAndGtubeScores1000) {
    auto rules = RuleSet::load_dir(std::string(PAMPERO_SOURCE_DIR) + "/conf/rules.d");
    ASSERT_TRUE(rules) << rules.error().message;
    const std::string msg =
        "From: a@example.org\r\nSubject: test\r\n\r\n"
        "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n";
    auto hits = (*rules)->match(parse_message(msg, 1 << 20));
    double score = 0;
    for (const auto& h : hits) score += h.score;
    EXPECT_GE(score, 1000.0);
    EXPECT_NE(std::find(names(hits).begin(), names(hits).end(), "GTUBE"), names(hits).end());
}

TEST(Rules, ShippedScanTruncatedSaysAMessageWasPartlyScanned) {
    Config cfg;
    cfg.rules_dir = std::string(PAMPERO_SOURCE_DIR) + "/conf/rules.d";
    cfg.levels = std::string(PAMPERO_SOURCE_DIR) + "/conf/levels.yaml";
    cfg.milter.scan_limit = 64 * 1024;
    auto engine = load_engine(cfg);
    ASSERT_TRUE(engine) << engine.error().message;
    std::string padded = "From: a@example.org\r\nSubject: test\r\n\r\n";
    for (int i = 0; i < 2000; ++i)
        padded += "lorem ipsum dolor sit amet, consectetur adipiscing\r\n";
    const Verdict v = (*engine)->scan(padded);
    EXPECT_EQ(v.partial, "text");
    const auto n = names(v.hits);
    EXPECT_NE(std::find(n.begin(), n.end(), "SCAN_TRUNCATED"), n.end());
    const Verdict small = (*engine)->scan("From: a@example.org\r\nSubject: test\r\n\r\nhello\r\n");
    EXPECT_EQ(small.partial, "");
    const auto m = names(small.hits);
    EXPECT_EQ(std::find(m.begin(), m.end(), "SCAN_TRUNCATED"), m.end());
}

TEST(Rules, TargetsHeaderBodyRawbody) {
    const std::string file = write_temp("targets.yaml", R"(rules:
  - name: SUBJ_WIN
    target: header
    header: subject
    regex: 'winner'
    flags: [nocase]
    score: 1.5
  - name: ANY_HEADER_X
    target: header
    header: ALL
    regex: '^X-Bulk:'
    flags: [multiline]
    score: 1
  - name: BODY_DECODED
    target: body
    regex: 'free money'
    score: 2
  - name: RAW_BASE64
    target: rawbody
    regex: 'ZnJlZSBtb25leQ=='
    score: 0.5
  - name: NEVER
    target: body
    regex: 'does not occur'
    score: 9
)");
    auto rules = RuleSet::load_files({file});
    ASSERT_TRUE(rules) << rules.error().message;
    const std::string msg =
        "Subject: You are a WINNER\r\nX-Bulk: yes\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        "ZnJlZSBtb25leQ==\r\n";
    auto hits = (*rules)->match(parse_message(msg, 1 << 20));
    EXPECT_EQ(names(hits),
              (std::vector<std::string>{"SUBJ_WIN", "ANY_HEADER_X", "BODY_DECODED", "RAW_BASE64"}));
}

struct BadRule {
    const char* name;
    const char* text;
    const char* expect;
    int line;
};

class BadRules : public ::testing::TestWithParam<BadRule> {};

TEST_P(BadRules, RefusedNamingFileLineAndRule) {
    const auto& row = GetParam();
    const std::string path = write_temp(std::string(row.name) + ".yaml", row.text);
    auto rules = RuleSet::load_files({path});
    ASSERT_FALSE(rules);
    EXPECT_EQ(rules.error().kind, ErrorKind::config);
    const std::string want = path + ":" + std::to_string(row.line) + ":";
    EXPECT_NE(rules.error().message.find(want), std::string::npos) << rules.error().message;
    EXPECT_NE(rules.error().message.find(row.expect), std::string::npos) << rules.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Rows, BadRules,
    ::testing::Values(
        BadRule{
            "bad_regex",
            "rules:\n  - name: BROKEN\n    target: body\n    regex: '(unclosed'\n    score: 1\n",
            "rule BROKEN: bad regex", 4},
        BadRule{"bad_target",
                "rules:\n  - name: T\n    target: elsewhere\n    regex: x\n    score: 1\n",
                "rule T: target must be", 3},
        BadRule{"no_score", "rules:\n  - name: NOSCORE\n    target: body\n    regex: x\n",
                "rule NOSCORE: missing 'score'", 2},
        BadRule{"bad_name",
                "rules:\n  - name: lower-case\n    target: body\n    regex: x\n    score: 1\n",
                "names are capital letters", 2},
        BadRule{"duplicate",
                "rules:\n  - {name: TWICE, target: body, regex: x, score: 1}\n  - {name: TWICE, "
                "target: body, regex: y, score: 1}\n",
                "rule TWICE: defined twice", 3},
        BadRule{"unknown_flag",
                "rules:\n  - name: F\n    target: body\n    regex: x\n    flags: [sloppy]\n    "
                "score: 1\n",
                "unknown flag 'sloppy'", 5},
        BadRule{"header_without_name",
                "rules:\n  - name: H\n    target: header\n    regex: x\n    score: 1\n",
                "needs 'header: NAME'", 2},
        BadRule{
            "unknown_key",
            "rules:\n  - name: K\n    target: body\n    regex: x\n    score: 1\n    weight: 2\n",
            "unknown key 'weight'", 6}),
    [](const auto& info) { return info.param.name; });

// Score overlays (rules.hpp; scripts/fit-rule-scores --out writes them).
std::string overlay_dir(const std::string& name, const std::string& overlay) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("pampero-rules-overlay-" + name + "-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    // The overlay sorts BEFORE the rules it changes: order must not matter.
    std::ofstream(dir / "00-fitted.scores.yaml") << overlay;
    std::ofstream(dir / "10-rules.yaml")
        << "rules:\n  - {name: PILLS, target: body, regex: pills, score: 3.0}\n"
           "  - {name: MEETING, target: body, regex: meeting, score: 1.0}\n"
           "  - {name: __SUB, target: body, regex: x}\n";
    return dir.string();
}

double score_of(const RuleSet& rules, const std::string& body, const std::string& name,
                ScoreSet set = ScoreSet::no_classifier) {
    for (const auto& h :
         rules.match(parse_message("Subject: s\r\n\r\n" + body + "\r\n", 1 << 20), set))
        if (h.name == name) return h.score;
    ADD_FAILURE() << name << " did not hit";
    return 0;
}

TEST(Rules, ScoreOverlayReplacesShippedScores) {
    auto rules = RuleSet::load_dir(overlay_dir("ok", "scores:\n  PILLS: 1.25\n  MEETING: -0.5\n"));
    ASSERT_TRUE(rules) << rules.error().message;
    EXPECT_DOUBLE_EQ(score_of(**rules, "cheap pills", "PILLS"), 1.25);
    EXPECT_DOUBLE_EQ(score_of(**rules, "the meeting", "MEETING"), -0.5);
    // Without an overlay the file's own scores.
    auto plain = RuleSet::load_dir(overlay_dir("none", "# nothing changed\nscores:\n"));
    ASSERT_TRUE(plain) << plain.error().message;
    EXPECT_DOUBLE_EQ(score_of(**plain, "cheap pills", "PILLS"), 3.0);
}

// Score sets (rules.hpp): an overlay with score_set changes that set only; one without,
// both; a rule file's own score is both sets' until then.
TEST(Rules, ScoreSetOverlayChangesItsSetOnly) {
    const std::string dir =
        overlay_dir("sets", "score_set: classifier\nscores:\n  PILLS: 0.5\n  MEETING: -2\n");
    std::ofstream(std::filesystem::path(dir) / "90-no-classifier.scores.yaml")
        << "# fitted without the classifier\nscore_set: no_classifier\nscores:\n  PILLS: 4\n";
    auto rules = RuleSet::load_dir(dir);
    ASSERT_TRUE(rules) << rules.error().message;
    EXPECT_DOUBLE_EQ(score_of(**rules, "cheap pills", "PILLS", ScoreSet::classifier), 0.5);
    EXPECT_DOUBLE_EQ(score_of(**rules, "cheap pills", "PILLS", ScoreSet::no_classifier), 4.0);
    EXPECT_DOUBLE_EQ(score_of(**rules, "the meeting", "MEETING", ScoreSet::classifier), -2.0);
    // No overlay for MEETING in no_classifier: the rule file's score.
    EXPECT_DOUBLE_EQ(score_of(**rules, "the meeting", "MEETING", ScoreSet::no_classifier), 1.0);
    // match() without a set is the no_classifier set (a scan without a classifier).
    EXPECT_DOUBLE_EQ(score_of(**rules, "cheap pills", "PILLS"), 4.0);
    bool seen = false;
    for (const auto& r : (*rules)->scores()) {
        if (r.name != "PILLS") continue;
        seen = true;
        EXPECT_DOUBLE_EQ(r.file_score, 3.0);
        EXPECT_DOUBLE_EQ(r.no_classifier, 4.0);
        EXPECT_DOUBLE_EQ(r.classifier, 0.5);
    }
    EXPECT_TRUE(seen);
    // An overlay without score_set is both sets'.
    auto both = RuleSet::load_dir(overlay_dir("both", "scores:\n  PILLS: 2.5\n"));
    ASSERT_TRUE(both) << both.error().message;
    EXPECT_DOUBLE_EQ(score_of(**both, "cheap pills", "PILLS", ScoreSet::classifier), 2.5);
    EXPECT_DOUBLE_EQ(score_of(**both, "cheap pills", "PILLS", ScoreSet::no_classifier), 2.5);
}

TEST(Rules, ShippedRulesHaveTwoScoreSets) {
    // conf/rules.d ships both sets fitted on the development corpus (9x-fitted-*.scores.yaml):
    // with the classifier voting, the HTML/MIME rules weigh less than without it.
    auto rules = RuleSet::load_dir(std::string(PAMPERO_SOURCE_DIR) + "/conf/rules.d");
    ASSERT_TRUE(rules) << rules.error().message;
    std::size_t differ = 0;
    for (const auto& r : (*rules)->scores()) differ += r.classifier != r.no_classifier;
    EXPECT_GT(differ, 10u);
}

TEST(Rules, ShippedRulesTakeAnOverlayOfEveryShippedName) {
    // What fit-rule-scores --out writes for the shipped rules loads beside them, once the
    // shipped fitted overlays are out of the way (a site's own fit replaces them).
    const auto dir = std::filesystem::temp_directory_path() /
                     ("pampero-rules-overlay-shipped-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::copy(std::string(PAMPERO_SOURCE_DIR) + "/conf/rules.d", dir);
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        const std::string name = e.path().filename().string();
        if (name.size() > 12 && name.substr(name.size() - 12) == ".scores.yaml")
            std::filesystem::remove(e.path());
    }
    std::ofstream(dir / "99-fitted.scores.yaml")
        << "# fitted by scripts/fit-rule-scores\nscores:\n  BAYES_95: 3.5   # was 5.0\n";
    auto rules = RuleSet::load_dir(dir.string());
    ASSERT_TRUE(rules) << rules.error().message;
    Message m = parse_message("Subject: s\r\n\r\nx\r\n", 1 << 20);
    m.mime_summary += "classifier BAYES_95 p=0.97 tokens=10\n";
    double bayes = 0;
    for (const auto& h : (*rules)->match(m, ScoreSet::classifier))
        if (h.name == "BAYES_95") bayes = h.score;
    EXPECT_DOUBLE_EQ(bayes, 3.5);
}

struct BadOverlay {
    const char* name;
    const char* overlay;
    const char* expect;
    int line;
};

class BadOverlays : public ::testing::TestWithParam<BadOverlay> {};

TEST_P(BadOverlays, RefusedNamingFileAndLine) {
    const auto& row = GetParam();
    const std::string dir = overlay_dir(row.name, row.overlay);
    auto rules = RuleSet::load_dir(dir);
    ASSERT_FALSE(rules);
    EXPECT_EQ(rules.error().kind, ErrorKind::config);
    const std::string want = dir + "/00-fitted.scores.yaml:" + std::to_string(row.line) + ":";
    EXPECT_NE(rules.error().message.find(want), std::string::npos) << rules.error().message;
    EXPECT_NE(rules.error().message.find(row.expect), std::string::npos) << rules.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Rows, BadOverlays,
    ::testing::Values(
        BadOverlay{"unknown", "scores:\n  PILLS: 1\n  NO_SUCH_RULE: 2\n",
                   "scores: unknown rule 'NO_SUCH_RULE'", 3},
        BadOverlay{"sub_rule", "scores:\n  __SUB: 1\n", "'__SUB' is a '__' sub-rule", 2},
        BadOverlay{"not_a_number", "scores:\n  PILLS: lots\n", "score must be between", 2},
        BadOverlay{"too_big", "scores:\n  PILLS: 5000\n", "score must be between", 2},
        BadOverlay{"not_a_map", "scores:\n  - PILLS\n", "'scores' must be a mapping", 2},
        BadOverlay{"bad_set", "score_set: bayes\nscores:\n  PILLS: 1\n",
                   "score_set must be classifier or no_classifier", 1},
        BadOverlay{"set_list", "score_set: [classifier]\nscores:\n  PILLS: 1\n",
                   "score_set must be classifier or no_classifier", 1},
        BadOverlay{"set_without_scores", "score_set: classifier\n",
                   "score_set goes in a file of scores only", 1},
        BadOverlay{"set_with_rules",
                   "score_set: classifier\nscores:\n  PILLS: 1\nrules:\n"
                   "  - {name: OTHER, target: body, regex: other, score: 1}\n",
                   "score_set goes in a file of scores only", 1}),
    [](const auto& info) { return info.param.name; });

TEST(Rules, ScoreOverlayGivenTwiceIsAnError) {
    const std::string dir = overlay_dir("dup", "scores:\n  PILLS: 1\n");
    std::ofstream(std::filesystem::path(dir) / "50-more.scores.yaml") << "scores:\n  PILLS: 2\n";
    auto rules = RuleSet::load_dir(dir);
    ASSERT_FALSE(rules);
    EXPECT_NE(rules.error().message.find("50-more.scores.yaml:2:"), std::string::npos)
        << rules.error().message;
    EXPECT_NE(rules.error().message.find("PILLS already has a score at " + dir +
                                         "/00-fitted.scores.yaml:2"),
              std::string::npos)
        << rules.error().message;
}

TEST(Rules, ScoreSetOverlayGivenTwiceInOneSetIsAnError) {
    // One overlay per set is fine; a set-less overlay is both sets', so it collides with
    // either; two overlays of the same set collide.
    const std::string dir = overlay_dir("set_dup", "score_set: classifier\nscores:\n  PILLS: 1\n");
    std::ofstream(std::filesystem::path(dir) / "50-other.scores.yaml")
        << "score_set: no_classifier\nscores:\n  PILLS: 2\n";
    ASSERT_TRUE(RuleSet::load_dir(dir));
    std::ofstream(std::filesystem::path(dir) / "60-more.scores.yaml")
        << "score_set: classifier\nscores:\n  PILLS: 3\n";
    auto rules = RuleSet::load_dir(dir);
    ASSERT_FALSE(rules);
    EXPECT_NE(rules.error().message.find(dir +
                                         "/60-more.scores.yaml:3: scores: rule PILLS "
                                         "already has a score in score_set classifier at " +
                                         dir + "/00-fitted.scores.yaml:3"),
              std::string::npos)
        << rules.error().message;
    std::filesystem::remove(std::filesystem::path(dir) / "60-more.scores.yaml");
    std::ofstream(std::filesystem::path(dir) / "70-both.scores.yaml") << "scores:\n  PILLS: 3\n";
    rules = RuleSet::load_dir(dir);
    ASSERT_FALSE(rules);
    EXPECT_NE(rules.error().message.find("70-both.scores.yaml:2: scores: rule PILLS already has "
                                         "a score at "),
              std::string::npos)
        << rules.error().message;
}

TEST(Rules, EmptyDirectoryIsAnError) {
    const auto dir = std::filesystem::temp_directory_path() / "pampero-rules-empty";
    std::filesystem::create_directories(dir);
    auto rules = RuleSet::load_dir(dir.string());
    ASSERT_FALSE(rules);
    EXPECT_EQ(rules.error().kind, ErrorKind::config);
}

TEST(Engine, HolderSwapKeepsOldSnapshotAlive) {
    Config cfg;
    cfg.rules_dir = std::string(PAMPERO_SOURCE_DIR) + "/conf/rules.d";
    cfg.levels = std::string(PAMPERO_SOURCE_DIR) + "/conf/levels.yaml";
    auto first = load_engine(cfg);
    ASSERT_TRUE(first) << first.error().message;
    EngineHolder holder(*first);
    auto in_flight = holder.get();
    auto second = load_engine(cfg);
    ASSERT_TRUE(second);
    holder.set(*second);
    EXPECT_EQ(holder.get(), *second);
    EXPECT_EQ(in_flight, *first);  // a scan that started keeps its snapshot
    EXPECT_GT(
        in_flight
            ->scan("Subject: "
                   "x\r\n\r\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X")
            .score,
        999.0);
}
