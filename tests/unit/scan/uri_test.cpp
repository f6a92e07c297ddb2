// URI de-obfuscation, normalization and domain reduction: table-driven, boundary rows.
#include "pampero/mime/uri.hpp"

#include <gtest/gtest.h>

#include "pampero/mime/html.hpp"

using namespace pampero;
using namespace pampero::scan;

namespace {

struct IpRow {
    const char* in;
    const char* want;  // nullptr: not an IPv4 host
    bool numeric;
};

class Ipv4Host : public ::testing::TestWithParam<IpRow> {};

TEST_P(Ipv4Host, ParsesLikeInetAton) {
    const auto& r = GetParam();
    bool numeric = false;
    auto got = parse_ipv4_host(r.in, &numeric);
    if (!r.want) {
        EXPECT_FALSE(got) << r.in << " -> " << *got;
        return;
    }
    ASSERT_TRUE(got) << r.in;
    EXPECT_EQ(*got, r.want);
    EXPECT_EQ(numeric, r.numeric) << r.in;
}

INSTANTIATE_TEST_SUITE_P(
    Rows, Ipv4Host,
    ::testing::Values(
        IpRow{"192.168.1.1", "192.168.1.1", false}, IpRow{"3232235777", "192.168.1.1", true},
        IpRow{"0xC0A80101", "192.168.1.1", true}, IpRow{"0xc0.0xa8.0x01.0x01", "192.168.1.1", true},
        IpRow{"0300.0250.01.01", "192.168.1.1", true}, IpRow{"192.168.257", "192.168.1.1", true},
        IpRow{"192.11010305", "192.168.1.1", true},
        IpRow{"255.255.255.255", "255.255.255.255", false},
        IpRow{"4294967295", "255.255.255.255", true}, IpRow{"0", "0.0.0.0", true},
        IpRow{"1.2.3.4.", "1.2.3.4", false},
        // Out of range, malformed, or names: not IPs.
        IpRow{"4294967296", nullptr, false}, IpRow{"256.1.1.1", nullptr, false},
        IpRow{"1.2.3.4.5", nullptr, false}, IpRow{"1..2.3", nullptr, false},
        IpRow{"08.1.1.1", nullptr, false}, IpRow{"0xg1", nullptr, false},
        IpRow{"1.2.3.256", nullptr, false}, IpRow{"1.2.65536", nullptr, false},
        IpRow{"example.com", nullptr, false}, IpRow{"", nullptr, false}));

struct NormRow {
    const char* in;
    const char* url;  // nullptr: not a usable link
    const char* host;
    std::uint32_t flags;
};

class Normalize : public ::testing::TestWithParam<NormRow> {};

TEST_P(Normalize, Row) {
    const auto& r = GetParam();
    auto u = normalize_uri(r.in, UriSource::href);
    if (!r.url) {
        EXPECT_FALSE(u) << r.in << " -> " << u->url;
        return;
    }
    ASSERT_TRUE(u) << r.in;
    EXPECT_EQ(u->url, r.url);
    EXPECT_EQ(u->host, r.host);
    EXPECT_EQ(u->flags, r.flags) << r.in;
}

INSTANTIATE_TEST_SUITE_P(
    Rows, Normalize,
    ::testing::Values(
        NormRow{"http://www.Example.COM/Path?Q=1", "http://www.example.com/Path?Q=1",
                "www.example.com", 0},
        NormRow{"HTTPS://example.com", "https://example.com/", "example.com", 0},
        NormRow{"www.example.com/x", "http://www.example.com/x", "www.example.com", 0},
        NormRow{"ftp.example.com", "ftp://ftp.example.com/", "ftp.example.com", 0},
        NormRow{"//cdn.example.com/a.js", "http://cdn.example.com/a.js", "cdn.example.com", 0},
        NormRow{"http://example.com.:8080/", "http://example.com:8080/", "example.com", 0},
        NormRow{"http://%77%77%77.example.com/", "http://www.example.com/", "www.example.com",
                kUriPercentHost},
        NormRow{"http://www.bank.com@evil.example.net/", "http://evil.example.net/",
                "evil.example.net", kUriUserinfo},
        NormRow{"http://user:pw@[2001:DB8::1]:80/x", "http://[2001:db8::1]:80/x", "[2001:db8::1]",
                kUriUserinfo},
        NormRow{"http://3232235777/x", "http://192.168.1.1/x", "192.168.1.1", kUriNumericIp},
        NormRow{"http://0x7f.1/", "http://127.0.0.1/", "127.0.0.1", kUriNumericIp},
        NormRow{"http://%31%32%37.0.0.1/", "http://127.0.0.1/", "127.0.0.1", kUriPercentHost},
        NormRow{"http:\\\\evil.example.org\\p", "http://evil.example.org/p", "evil.example.org",
                kUriBackslash},
        NormRow{"http://b\xC3\xBC"
                "cher.de/",
                "http://xn--bcher-kva.de/", "xn--bcher-kva.de", kUriIdn},
        NormRow{"http://example\xE3\x80\x82"
                "com/",
                "http://example.com/", "example.com", kUriIdn - kUriIdn},
        NormRow{"  http://exa\tmple.com/ \n", "http://example.com/", "example.com", 0},
        NormRow{"http://example.com:junk/", "http://example.com/", "example.com", 0},
        // Not links.
        NormRow{"mailto:a@example.com", nullptr, nullptr, 0},
        NormRow{"javascript:alert(1)", nullptr, nullptr, 0},
        NormRow{"/relative/path", nullptr, nullptr, 0}, NormRow{"http://", nullptr, nullptr, 0},
        NormRow{"http://localhost/", nullptr, nullptr, 0},
        NormRow{"http://exa mple.com/", nullptr, nullptr, 0},
        NormRow{"http://-.-/", "http://-.-/", "-.-", 0},
        NormRow{"http://a..b.com/", nullptr, nullptr, 0},
        NormRow{"http://1.2.3.999/", nullptr, nullptr, 0}));

TEST(Normalize, HostAndLabelLengthLimits) {
    const std::string label63(63, 'a');
    const std::string label64(64, 'a');
    EXPECT_TRUE(normalize_uri("http://" + label63 + ".com/", UriSource::text));
    EXPECT_FALSE(normalize_uri("http://" + label64 + ".com/", UriSource::text));
    std::string host;
    while (host.size() < 250) host += "abcdefghi.";
    host += "com";  // 253: the longest name DNS allows
    EXPECT_TRUE(normalize_uri("http://" + host + "/", UriSource::text));
    host = "a" + host;  // 254
    EXPECT_FALSE(normalize_uri("http://" + host + "/", UriSource::text));
    const std::string long_path = "http://example.com/" + std::string(10000, 'p');
    auto u = normalize_uri(long_path, UriSource::text);
    ASSERT_TRUE(u);
    EXPECT_LE(u->url.size(), kMaxUriLength + 8);
}

struct TextRow {
    const char* text;
    std::vector<std::string> want;
};

class TextUris : public ::testing::TestWithParam<TextRow> {};

TEST_P(TextUris, Found) {
    const auto& r = GetParam();
    std::vector<std::string> got;
    for (auto v : find_text_uris(r.text)) got.emplace_back(v);
    EXPECT_EQ(got, r.want) << r.text;
}

INSTANTIATE_TEST_SUITE_P(
    Rows, TextUris,
    ::testing::Values(
        TextRow{"see http://example.com/a.", {"http://example.com/a"}},
        TextRow{"(www.example.com/x), and", {"www.example.com/x"}},
        TextRow{"(http://en.wikipedia.org/wiki/A_(b))", {"http://en.wikipedia.org/wiki/A_(b)"}},
        TextRow{"<http://example.com/>", {"http://example.com/"}},
        TextRow{"\"https://example.com/q?a=1&b=2\"", {"https://example.com/q?a=1&b=2"}},
        TextRow{"HTTP://EXAMPLE.COM", {"HTTP://EXAMPLE.COM"}},
        TextRow{"http:\\\\evil.example.org\\x y", {"http:\\\\evil.example.org"}},
        TextRow{"ftp://files.example.com ftp.example.org",
                {"ftp://files.example.com", "ftp.example.org"}},
        TextRow{"a.www.example.com not-www.x.com xhttp://no", {}}, TextRow{"www. and www.", {}},
        // The boundary is ASCII: a digit, letter or _ before joins the word; a UTF-8 letter
        // (bytes >= 0x80) does not, whatever the locale.
        TextRow{"9www.example.com Zhttp://x.com _www.y.com www.-z.com", {}},
        TextRow{"\xC3\xA9www.example.com \xC3\xA9http://x.com",
                {"www.example.com", "http://x.com"}},
        TextRow{"", {}}));

TEST(HtmlEntities, DecodeRows) {
    EXPECT_EQ(decode_html_entities("a&amp;b&lt;&gt;&quot;"), "a&b<>\"");
    EXPECT_EQ(decode_html_entities("&#104;&#x74;&#X74;p"), "http");
    EXPECT_EQ(decode_html_entities("&#104&#116"), "ht");  // no ';' still decodes
    EXPECT_EQ(decode_html_entities("&amp &nbsp;"), "& \xC2\xA0");
    EXPECT_EQ(decode_html_entities("&unknown; & &#; &#x;"), "&unknown; & &#; &#x;");
    EXPECT_EQ(decode_html_entities("&#0;&#xD800;&#x110000;"),
              "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    EXPECT_EQ(decode_html_entities("&eacute;t&eacute;"), "\xC3\xA9t\xC3\xA9");
}

TEST(DomainReducer, PslAndSurblRows) {
    const std::string d = std::string(PAMPERO_TEST_DATA) + "/surbl/";
    auto r = DomainReducer::load("", d + "two-level-tlds", d + "three-level-tlds");
    ASSERT_TRUE(r) << r.error().message;
    const auto& red = **r;
    EXPECT_EQ(red.two_level_count(), 18u);
    EXPECT_EQ(red.three_level_count(), 4u);
    struct Row {
        const char* host;
        const char* registrable;
        const char* surbl;
    };
    for (const Row& row : {
             Row{"www.example.com", "example.com", "example.com"},
             Row{"example.com", "example.com", "example.com"},
             Row{"a.b.shop.example.co.uk", "example.co.uk", "example.co.uk"},
             Row{"co.uk", "", "co.uk"},
             Row{"com", "", "com"},
             Row{"x.y.school.act.edu.au", "school.act.edu.au", "school.act.edu.au"},
             Row{"x.y.school.nsw.edu.au", "school.nsw.edu.au", "school.nsw.edu.au"},
             Row{"x.y.z.k12.ma.us", "z.k12.ma.us", "z.k12.ma.us"},
             Row{"a.b.example.com.au", "example.com.au", "example.com.au"},
             Row{"foo.blogspot.com", "foo.blogspot.com", "foo.blogspot.com"},
             Row{"a.b.example.unknowntld", "example.unknowntld", "example.unknowntld"},
             Row{"192.168.1.1", "", ""},
         }) {
        EXPECT_EQ(red.registrable(row.host), row.registrable) << row.host;
        EXPECT_EQ(red.surbl_base(row.host), row.surbl) << row.host;
    }
    EXPECT_TRUE(red.known_tld("www.example.com"));
    EXPECT_FALSE(red.known_tld("www.example.zzqq"));
}

TEST(DomainReducer, WithoutSurblListsFallsBackToPsl) {
    auto r = DomainReducer::system_default();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->surbl_base("a.b.example.co.uk"), "example.co.uk");
}

TEST(DomainReducer, MissingListFileIsAConfigErrorNamingIt) {
    auto r = DomainReducer::load("", "/nonexistent/two-level", "");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::config);
    EXPECT_NE(r.error().message.find("/nonexistent/two-level"), std::string::npos);
    auto p = DomainReducer::load("/nonexistent/psl.dat", "", "");
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().message.find("/nonexistent/psl.dat"), std::string::npos);
}

