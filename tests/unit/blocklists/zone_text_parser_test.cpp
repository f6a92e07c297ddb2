// The zone text parser alone (zone_text_parser.hpp, internal to libpampero-scan): its errors
// name the zone and the line (counted over CRLF, blank, comment and special lines), its
// warnings are counted and the first few kept, and what it parses reaches the builders of
// the zone's format only.
#include "zone_text_parser.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace pampero;
using namespace pampero::scan;
using namespace pampero::scan::zone_detail;

namespace {

struct Parsed {
    Zone::Stats stats;
    ZoneAnswers answers;
    Ip4Table ips;
    NameTable names;
    std::int64_t expires = 0;
};

// Parses `text` as zone "src/x.zone"; the builders' tables are built as the facade does.
std::unique_ptr<Parsed> parse(std::string_view text, ZoneFormat format) {
    auto p = std::make_unique<Parsed>();
    ZoneAnswersBuilder ab(p->answers);
    Ip4TableBuilder ib;
    NameTableBuilder nb;
    const std::string name = "src/x.zone";
    ZoneTextParser parser(format, name, p->stats, ab, ib, nb);
    parser.run(text);
    p->ips = ib.build(ab);
    p->names = nb.build(ab);
    p->expires = parser.expires();
    return p;
}

// The message of the ZoneParseError `text` throws, or "(parsed)".
std::string error_of(std::string_view text, ZoneFormat format) {
    try {
        parse(text, format);
    } catch (const ZoneParseError& e) {
        return e.what();
    }
    return "(parsed)";
}

TEST(ZoneTextParser, ErrorsNameTheZoneAndTheLine) {
    struct Row {
        std::string_view text;
        ZoneFormat format;
        const char* want;
    };
    const Row rows[] = {
        // Line numbers count every line: blank, comment, special, CRLF-ended, indented.
        {"1.2.3.4\r\n\r\n# c\n; c\n$TTL 3600\n  1.2.3.x\n", ZoneFormat::ip4set,
         "src/x.zone:6: invalid address '1.2.3.x'"},
        {":2:ok\n:3:again\n", ZoneFormat::ip4tset,
         "src/x.zone:2: ip4tset takes one value line for all entries"},
        {"ok.test\n\n\n*.bad..test\n", ZoneFormat::dnset,
         "src/x.zone:4: invalid domain name '*.bad..test'"},
        {"ok.test :1:x\nok2.test :999\n", ZoneFormat::dnset, "src/x.zone:2: invalid A value"},
        {"#$BOGUS is a comment\n$BOGUS\n", ZoneFormat::dnset,
         "src/x.zone:2: unknown special '$BOGUS'"},
        // The last line may lack its newline.
        {"1.2.3.4\n1.2.3.4 :5:x junk\n!9.9.9.9/33", ZoneFormat::ip4set,
         "src/x.zone:3: invalid address '9.9.9.9/33'"},
    };
    for (const auto& r : rows) {
        const std::string msg = error_of(r.text, r.format);
        EXPECT_EQ(msg.rfind(r.want, 0), 0u) << r.text << "\n" << msg;
    }
    std::string nul("a.test\nb\0.test\n", 15);
    EXPECT_EQ(error_of(nul, ZoneFormat::dnset), "src/x.zone:2: NUL byte in line");
    const std::string long_line(Zone::kMaxLine + 1, 'a');
    EXPECT_EQ(error_of("a.test\n" + long_line + "\n", ZoneFormat::dnset),
              "src/x.zone:2: line longer than 4096 bytes");
    EXPECT_EQ(error_of(std::string(Zone::kMaxLine, 'a') + "\n", ZoneFormat::dnset)
                  .rfind("src/x.zone:1: invalid domain name", 0),
              0u);  // a line of kMaxLine bytes is read (and its name refused)
}

TEST(ZoneTextParser, WarningsCountedAndTheFirstKeptWithTheirLine) {
    std::string text = "$MAXRANGE4 /16\n";
    for (int i = 0; i < 8; ++i) text += "10." + std::to_string(i) + ".0.1/24\n";  // host bits
    text += "11.0.0.0/8\n";                                                       // > /16
    text += "12.0.0.0/16 " + std::string(300, 't') + "\n";                        // TXT cut
    auto p = parse(text, ZoneFormat::ip4set);
    EXPECT_EQ(p->stats.warnings, 10u);
    ASSERT_EQ(p->stats.first_warnings.size(), Zone::kMaxWarningsKept);
    EXPECT_EQ(p->stats.first_warnings[0],
              "src/x.zone:2: CIDR '10.0.0.1/24' has host bits set; skipped");
    EXPECT_EQ(p->stats.first_warnings[4],
              "src/x.zone:6: CIDR '10.4.0.1/24' has host bits set; skipped");
    EXPECT_EQ(p->stats.entries, 1u);                             // skipped lines are no entries
    const ZoneMatch m = p->ips.lookup(0x0c000505u, p->answers);  // 12.0.5.5
    ASSERT_EQ(m.answers.size(), 1u);
    EXPECT_EQ(p->answers.txt(m.answers[0], "12.0.5.5"), std::string(kMaxTxt, 't'));
}

TEST(ZoneTextParser, EntriesReachTheTableOfTheFormatOnly) {
    auto ips = parse(":3:listed $\n1.2.3.0/24\n!1.2.3.4\n", ZoneFormat::ip4set);
    EXPECT_EQ(ips->stats.entries, 2u);
    EXPECT_EQ(ips->stats.exclusions, 1u);
    EXPECT_EQ(ips->names.size(), 0u);
    const ZoneMatch m = ips->ips.lookup(0x01020305u, ips->answers);
    ASSERT_EQ(m.answers.size(), 1u);
    EXPECT_EQ(ips->answers.answers[m.answers[0]].a, 0x7f000003u);
    EXPECT_EQ(ips->answers.txt(m.answers[0], "1.2.3.5"), "listed 1.2.3.5");
    EXPECT_FALSE(ips->ips.lookup(0x01020304u, ips->answers).listed());

    // ".name" is both the name and its subdomains; "*.name" the subdomains only.
    auto names = parse(".Both.test :2\n*.sub.test :3\n!x.both.test\n", ZoneFormat::dnset);
    EXPECT_EQ(names->stats.entries, 3u);
    EXPECT_EQ(names->names.size(), 3u);
    EXPECT_EQ(names->ips.memory(), 0u);
    EXPECT_TRUE(names->names.lookup("both.test", names->answers).listed());
    EXPECT_TRUE(names->names.lookup("a.both.test", names->answers).listed());
    EXPECT_FALSE(names->names.lookup("x.both.test", names->answers).listed());
    EXPECT_FALSE(names->names.lookup("sub.test", names->answers).listed());
    EXPECT_TRUE(names->names.lookup("a.sub.test", names->answers).listed());
}

TEST(ZoneTextParser, VariablesAndBaseFirstDefinitionWins) {
    auto p =
        parse("$0 first\n$0 second\n$= base [$] $0\n$= other\nexample.test\n", ZoneFormat::dnset);
    const ZoneMatch m = p->names.lookup("example.test", p->answers);
    ASSERT_TRUE(m.listed());
    EXPECT_EQ(p->answers.txt(m.answers[0], m.entry), "base [example.test] first");
}

TEST(ZoneTextParser, TimestampExpiryIsTheEarliest) {
    auto p = parse("$TIMESTAMP 2020:01:01 2999:01:01\n$TIMESTAMP 2020:01:01 2998:01:01\n",
                   ZoneFormat::ip4set);
    EXPECT_EQ(p->expires, 32440608000);  // 2998-01-01T00:00:00Z
}

}  // namespace
