// Zone parsing and lookups: rbldnsd's formats, boundary rows, malformed lines, and a
// randomized comparison of ip4set lookups with a brute-force model of rbldnsd's rules.
#include "pampero/lists/zone.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

using namespace pampero;
using namespace pampero::scan;

namespace {

std::shared_ptr<const Zone> must_parse(const std::string& text, ZoneFormat f) {
    auto z = Zone::parse(text, f, "t.zone");
    EXPECT_TRUE(z.ok()) << (z.ok() ? "" : z.error().message);
    if (!z.ok()) return nullptr;
    return z.value();
}

std::string parse_error(const std::string& text, ZoneFormat f) {
    auto z = Zone::parse(text, f, "t.zone");
    if (z.ok()) return "(parsed)";
    EXPECT_EQ(z.error().kind, ErrorKind::config);
    return z.error().message;
}

std::uint32_t ip(const char* s) {
    const auto v = parse_ipv4_peer(s);
    EXPECT_TRUE(v) << s;
    return v.value_or(0);
}

// Sorted A values as "127.0.0.2,127.0.0.4" or "-".
std::string answers(const Zone& z, const ZoneMatch& m) {
    std::vector<std::uint32_t> a;
    for (auto id : m.answers) a.push_back(z.answer_a(id));
    std::sort(a.begin(), a.end());
    std::string out;
    for (auto v : a) out.append(out.empty() ? "" : ",").append(format_ipv4(v));
    return out.empty() ? "-" : out;
}

std::string ip_answers(const Zone& z, const char* addr) {
    return answers(z, z.lookup_ip(ip(addr)));
}
std::string name_answers(const Zone& z, const char* name) {
    return answers(z, z.lookup_name(name));
}

TEST(Ip4SetParse, EveryKeyFormOfTheManual) {
    // rbldnsd(8): all of these mean 127.0.0.0/24, and 127.16.0.0-127.31.255.255.
    for (const char* key : {"127.0.0.0/24", "127.0.0", "127/24", "127-127.0.0",
                            "127.0.0.0-127.0.0.255", "127.0.0.1-255"}) {
        auto z = must_parse(std::string(key) + "\n", ZoneFormat::ip4set);
        ASSERT_TRUE(z);
        const bool from_one = std::string(key) == "127.0.0.1-255";
        EXPECT_EQ(ip_answers(*z, "127.0.0.0"), from_one ? "-" : "127.0.0.2") << key;
        EXPECT_EQ(ip_answers(*z, "127.0.0.1"), "127.0.0.2") << key;
        EXPECT_EQ(ip_answers(*z, "127.0.0.255"), "127.0.0.2") << key;
        EXPECT_EQ(ip_answers(*z, "127.0.1.0"), "-") << key;
        EXPECT_EQ(ip_answers(*z, "126.255.255.255"), "-") << key;
    }
    for (const char* key : {"127.16.0.0-127.31.255.255", "127.16.0-127.31.255", "127.16-127.31",
                            "127.16-31", "127.16.0.0/12", "127.16.0/12", "127.16/12"}) {
        auto z = must_parse(std::string(key) + "\n", ZoneFormat::ip4set);
        ASSERT_TRUE(z);
        EXPECT_EQ(ip_answers(*z, "127.15.255.255"), "-") << key;
        EXPECT_EQ(ip_answers(*z, "127.16.0.0"), "127.0.0.2") << key;
        EXPECT_EQ(ip_answers(*z, "127.31.255.255"), "127.0.0.2") << key;
        EXPECT_EQ(ip_answers(*z, "127.32.0.0"), "-") << key;
    }
}

TEST(Ip4SetParse, BoundaryAddresses) {
    auto z = must_parse("0.0.0.0\n255.255.255.255\n1.0.0.0/8\n", ZoneFormat::ip4set);
    ASSERT_TRUE(z);
    EXPECT_EQ(ip_answers(*z, "0.0.0.0"), "127.0.0.2");
    EXPECT_EQ(ip_answers(*z, "0.0.0.1"), "-");
    EXPECT_EQ(ip_answers(*z, "255.255.255.255"), "127.0.0.2");
    EXPECT_EQ(ip_answers(*z, "255.255.255.254"), "-");
    EXPECT_EQ(ip_answers(*z, "1.255.255.255"), "127.0.0.2");
    EXPECT_EQ(ip_answers(*z, "2.0.0.0"), "-");
    // The whole space as one range: 256 /8 blocks, no overflow at the top.
    auto all = must_parse("0.0.0.0-255.255.255.255 :3\n", ZoneFormat::ip4set);
    ASSERT_TRUE(all);
    EXPECT_EQ(ip_answers(*all, "255.255.255.255"), "127.0.0.3");
    EXPECT_EQ(ip_answers(*all, "0.0.0.0"), "127.0.0.3");
    EXPECT_EQ(all->stats().entries, 1u);
    // A range that is not octet-aligned at either end.
    auto odd = must_parse("10.0.0.250-10.0.2.5\n", ZoneFormat::ip4set);
    ASSERT_TRUE(odd);
    EXPECT_EQ(ip_answers(*odd, "10.0.0.249"), "-");
    EXPECT_EQ(ip_answers(*odd, "10.0.0.250"), "127.0.0.2");
    EXPECT_EQ(ip_answers(*odd, "10.0.1.128"), "127.0.0.2");
    EXPECT_EQ(ip_answers(*odd, "10.0.2.5"), "127.0.0.2");
    EXPECT_EQ(ip_answers(*odd, "10.0.2.6"), "-");
}

TEST(Ip4SetParse, ValuesAndDefaults) {
    auto z = must_parse(
        "1.0.0.1\n"  // before any default: 127.0.0.2, no TXT
        ":127.0.0.3:IP $ is listed\n"
        "1.0.0.4\n"                          // default A and TXT
        "1.0.0.5 :5\n"                       // own A, default TXT
        "1.0.0.6 :6:\n"                      // own A, no TXT
        "1.0.0.7 IP $ runs an open relay\n"  // default A, own TXT
        "1.0.0.8 # comment\n"
        "1.0.0.9\t:9:tab separated\n"
        "1.0.0.10 :127.0.0.10:full A\n"
        ":127.0.0.4\n"  // A only: TXT stays
        "1.0.0.11\n",
        ZoneFormat::ip4set);
    ASSERT_TRUE(z);
    auto txt = [&](const char* a) {
        auto m = z->lookup_ip(ip(a));
        return m.listed() ? z->answer_txt(m.answers[0], a) : std::string("(not listed)");
    };
    EXPECT_EQ(ip_answers(*z, "1.0.0.1"), "127.0.0.2");
    EXPECT_EQ(txt("1.0.0.1"), "");
    EXPECT_EQ(ip_answers(*z, "1.0.0.4"), "127.0.0.3");
    EXPECT_EQ(txt("1.0.0.4"), "IP 1.0.0.4 is listed");
    EXPECT_EQ(ip_answers(*z, "1.0.0.5"), "127.0.0.5");
    EXPECT_EQ(txt("1.0.0.5"), "IP 1.0.0.5 is listed");
    EXPECT_EQ(ip_answers(*z, "1.0.0.6"), "127.0.0.6");
    EXPECT_EQ(txt("1.0.0.6"), "");
    EXPECT_EQ(ip_answers(*z, "1.0.0.7"), "127.0.0.3");
    EXPECT_EQ(txt("1.0.0.7"), "IP 1.0.0.7 runs an open relay");
    EXPECT_EQ(ip_answers(*z, "1.0.0.8"), "127.0.0.3");
    EXPECT_EQ(txt("1.0.0.9"), "tab separated");
    EXPECT_EQ(ip_answers(*z, "1.0.0.10"), "127.0.0.10");
    EXPECT_EQ(ip_answers(*z, "1.0.0.11"), "127.0.0.4");
    EXPECT_EQ(txt("1.0.0.11"), "IP 1.0.0.11 is listed");
}

TEST(Ip4SetParse, TxtSubstitutionsAsRbldnsd) {
    // Checked against rbldnsd 1.0~20210120: $$ is a dollar, $n the first definition
    // (verbatim), $ the subject; with $= every TXT goes through the base template.
    auto z = must_parse("$1 See http://x/$\n$1 second\n1.2.3.4 per $$ $ $1\n", ZoneFormat::ip4set);
    ASSERT_TRUE(z);
    auto m = z->lookup_ip(ip("1.2.3.4"));
    ASSERT_TRUE(m.listed());
    EXPECT_EQ(z->answer_txt(m.answers[0], "1.2.3.4"), "per $ 1.2.3.4 See http://x/$");

    auto b = must_parse("$= base[$=]($)\n1.0.0.1\n1.0.0.2 hello $ there\n1.0.0.3 =raw $\n",
                        ZoneFormat::ip4set);
    ASSERT_TRUE(b);
    auto t = [&](const char* a) { return b->answer_txt(b->lookup_ip(ip(a)).answers[0], a); };
    EXPECT_EQ(t("1.0.0.1"), "base[1.0.0.1](1.0.0.1)");
    EXPECT_EQ(t("1.0.0.2"), "base[hello $ there](1.0.0.2)");
    EXPECT_EQ(t("1.0.0.3"), "raw 1.0.0.3");

    std::string long_txt(300, 'x');
    auto l = Zone::parse("1.2.3.4 " + long_txt + "\n", ZoneFormat::ip4set, "t.zone");
    ASSERT_TRUE(l.ok());
    EXPECT_EQ(l.value()->stats().warnings, 1u);
    EXPECT_EQ(l.value()->answer_txt(l.value()->lookup_ip(ip("1.2.3.4")).answers[0], "").size(),
              255u);
}

TEST(Ip4SetLookup, MostSpecificBlockDecides) {
    auto z = must_parse(
        "10.0.0.0/8 :8\n"
        "10.1.0.0/16 :16\n"
        "!10.1.2.0/24\n"
        "10.1.2.3 :32\n"
        "10.1.2.3 :33:\n"  // same key, second value: both answered
        "10.1.2.3 :32\n"   // duplicate: answered once
        "!10.5.5.5\n"
        "11.0.0.0/12 :12\n"   // /12: sixteen /16 blocks
        "12.0.0.8/29 :29\n",  // /29: eight /32s
        ZoneFormat::ip4set);
    ASSERT_TRUE(z);
    EXPECT_EQ(ip_answers(*z, "10.9.9.9"), "127.0.0.8");
    EXPECT_EQ(ip_answers(*z, "10.1.9.9"), "127.0.0.16");
    EXPECT_EQ(ip_answers(*z, "10.1.2.4"), "-");                      // /24 exclusion beats the /16
    EXPECT_EQ(ip_answers(*z, "10.1.2.3"), "127.0.0.32,127.0.0.33");  // /32 beats the /24 exclusion
    EXPECT_EQ(ip_answers(*z, "10.5.5.5"), "-");
    EXPECT_EQ(ip_answers(*z, "10.5.5.6"), "127.0.0.8");
    EXPECT_EQ(ip_answers(*z, "11.15.255.255"), "127.0.0.12");
    EXPECT_EQ(ip_answers(*z, "11.16.0.0"), "-");
    EXPECT_EQ(ip_answers(*z, "12.0.0.7"), "-");
    EXPECT_EQ(ip_answers(*z, "12.0.0.8"), "127.0.0.29");
    EXPECT_EQ(ip_answers(*z, "12.0.0.15"), "127.0.0.29");
    EXPECT_EQ(ip_answers(*z, "12.0.0.16"), "-");
    // An exclusion and a listing of the same block: the exclusion wins.
    auto x = must_parse("1.2.3.4\n!1.2.3.4\n", ZoneFormat::ip4set);
    ASSERT_TRUE(x);
    EXPECT_EQ(ip_answers(*x, "1.2.3.4"), "-");
    EXPECT_EQ(x->stats().entries, 2u);
    EXPECT_EQ(x->stats().exclusions, 1u);
}

TEST(Ip4SetParse, SkippedLikeRbldnsdWithWarnings) {
    auto z =
        Zone::parse("10.1.2.3/24\n$MAXRANGE4 /16\n31/8\n32.5/16\n", ZoneFormat::ip4set, "w.zone");
    ASSERT_TRUE(z.ok()) << z.error().message;
    EXPECT_EQ(z.value()->stats().warnings, 2u);
    ASSERT_EQ(z.value()->stats().first_warnings.size(), 2u);
    EXPECT_EQ(z.value()->stats().first_warnings[0].rfind("w.zone:1: ", 0), 0u);
    EXPECT_EQ(z.value()->stats().first_warnings[1].rfind("w.zone:3: ", 0), 0u);
    EXPECT_EQ(z.value()->stats().entries, 1u);
    EXPECT_EQ(ip_answers(*z.value(), "10.1.2.3"), "-");
    EXPECT_EQ(ip_answers(*z.value(), "31.0.0.1"), "-");
    EXPECT_EQ(ip_answers(*z.value(), "32.5.1.1"), "127.0.0.2");
    // $MAXRANGE4 cannot grow once set.
    auto g = Zone::parse("$MAXRANGE4 256\n$MAXRANGE4 /8\n1.2.3.0/23\n1.2.5.0/24\n",
                         ZoneFormat::ip4set, "g");
    ASSERT_TRUE(g.ok());
    EXPECT_EQ(ip_answers(*g.value(), "1.2.3.1"), "-");
    EXPECT_EQ(ip_answers(*g.value(), "1.2.5.1"), "127.0.0.2");
}

TEST(ZoneParse, MalformedLinesNameFileAndLine) {
    struct Row {
        const char* text;
        ZoneFormat format;
        const char* want;  // prefix of the message
    };
    const Row rows[] = {
        {"1.2.3.4\n1.2.3.256\n", ZoneFormat::ip4set, "t.zone:2: invalid address"},
        {"2\n", ZoneFormat::ip4set, "t.zone:1: invalid address"},
        {"1.2.3.4.5\n", ZoneFormat::ip4set, "t.zone:1: invalid address"},
        {"1.2.3.0/33\n", ZoneFormat::ip4set, "t.zone:1: invalid address"},
        {"1.2.3.0/0\n", ZoneFormat::ip4set, "t.zone:1: invalid address"},
        {"1.2.3.9-1.2.3.3\n", ZoneFormat::ip4set, "t.zone:1: invalid address"},
        {"1.2.3.4/24-5\n", ZoneFormat::ip4set, "t.zone:1: invalid address"},
        {"1.2.3.4:2\n", ZoneFormat::ip4set, "t.zone:1: invalid address"},
        {"garbage\n", ZoneFormat::ip4set, "t.zone:1: invalid address"},
        {"\n\n1.2.3.4 :300\n", ZoneFormat::ip4set, "t.zone:3: invalid A value"},
        {"1.2.3.4 :0\n", ZoneFormat::ip4set, "t.zone:1: invalid A value"},
        {"1.2.3.4 :127.0.0\n", ZoneFormat::ip4set, "t.zone:1: invalid A value"},
        {"1.2.3.4 :2 junk\n", ZoneFormat::ip4set, "t.zone:1: unrecognized value"},
        {":x:\n", ZoneFormat::ip4set, "t.zone:1: invalid A value"},
        {"$BOGUS 1\n", ZoneFormat::ip4set, "t.zone:1: unknown special '$BOGUS'"},
        {"$MAXRANGE4 /0\n", ZoneFormat::ip4set, "t.zone:1: $MAXRANGE4"},
        {"$TTL\n", ZoneFormat::ip4set, "t.zone:1: $TTL needs a value"},
        {"$TIMESTAMP 2999:01:01\n", ZoneFormat::ip4set,
         "t.zone:1: $TIMESTAMP: data stamped in the future"},
        {"$TIMESTAMP 2001:01:01 2002:01:01\n", ZoneFormat::ip4set,
         "t.zone:1: $TIMESTAMP: data expired"},
        {"$TIMESTAMP 2001:13:01\n", ZoneFormat::ip4set, "t.zone:1: $TIMESTAMP: bad stamp"},
        {"1.2.3\n", ZoneFormat::ip4tset, "t.zone:1: invalid address"},
        {"!1.2.3.4\n", ZoneFormat::ip4tset, "t.zone:1: ip4tset has no exclusions"},
        {"1.2.3.4 :5\n", ZoneFormat::ip4tset, "t.zone:1: ip4tset entries take no value"},
        {":2\n:3\n", ZoneFormat::ip4tset, "t.zone:2: ip4tset takes one value line"},
        {"bad..name\n", ZoneFormat::dnset, "t.zone:1: invalid domain name"},
        {"*.\n", ZoneFormat::dnset, "t.zone:1: invalid domain name"},
        {".\n", ZoneFormat::dnset, "t.zone:1: invalid domain name"},
        {"a\x01.test\n", ZoneFormat::dnset, "t.zone:1: invalid domain name"},
        {"ok.test\nnul\0byte\n", ZoneFormat::dnset, "t.zone:2: NUL byte"},
    };
    for (const auto& r : rows) {
        std::string text(r.text);
        if (std::string_view(r.text) == "ok.test\nnul")
            text = std::string("ok.test\nnul\0byte\n", 17);
        const std::string msg = parse_error(text, r.format);
        EXPECT_EQ(msg.rfind(r.want, 0), 0u) << "text: " << r.text << "\nmessage: " << msg;
    }
    const std::string long_label(64, 'a');
    EXPECT_EQ(parse_error(long_label + ".test\n", ZoneFormat::dnset)
                  .rfind("t.zone:1: invalid domain name", 0),
              0u);
    std::string long_name;
    while (long_name.size() < 254) long_name += "abcdefghi.";
    EXPECT_EQ(
        parse_error(long_name + "x\n", ZoneFormat::dnset).rfind("t.zone:1: invalid domain name", 0),
        0u);
    EXPECT_EQ(parse_error("1.2.3.4 " + std::string(Zone::kMaxLine, 'x') + "\n", ZoneFormat::ip4set)
                  .rfind("t.zone:1: line longer than", 0),
              0u);
}

TEST(ZoneParse, AcceptedSpecialsAndComments) {
    auto z = must_parse(
        "# comment\n; comment\n#$SOA is a comment for rbldns too\n"
        "$SOA 3600 ns.x. h.x. 0 600 300 86400 300\n$NS 3600 ns.x.\n$TTL 1h\n"
        "$TIMESTAMP 2001:01:01:12:00 0\n"
        "#$ this is just a comment\n"
        "   1.2.3.4   \r\n"
        "1.2.3.5 ; trailing\n",
        ZoneFormat::ip4set);
    ASSERT_TRUE(z);
    EXPECT_EQ(ip_answers(*z, "1.2.3.4"), "127.0.0.2");
    EXPECT_EQ(ip_answers(*z, "1.2.3.5"), "127.0.0.2");
    EXPECT_EQ(z->stats().entries, 2u);
    // 2001 + 100 weeks is long past.
    EXPECT_FALSE(
        Zone::parse("$TIMESTAMP 2001:01:01 +100w\n1.2.3.4\n", ZoneFormat::ip4set, "e").ok());
    auto later = must_parse("$TIMESTAMP 2001-01-01 2999-01-01\n1.2.3.4\n", ZoneFormat::ip4set);
    ASSERT_TRUE(later);
    EXPECT_GT(later->stats().expires, 0);
    EXPECT_TRUE(must_parse("", ZoneFormat::dnset));
}

TEST(Ip4TSet, SingleValueForAll) {
    auto z = must_parse(":127.0.0.9:tset $\n127.0.0.2\n1.2.3.4\n", ZoneFormat::ip4tset);
    ASSERT_TRUE(z);
    EXPECT_EQ(ip_answers(*z, "127.0.0.2"), "127.0.0.9");
    EXPECT_EQ(ip_answers(*z, "1.2.3.4"), "127.0.0.9");
    EXPECT_EQ(ip_answers(*z, "1.2.3.5"), "-");
    EXPECT_EQ(z->answer_txt(z->lookup_ip(ip("1.2.3.4")).answers[0], "1.2.3.4"), "tset 1.2.3.4");
    EXPECT_EQ(name_answers(*z, "example.com"), "-");
}

TEST(DnSet, WildcardsExclusionsAndCase) {
    auto z = must_parse(
        ":127.0.0.2:dom $\n"
        "example.com\n"
        "*.wild.com\n"
        ".both.com :4:\n"
        "!x.both.com\n"
        "!*.sub.both.com\n"
        "Test :8\n"
        "trailing.dot.com.\n"
        "2.0.0.127 :10\n",
        ZoneFormat::dnset);
    ASSERT_TRUE(z);
    // Same table as a real rbldnsd answered.
    EXPECT_EQ(name_answers(*z, "example.com"), "127.0.0.2");
    EXPECT_EQ(name_answers(*z, "a.example.com"), "-");
    EXPECT_EQ(name_answers(*z, "a.wild.com"), "127.0.0.2");
    EXPECT_EQ(name_answers(*z, "a.b.c.wild.com"), "127.0.0.2");
    EXPECT_EQ(name_answers(*z, "wild.com"), "-");
    EXPECT_EQ(name_answers(*z, "both.com"), "127.0.0.4");
    EXPECT_EQ(name_answers(*z, "x.both.com"), "-");
    EXPECT_EQ(name_answers(*z, "y.x.both.com"), "127.0.0.4");
    EXPECT_EQ(name_answers(*z, "a.sub.both.com"), "-");
    EXPECT_EQ(name_answers(*z, "sub.both.com"), "127.0.0.4");
    EXPECT_EQ(name_answers(*z, "test"), "127.0.0.8");
    EXPECT_EQ(name_answers(*z, "TEST."), "127.0.0.8");
    EXPECT_EQ(name_answers(*z, "EXAMPLE.Com"), "127.0.0.2");
    EXPECT_EQ(name_answers(*z, "trailing.dot.com"), "127.0.0.2");
    EXPECT_EQ(name_answers(*z, "com"), "-");
    EXPECT_EQ(name_answers(*z, ""), "-");
    EXPECT_EQ(name_answers(*z, "."), "-");
    EXPECT_EQ(name_answers(*z, std::string(300, 'a').c_str()), "-");
    // A reversed IP listed as a name answers an IP lookup on a dnset.
    EXPECT_EQ(ip_answers(*z, "127.0.0.2"), "127.0.0.10");
    // TXT '$' is the entry that matched (the wildcard's base for a wildcard match).
    auto m = z->lookup_name("a.wild.com");
    EXPECT_EQ(m.entry, "wild.com");
    EXPECT_EQ(z->answer_txt(m.answers[0], m.entry), "dom wild.com");
}

// Names of up to 253 octets made mostly of dots (empty labels, as in fuzzed or hostile
// input) are answered "not listed" without overrunning the per-label tables: the first
// version indexed past them at the 128th dot (found by fuzz_zone).
TEST(DnSet, NamesOfManyEmptyLabelsNeverMatch) {
    std::string deepest;  // 127 labels, 253 octets: the most labels a listed name can have
    for (int i = 0; i < 127; ++i) deepest.append(i ? ".a" : "a");
    ASSERT_EQ(deepest.size(), Zone::kMaxNameLength);
    auto z = must_parse(":127.0.0.2:x\n" + deepest + "\n.a\n*.com\n", ZoneFormat::dnset);
    ASSERT_TRUE(z);
    EXPECT_EQ(name_answers(*z, deepest.c_str()), "127.0.0.2");
    EXPECT_EQ(name_answers(*z, deepest.substr(2).c_str()), "127.0.0.2");  // under the wildcard .a
    const std::vector<std::string> hostile = {std::string(253, '.'),
                                              std::string(252, '.') + "a",
                                              "a" + std::string(252, '.'),
                                              std::string(200, '.') + "com",
                                              "b..b",
                                              std::string(127, '.'),
                                              std::string(128, '.') + "a"};
    std::vector<std::string_view> views;
    for (const auto& h : hostile) {
        EXPECT_EQ(name_answers(*z, h.c_str()), "-") << h.size();
        views.push_back(h);
    }
    views.push_back(deepest);  // the batched path too, with one name that is listed
    std::vector<ZoneMatch> out(views.size());
    z->lookup_names(views, out);
    for (std::size_t i = 0; i + 1 < out.size(); ++i) EXPECT_TRUE(out[i].answers.empty()) << i;
    EXPECT_FALSE(out.back().answers.empty());
}

TEST(DnSet, ManyNamesAllFound) {
    std::string text;
    for (int i = 0; i < 20000; ++i)
        text += "host" + std::to_string(i) + ".example" + std::to_string(i % 97) +
                ".test :" + std::to_string(2 + i % 5) + "\n";
    for (int i = 0; i < 3000; ++i) text += "*.w" + std::to_string(i) + ".test\n";
    auto z = must_parse(text, ZoneFormat::dnset);
    ASSERT_TRUE(z);
    for (int i = 0; i < 20000; i += 7) {
        const std::string n =
            "host" + std::to_string(i) + ".example" + std::to_string(i % 97) + ".test";
        ASSERT_EQ(name_answers(*z, n.c_str()), "127.0.0." + std::to_string(2 + i % 5)) << n;
        ASSERT_EQ(name_answers(*z, ("x" + n).c_str()), "-") << n;
    }
    for (int i = 0; i < 3000; i += 11) {
        ASSERT_EQ(name_answers(*z, ("a.b.w" + std::to_string(i) + ".test").c_str()), "127.0.0.2");
        ASSERT_EQ(name_answers(*z, ("w" + std::to_string(i) + ".test").c_str()), "-");
    }
    // lookup_names() answers exactly what lookup_name() does, for any batch length.
    std::vector<std::string> qs;
    for (int i = 0; i < 20000; i += 13) {
        const std::string n =
            "host" + std::to_string(i) + ".example" + std::to_string(i % 97) + ".test";
        qs.push_back(n);
        qs.push_back("NX" + n);
        qs.push_back("a.w" + std::to_string(i % 3000) + ".Test.");
        qs.push_back("w" + std::to_string(i % 3000) + ".test");
    }
    qs.push_back("");
    qs.push_back(std::string(300, 'x'));
    qs.push_back("..");
    std::vector<std::string_view> views(qs.begin(), qs.end());
    for (std::size_t len :
         {std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{9}, views.size()}) {
        std::vector<ZoneMatch> out(len);
        z->lookup_names(std::span<const std::string_view>(views.data(), len), out);
        for (std::size_t k = 0; k < len; ++k) {
            ASSERT_EQ(answers(*z, out[k]), answers(*z, z->lookup_name(views[k]))) << views[k];
            ASSERT_EQ(out[k].entry, z->lookup_name(views[k]).entry) << views[k];
        }
    }
    auto ipz = must_parse("1.2.3.4\n", ZoneFormat::ip4set);
    std::vector<ZoneMatch> out(2);
    ipz->lookup_names(std::span<const std::string_view>(views.data(), 2), out);
    EXPECT_FALSE(out[0].listed());
}

// Answers and matched entries of `names` on a dnset parsed with a given bucket count.
std::vector<std::string> dnset_answers(const std::string& text, std::size_t buckets,
                                       const std::vector<std::string>& names) {
    auto z = Zone::parse(text, ZoneFormat::dnset, "t.zone", Zone::Options{buckets});
    EXPECT_TRUE(z.ok());
    std::vector<std::string> out;
    if (!z.ok()) return out;
    std::vector<std::string_view> views(names.begin(), names.end());
    std::vector<ZoneMatch> batch(views.size());
    z.value()->lookup_names(views, batch);
    for (std::size_t i = 0; i < names.size(); ++i) {
        const ZoneMatch m = z.value()->lookup_name(names[i]);
        EXPECT_EQ(answers(*z.value(), batch[i]), answers(*z.value(), m)) << names[i];
        EXPECT_EQ(batch[i].entry, m.entry) << names[i];
        out.push_back(answers(*z.value(), m) + " " + std::string(m.entry));
    }
    return out;
}

TEST(DnSet, FingerprintCollisionsStillCompareNames) {
    // One bucket: every name shares it, so with 14-bit fingerprints and 3,000 names of the
    // same length many fingerprints collide (and the bucket overflows its 14 slots); two
    // buckets and three still overflow. Each name must still find only itself.
    std::string text;
    std::vector<std::string> names;
    for (int i = 0; i < 3000; ++i) {
        char n[16];
        std::snprintf(n, sizeof n, "n%05d.test", i);
        names.emplace_back(n);
        text.append(i % 3 == 0 ? "." : "")
            .append(n)
            .append(" :")
            .append(std::to_string(2 + i % 7))
            .append("\n");
    }
    text += "!x.n00003.test\n";
    for (std::size_t buckets : {1, 2, 3}) {
        auto z = Zone::parse(text, ZoneFormat::dnset, "t.zone", Zone::Options{buckets});
        ASSERT_TRUE(z.ok());
        for (int i = 0; i < 3000; ++i) {
            const std::string want = "127.0.0." + std::to_string(2 + i % 7);
            ASSERT_EQ(name_answers(*z.value(), names[i].c_str()), want) << names[i];
            ASSERT_EQ(z.value()->lookup_name(names[i]).entry, names[i]);
            ASSERT_EQ(name_answers(*z.value(), ("a." + names[i]).c_str()), i % 3 == 0 ? want : "-")
                << names[i];
            std::string other = names[i];
            other[0] = 'm';
            ASSERT_EQ(name_answers(*z.value(), other.c_str()), "-") << names[i];
        }
        EXPECT_EQ(name_answers(*z.value(), "x.n00003.test"), "-");
        EXPECT_EQ(name_answers(*z.value(), "y.x.n00003.test"), "127.0.0.5");
    }
}

// A name of 1..max_labels labels of 1-3 letters from "abc": many names share labels,
// lengths and parents.
std::string random_name(std::mt19937& rng, int max_labels) {
    auto label = [&] {
        std::string l;
        const int n = 1 + static_cast<int>(rng() % 3);
        for (int k = 0; k < n; ++k) l += "abc"[rng() % 3];
        return l;
    };
    std::string n = label();
    const int labels = 1 + static_cast<int>(rng() % static_cast<unsigned>(max_labels));
    for (int k = 1; k < labels; ++k) n.append(".").append(label());
    return n;
}

// `count` random names, a quarter of them in capitals, a fifth with a trailing dot.
std::vector<std::string> random_queries(std::mt19937& rng, int count, int max_labels) {
    std::vector<std::string> queries;
    for (int i = 0; i < count; ++i) {
        std::string q = random_name(rng, max_labels);
        if (rng() % 4 == 0) std::transform(q.begin(), q.end(), q.begin(), ::toupper);
        if (rng() % 5 == 0) q += ".";
        queries.push_back(q);
    }
    return queries;
}

TEST(DnSet, SameAnswersWhateverTheBucketCount) {
    // A random zone of short names over few letters (many share labels, lengths and parents)
    // with exact, wildcard, both and excluded entries: the answers and matched entries do
    // not depend on how names are spread over buckets.
    std::mt19937 rng(7);
    auto name = [&](int max_labels) { return random_name(rng, max_labels); };
    std::string text = ":127.0.0.2:base\n";
    static const char* prefixes[] = {"", "", ".", "*.", "!", "!.", "!*."};
    for (int i = 0; i < 1500; ++i) {
        text.append(prefixes[rng() % 7]).append(name(5));
        text += rng() % 2 ? " :" + std::to_string(2 + rng() % 9) + "\n" : "\n";
    }
    const std::vector<std::string> queries = random_queries(rng, 6000, 8);
    const auto reference = dnset_answers(text, 0, queries);
    std::size_t listed = 0;
    for (const auto& a : reference) listed += a[0] != '-';
    EXPECT_GT(listed, queries.size() / 10);
    EXPECT_LT(listed, queries.size() * 9 / 10);
    for (std::size_t buckets : {1, 2, 5, 64, 100000}) {
        EXPECT_EQ(dnset_answers(text, buckets, queries), reference) << buckets << " buckets";
    }
}

// Brute force model of the dnset rules: an exact entry for the name decides; otherwise the
// nearest parent with a wildcard entry does; an exclusion among the entries that decide
// means not listed, else every distinct value. Returns "answers entry" like dnset_answers.
std::string model_dnset(const std::map<std::string, std::vector<std::string>> (&entries)[2],
                        std::string q) {
    std::transform(q.begin(), q.end(), q.begin(), ::tolower);
    if (!q.empty() && q.back() == '.') q.pop_back();
    auto decide = [](const std::vector<std::string>& vals, const std::string& name) {
        if (std::find(vals.begin(), vals.end(), "!") != vals.end()) return std::string("- ");
        std::vector<std::string> v(vals);
        std::sort(v.begin(), v.end());
        v.erase(std::unique(v.begin(), v.end()), v.end());
        std::string out;
        for (const auto& a : v) out.append(out.empty() ? "" : ",").append(a);
        return out + " " + name;
    };
    if (q.empty()) return "- ";
    if (auto it = entries[0].find(q); it != entries[0].end()) return decide(it->second, q);
    for (auto dot = q.find('.'); dot != std::string::npos; dot = q.find('.', dot + 1)) {
        const std::string parent = q.substr(dot + 1);
        if (auto it = entries[1].find(parent); it != entries[1].end())
            return decide(it->second, parent);
    }
    return "- ";
}

TEST(DnSet, AgreesWithBruteForceModel) {
    // Random names over few letters (shared labels and parents, up to 6 labels), every kind
    // of entry with random values; queries deeper than any entry, in mixed case, with a
    // trailing dot. lookup_name and lookup_names both answer as the model does.
    std::mt19937 rng(11);
    std::map<std::string, std::vector<std::string>> entries[2];  // exact, wildcard
    std::string text;
    for (int i = 0; i < 2000; ++i) {
        const std::string n = random_name(rng, 6);
        const unsigned kind = rng() % 3;  // exact, .both, *.subdomains
        const bool excl = rng() % 6 == 0;
        const std::string a = "127.0.0." + std::to_string(2 + rng() % 5);
        text.append(excl ? "!" : "").append(kind == 1 ? "." : kind == 2 ? "*." : "").append(n);
        text.append(excl ? "\n" : " :" + a.substr(8) + "\n");
        if (kind != 2) entries[0][n].push_back(excl ? "!" : a);
        if (kind != 0) entries[1][n].push_back(excl ? "!" : a);
    }
    const std::vector<std::string> queries = random_queries(rng, 5000, 9);
    std::size_t listed = 0;
    for (std::size_t buckets : {0, 1, 7}) {
        const auto got = dnset_answers(text, buckets, queries);
        ASSERT_EQ(got.size(), queries.size());
        for (std::size_t i = 0; i < queries.size(); ++i) {
            ASSERT_EQ(got[i], model_dnset(entries, queries[i])) << queries[i] << ", " << buckets;
            listed += got[i][0] != '-';
        }
    }
    EXPECT_GT(listed, queries.size() / 4);
}

TEST(DnSet, LookupNamesAnyBatchLength) {
    // lookup_names() runs the names through a pipeline several names deep: batches shorter
    // than it, as long, one more, spanning it many times, and outputs shorter than the
    // input all answer what lookup_name() does, including the same name twice in a row and
    // with overflowing buckets (2 buckets for 300 names).
    std::string text;
    std::vector<std::string> qs;
    for (int i = 0; i < 300; ++i) {
        std::string n = "n";  // built in steps: "n" + to_string(i) trips GCC 12's -Wrestrict
        n.append(std::to_string(i)).append(i % 2 ? ".example" : ".test");
        text.append(i % 3 == 0 ? "." : i % 3 == 1 ? "*." : "").append(n);
        text.append(i % 11 == 0 ? "\n" : " :" + std::to_string(2 + i % 5) + "\n");
        if (i % 11 == 0) text.append("!x.").append(n).append("\n");
        qs.push_back(n);
        qs.push_back("x." + n);
        qs.push_back("y.x." + n);
        if (i % 7 == 0) qs.push_back(qs.back());
        if (i % 13 == 0) qs.push_back("nx" + n);
    }
    for (std::size_t buckets : {0, 2}) {
        auto z = Zone::parse(text, ZoneFormat::dnset, "t.zone", Zone::Options{buckets});
        ASSERT_TRUE(z.ok());
        const Zone& zone = *z.value();
        std::vector<std::string_view> views(qs.begin(), qs.end());
        std::vector<std::string> want;
        for (const auto& v : views) {
            const ZoneMatch m = zone.lookup_name(v);
            want.push_back(answers(zone, m) + " " + std::string(m.entry));
        }
        std::size_t listed = 0;
        for (const auto& w : want) listed += w[0] != '-';
        EXPECT_GT(listed, want.size() / 3);
        for (std::size_t len = 0; len <= 40; ++len) {
            for (std::size_t start = 0; start + len <= views.size(); start += 97) {
                std::vector<ZoneMatch> out(len + 1, ZoneMatch{{}, "untouched"});
                zone.lookup_names(std::span<const std::string_view>(views.data() + start, len),
                                  std::span<ZoneMatch>(out.data(), len));
                for (std::size_t k = 0; k < len; ++k) {
                    ASSERT_EQ(answers(zone, out[k]) + " " + std::string(out[k].entry),
                              want[start + k])
                        << views[start + k] << " len " << len;
                }
                EXPECT_EQ(out[len].entry, "untouched");  // nothing written past the output
            }
        }
        // All at once; then with the output shorter than the input.
        std::vector<ZoneMatch> out(views.size());
        zone.lookup_names(views, out);
        for (std::size_t k = 0; k < views.size(); ++k)
            ASSERT_EQ(answers(zone, out[k]) + " " + std::string(out[k].entry), want[k]);
        std::vector<ZoneMatch> shorter(9, ZoneMatch{{}, "untouched"});
        zone.lookup_names(views, std::span<ZoneMatch>(shorter.data(), 5));
        for (std::size_t k = 0; k < 5; ++k)
            ASSERT_EQ(answers(zone, shorter[k]) + " " + std::string(shorter[k].entry), want[k]);
        EXPECT_EQ(shorter[5].entry, "untouched");
    }
}

// Brute force model of rbldnsd's ip4set rules: an entry covers an address at the level of
// the largest octet-aligned block (/8, /16, /24, /32) around it that lies in the range;
// the most specific level with any entry decides, an exclusion there means not listed.
struct ModelEntry {
    std::uint32_t lo, hi, a;
    bool excl;
};

std::string model_lookup(const std::vector<ModelEntry>& es, std::uint32_t q) {
    for (int bits : {32, 24, 16, 8}) {
        std::vector<std::uint32_t> vals;
        bool excluded = false, any = false;
        for (const auto& e : es) {
            if (q < e.lo || q > e.hi) continue;
            int level = 32;
            for (int b : {8, 16, 24, 32}) {
                const std::uint64_t size = std::uint64_t{1} << (32 - b);
                const std::uint64_t start = q & ~(size - 1);
                if (start >= e.lo && start + size - 1 <= e.hi) {
                    level = b;
                    break;
                }
            }
            if (level != bits) continue;
            any = true;
            if (e.excl)
                excluded = true;
            else
                vals.push_back(e.a);
        }
        if (!any) continue;
        if (excluded) return "-";
        std::sort(vals.begin(), vals.end());
        vals.erase(std::unique(vals.begin(), vals.end()), vals.end());
        std::string out;
        for (auto v : vals) out.append(out.empty() ? "" : ",").append(format_ipv4(v));
        return out;
    }
    return "-";
}

TEST(Ip4SetLookup, AgreesWithBruteForceModel) {
    std::mt19937 rng(12345);
    for (int round = 0; round < 20; ++round) {
        std::vector<ModelEntry> es;
        std::ostringstream text;
        // Addresses in 10.0-3.x.x so that entries overlap a lot; up to ~3000 entries so
        // the indexed levels (>= 4096 /32 blocks once ranges expand) are exercised too.
        const int n = 50 + static_cast<int>(rng() % 3000);
        auto rnd_ip = [&] {
            return (10u << 24) | ((rng() % 4) << 16) | ((rng() % 8) << 8) | (rng() % 256);
        };
        for (int i = 0; i < n; ++i) {
            ModelEntry e{};
            e.excl = rng() % 6 == 0;
            e.a = 0x7f000000u | (2 + rng() % 4);
            const int kind = static_cast<int>(rng() % 5);
            std::string key;
            if (kind == 0 || kind == 1) {
                e.lo = e.hi = rnd_ip();
                key = format_ipv4(e.lo);
            } else if (kind == 2) {
                const int bits = 20 + static_cast<int>(rng() % 13);
                const std::uint32_t mask = bits == 32 ? ~0u : ~(0xffffffffu >> bits);
                e.lo = rnd_ip() & mask;
                e.hi = e.lo | ~mask;
                key = format_ipv4(e.lo) + "/" + std::to_string(bits);
            } else if (kind == 3) {
                e.lo = rnd_ip() & 0xffffff00u;
                e.hi = e.lo | 0xff;
                key = format_ipv4(e.lo).substr(0, format_ipv4(e.lo).rfind('.'));
            } else {
                std::uint32_t x = rnd_ip(), y = rnd_ip();
                if (x > y) std::swap(x, y);
                e.lo = x;
                e.hi = y;
                key = format_ipv4(x) + "-" + format_ipv4(y);
            }
            es.push_back(e);
            text << (e.excl ? "!" : "") << key;
            if (!e.excl) text << " :" << (e.a & 0xff);
            text << "\n";
        }
        auto z = must_parse(text.str(), ZoneFormat::ip4set);
        ASSERT_TRUE(z);
        for (int k = 0; k < 400; ++k) {
            const std::uint32_t q = rnd_ip();
            ASSERT_EQ(answers(*z, z->lookup_ip(q)), model_lookup(es, q))
                << "round " << round << " ip " << format_ipv4(q);
        }
    }
}

TEST(ZoneFiles, SharedTestDataMatchesExpectedTable) {
    const std::string dir = PAMPERO_TEST_DATA "/blocklists/";
    auto zen = Zone::load_file(dir + "zen.ip4set", ZoneFormat::ip4set);
    auto multi = Zone::load_file(dir + "multi.dnset", ZoneFormat::dnset);
    auto tset = Zone::load_file(dir + "small.ip4tset", ZoneFormat::ip4tset);
    ASSERT_TRUE(zen.ok()) << zen.error().message;
    ASSERT_TRUE(multi.ok()) << multi.error().message;
    ASSERT_TRUE(tset.ok()) << tset.error().message;
    std::ifstream in(dir + "expected.txt");
    std::string line;
    int rows = 0;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ls(line);
        std::string list, subject, want;
        ls >> list >> subject >> want;
        std::string got;
        if (list == "zen")
            got = ip_answers(*zen.value(), subject.c_str());
        else if (list == "tset")
            got = ip_answers(*tset.value(), subject.c_str());
        else
            got = name_answers(*multi.value(), subject.c_str());
        EXPECT_EQ(got, want) << line;
        ++rows;
    }
    EXPECT_GT(rows, 40);
    auto missing = Zone::load_file(dir + "no-such-file.ip4set", ZoneFormat::ip4set);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().kind, ErrorKind::temporary);
}

}  // namespace