TEST(Html, TextLinksAndTricks) {
    auto h = html_to_text(
        "<html><head><style>p{}</style><title>T</title></head><body>"
        "<p>Hello&nbsp;<b>wor</b>ld</p><script>var x='<p>no</p>';</script>"
        "V<!-- -->iagra <xqz>ci</xqz>alis"
        "<a href=\"http://a.example.com/\">www.other.example.org</a>"
        "<img src='http://img.example.com/i.gif'><form action=http://f.example.com/post></form>"
        "<span style=\"DISPLAY: none\">secret</span><font size=1>small</font>"
        "&#86;&#105;&#97;</body></html>");
    EXPECT_NE(h.text.find("Hello world"), std::string::npos) << h.text;
    EXPECT_EQ(h.text.find("no"), std::string::npos) << h.text;
    EXPECT_EQ(h.text.find("secret"), std::string::npos);
    EXPECT_NE(h.text.find("Viagra"), std::string::npos) << h.text;
    EXPECT_NE(h.text.find("Via"), std::string::npos);
    ASSERT_EQ(h.links.size(), 3u);
    EXPECT_EQ(h.links[0].value, "http://a.example.com/");
    EXPECT_EQ(h.links[0].anchor_text, "www.other.example.org");
    EXPECT_EQ(h.links[1].source, UriSource::src);
    EXPECT_EQ(h.links[2].source, UriSource::action);
    EXPECT_EQ(h.stats.split_words, 2u);
    EXPECT_EQ(h.stats.unknown_tags, 2u);
    EXPECT_EQ(h.stats.hidden_bytes, 6u);
    EXPECT_EQ(h.stats.tiny_bytes, 5u);
    EXPECT_EQ(h.stats.entity_letters, 3u);
    EXPECT_EQ(h.stats.images, 1u);
    EXPECT_EQ(h.stats.scripts, 1u);
    EXPECT_TRUE(h.stats.has_body);
}

TEST(Html, LinkCountIsBounded) {
    std::string html;
    for (std::size_t i = 0; i < kMaxHtmlLinks + 500; ++i)
        html += "<a href=\"http://x.example.com/" + std::to_string(i) + "\">x</a>";
    EXPECT_EQ(html_to_text(html).links.size(), kMaxHtmlLinks);
}

}  // namespace
