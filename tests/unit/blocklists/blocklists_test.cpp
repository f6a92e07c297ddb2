// Blocklists: answers to rules (returns, bitmask, fallback), error answers ignored, one
// hit per rule, reject, input bounds, reloads that keep the old zone, RFC 5782 test
// points, and dns mode against a resolver that never answers or is not there.
#include "pampero/lists/blocklists.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace pampero;
using namespace pampero::scan;
namespace fs = std::filesystem;

namespace {

const std::string kData = PAMPERO_TEST_DATA "/blocklists/";

BlocklistConfig zen_list() {
    BlocklistConfig c;
    c.zone = "zen.test";
    c.target = BlocklistTarget::client_ip;
    c.mode = BlocklistMode::mirror;
    c.format = ZoneFormat::ip4set;
    c.file = kData + "zen.ip4set";
    c.returns = {{0x7f000002u, {"RCVD_IN_SBL", 4.0, ""}},
                 {0x7f000004u, {"RCVD_IN_XBL", 4.0, "exploited"}},
                 {0x7f00000au, {"RCVD_IN_PBL", 1.0, ""}},
                 {0x7f00000bu, {"RCVD_IN_PBL", 1.0, ""}},
                 {0x7f000009u, {"RCVD_IN_DROP", 5.0, ""}}};
    c.where = "test";
    return c;
}

BlocklistConfig multi_list() {
    BlocklistConfig c;
    c.zone = "multi.test";
    c.target = BlocklistTarget::uri_domain;
    c.mode = BlocklistMode::mirror;
    c.format = ZoneFormat::dnset;
    c.file = kData + "multi.dnset";
    c.bitmask = {
        {8, {"URIBL_PH", 5.0, ""}}, {64, {"URIBL_ABUSE", 4.0, ""}}, {4, {"URIBL_WILD", 1.0, ""}}};
    c.where = "test";
    return c;
}

std::shared_ptr<Blocklists> make(std::vector<BlocklistConfig> lists) {
    auto b = Blocklists::create(std::move(lists));
    EXPECT_TRUE(b.ok()) << (b.ok() ? "" : b.error().message);
    return b.ok() ? b.value() : nullptr;
}

std::vector<std::string> names(const BlocklistResult& r) {
    std::vector<std::string> out;
    for (const auto& h : r.hits) out.push_back(h.name);
    return out;
}

using V = std::vector<std::string>;

TEST(Blocklists, ReturnsMapToRulesOncePerRule) {
    auto b = make({zen_list()});
    ASSERT_TRUE(b);
    // The test point carries .2, .4 and .10: three rules.
    auto r = b->check({"127.0.0.2", {}, {}, {}});
    EXPECT_EQ(names(r), (V{"RCVD_IN_SBL", "RCVD_IN_XBL", "RCVD_IN_PBL"}));
    EXPECT_DOUBLE_EQ(r.hits[0].score, 4.0);
    EXPECT_NE(r.hits[0].description.find("127.0.0.2 listed in zen.test (127.0.0.2)"),
              std::string::npos)
        << r.hits[0].description;
    EXPECT_EQ(r.hits[1].description.rfind("exploited", 0), 0u);
    EXPECT_FALSE(r.reject);
    // The TXT of the mirror goes into the description.
    auto s = b->check({"198.51.100.7", {}, {}, {}});
    ASSERT_EQ(names(s), V{"RCVD_IN_SBL"});
    EXPECT_NE(
        s.hits[0].description.find("Listed in SBL, see https://check.example/query/198.51.100.7"),
        std::string::npos)
        << s.hits[0].description;
    // An unmapped answer (127.0.0.3) and a clean address score nothing.
    EXPECT_TRUE(b->check({"203.0.113.6", {}, {}, {}}).hits.empty());
    EXPECT_TRUE(b->check({"192.0.2.200", {}, {}, {}}).hits.empty());
    // Malformed and IPv6 client addresses are skipped.
    EXPECT_TRUE(b->check({"not-an-ip", {}, {}, {}}).hits.empty());
    EXPECT_TRUE(b->check({"2001:db8::1", {}, {}, {}}).hits.empty());
    // .10 and .11 map to the same rule: one hit over the client and received IPs.
    auto list = zen_list();
    list.target = BlocklistTarget::received_ip;
    auto rb = make({list});
    ASSERT_TRUE(rb);
    const std::vector<std::string> received{"10.20.1.1", "10.20.30.41", "10.20.1.1", "192.0.2.1"};
    EXPECT_EQ(names(rb->check({"10.20.9.9", received, {}, {}})), (V{"RCVD_IN_PBL", "RCVD_IN_SBL"}));
}

// What each list was asked, for the daemons' metrics: every subject looked up, and the
// ones listed with an answer that is not an error.
TEST(Blocklists, TallyCountsLookupsAndListingsPerList) {
    auto b = make({zen_list(), multi_list()});
    ASSERT_TRUE(b);
    const std::vector<std::string> domains{"x.wild.test", "blocked.test", "clean.example"};
    auto r = b->check({"127.0.0.2", {}, domains, {}});
    ASSERT_EQ(r.tally.size(), 2u);
    EXPECT_EQ(r.tally[0].lookups, 1u);
    EXPECT_EQ(r.tally[0].hits, 1u);
    EXPECT_EQ(r.tally[1].lookups, 3u);
    EXPECT_EQ(r.tally[1].hits, 1u);            // blocked.test answers an error: asked, not listed
    r = b->check({"198.18.0.1", {}, {}, {}});  // an error answer ("query refused")
    EXPECT_EQ(r.tally[0].lookups, 1u);
    EXPECT_EQ(r.tally[0].hits, 0u);
    EXPECT_EQ(r.tally[1].lookups, 0u);
    r = b->check({"not-an-ip", {}, {}, {}});  // skipped: nothing asked
    EXPECT_EQ(r.tally[0].lookups, 0u);
}

TEST(Blocklists, ErrorAnswersNeverCount) {
    auto list = zen_list();
    list.fallback = BlocklistRule{"ZEN_OTHER", 0.5, ""};
    auto b = make({list});
    ASSERT_TRUE(b);
    // 127.255.255.254 and .252 are Spamhaus' "query refused": no rule, not even the fallback.
    EXPECT_TRUE(b->check({"198.18.0.1", {}, {}, {}}).hits.empty());
    EXPECT_TRUE(b->check({"198.18.0.2", {}, {}, {}}).hits.empty());
    auto raw = b->lookup(0, "198.18.0.1");
    EXPECT_EQ(raw.status, BlocklistAnswer::Status::listed);
    EXPECT_EQ(raw.errors, std::vector<std::uint32_t>{0x7ffffffeu});
    EXPECT_TRUE(raw.rules.empty());
    // The fallback takes an answer no `returns` names.
    EXPECT_EQ(names(b->check({"203.0.113.6", {}, {}, {}})), V{"ZEN_OTHER"});

    auto m = make({multi_list()});
    ASSERT_TRUE(m);
    // SURBL's bit 1 is an error whatever else is set: 127.0.0.1 and 127.0.0.9 (8|1).
    const std::vector<std::string> errs{"blocked.test", "mixed.test"};
    EXPECT_TRUE(m->check({{}, {}, errs, {}}).hits.empty());
    EXPECT_EQ(m->lookup(0, "mixed.test").errors, std::vector<std::uint32_t>{0x7f000009u});
}

TEST(Blocklists, BitmaskMapsEachBit) {
    auto b = make({multi_list()});
    ASSERT_TRUE(b);
    const std::vector<std::string> both{"both.test"};
    EXPECT_EQ(names(b->check({{}, {}, both, {}})), (V{"URIBL_PH", "URIBL_ABUSE"}));
    // 127.0.0.14 = 8|4|2: the PH and WILD bits are configured, bit 2 is not.
    const std::vector<std::string> test{"test"};
    EXPECT_EQ(names(b->check({{}, {}, test, {}})), (V{"URIBL_PH", "URIBL_WILD"}));
    const std::vector<std::string> several{"a.b.spam-domain.test",
                                           "spam-domain.test",
                                           "OK.spam-domain.test",
                                           "x.wild.test",
                                           "Example-Spam.Test.",
                                           "clean.example",
                                           "bad..name"};
    EXPECT_EQ(names(b->check({{}, {}, several, {}})), (V{"URIBL_ABUSE", "URIBL_WILD", "URIBL_PH"}));
    auto r = b->check({{}, {}, std::vector<std::string>{"x.wild.test"}, {}});
    ASSERT_EQ(r.hits.size(), 1u);
    EXPECT_NE(r.hits[0].description.find("x.wild.test listed in multi.test (127.0.0.4)"),
              std::string::npos);

    // A uri_ip list over a dnset of reversed addresses.
    auto ipl = multi_list();
    ipl.target = BlocklistTarget::uri_ip;
    auto bi = make({ipl});
    ASSERT_TRUE(bi);
    EXPECT_EQ(names(bi->check({{}, {}, {}, std::vector<std::string>{"203.0.113.4"}})),
              V{"URIBL_ABUSE"});
}

TEST(Blocklists, InputsAreBounded) {
    // Only the first kMaxUriDomains distinct domains are looked up.
    auto b = make({multi_list()});
    ASSERT_TRUE(b);
    std::vector<std::string> many;
    for (std::size_t i = 0; i < Blocklists::kMaxUriDomains; ++i)
        many.push_back("clean" + std::to_string(i) + ".example");
    many.push_back("both.test");
    EXPECT_TRUE(b->check({{}, {}, many, {}}).hits.empty());
    std::vector<std::string> dups(Blocklists::kMaxUriDomains * 2, "clean.example");
    dups.push_back("both.test");
    EXPECT_EQ(b->check({{}, {}, dups, {}}).hits.size(), 2u);  // duplicates do not use the budget

    auto list = zen_list();
    list.target = BlocklistTarget::received_ip;
    auto rb = make({list});
    ASSERT_TRUE(rb);
    std::vector<std::string> hops;
    for (std::size_t i = 0; i < Blocklists::kMaxReceivedIps; ++i)
        hops.push_back("192.0.3." + std::to_string(i));
    hops.push_back("198.51.100.7");
    EXPECT_TRUE(rb->check({{}, hops, {}, {}}).hits.empty());
}

TEST(Blocklists, RejectOnlyForRejectListsAndMappedAnswers) {
    auto list = zen_list();
    list.reject = true;
    auto rcvd = zen_list();
    rcvd.target = BlocklistTarget::received_ip;
    auto b = make({list, rcvd});
    ASSERT_TRUE(b);
    auto r = b->check({"198.51.100.7", {}, {}, {}});
    EXPECT_TRUE(r.reject);
    EXPECT_EQ(r.reject_reason, "client 198.51.100.7 listed in zen.test (127.0.0.2)");
    EXPECT_EQ(b->client_reject("198.51.100.7").value_or(""),
              "client 198.51.100.7 listed in zen.test (127.0.0.2)");
    // Listed only in a received hop: scored, never refused.
    auto h = b->check({"192.0.2.200", std::vector<std::string>{"198.51.100.7"}, {}, {}});
    EXPECT_FALSE(h.reject);
    EXPECT_EQ(names(h), V{"RCVD_IN_SBL"});
    // Error answers and unmapped answers do not refuse.
    EXPECT_FALSE(b->client_reject("198.18.0.1"));
    EXPECT_FALSE(b->client_reject("203.0.113.6"));
    EXPECT_FALSE(b->client_reject("192.0.2.200"));
    EXPECT_FALSE(b->client_reject("garbage"));
    auto no_reject = make({zen_list()});
    EXPECT_FALSE(no_reject->client_reject("198.51.100.7"));
}

TEST(Blocklists, TestPointsInMirrorMode) {
    auto b = make({zen_list(), multi_list()});
    ASSERT_TRUE(b);
    EXPECT_TRUE(b->test_points(0).ok()) << b->test_points(0).error().message;
    EXPECT_TRUE(b->test_points(1).ok()) << b->test_points(1).error().message;

    const fs::path dir = fs::temp_directory_path() / "pampero-bl-testpoints";
    fs::create_directories(dir);
    std::ofstream(dir / "bad.ip4set") << "127.0.0.1\n10.0.0.1\n";
    auto list = zen_list();
    list.file = (dir / "bad.ip4set").string();
    auto bad = make({list});
    ASSERT_TRUE(bad);
    auto st = bad->test_points(0);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("test point 127.0.0.2 is not-listed"), std::string::npos)
        << st.error().message;
    std::ofstream(dir / "bad.ip4set") << "127.0.0.2\n127.0.0.1\n";
    fs::last_write_time(dir / "bad.ip4set",
                        fs::last_write_time(dir / "bad.ip4set") + std::chrono::seconds(5));
    EXPECT_EQ(bad->reload_changed(), 1u);
    st = bad->test_points(0);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("test point 127.0.0.1 is listed"), std::string::npos)
        << st.error().message;
}

TEST(Blocklists, ReloadSwapsOnlyAGoodFile) {
    const fs::path dir = fs::temp_directory_path() / "pampero-bl-reload";
    fs::remove_all(dir);
    fs::create_directories(dir);
    const fs::path file = dir / "list.ip4set";
    auto list = zen_list();
    list.file = file.string();

    // Missing at start: serves nothing, no error.
    auto b = make({list});
    ASSERT_TRUE(b);
    EXPECT_EQ(b->zone(0), nullptr);
    EXPECT_EQ(b->lookup(0, "192.0.2.1").status, BlocklistAnswer::Status::not_loaded);
    EXPECT_EQ(b->reload_changed(), 0u);

    auto bump = [&] {  // a distinct mtime even on coarse clocks
        static int n = 0;
        fs::last_write_time(file,
                            fs::file_time_type::clock::now() + std::chrono::seconds(++n * 10));
    };
    std::ofstream(file) << "192.0.2.1\n";
    bump();
    EXPECT_EQ(b->reload_changed(), 1u);
    EXPECT_EQ(names(b->check({"192.0.2.1", {}, {}, {}})), V{"RCVD_IN_SBL"});
    EXPECT_EQ(b->reload_changed(), 0u);  // unchanged: nothing to do

    // A broken file keeps the old zone serving.
    std::ofstream(file) << "192.0.2.2\n192.0.2.300\n";
    bump();
    EXPECT_EQ(b->reload_changed(), 0u);
    EXPECT_EQ(names(b->check({"192.0.2.1", {}, {}, {}})), V{"RCVD_IN_SBL"});
    EXPECT_TRUE(b->check({"192.0.2.2", {}, {}, {}}).hits.empty());
    EXPECT_EQ(b->reload_changed(), 0u);  // not retried until the file changes again

    // Removed: the old zone keeps serving. Fixed: swapped in.
    fs::remove(file);
    EXPECT_EQ(b->reload_changed(), 0u);
    EXPECT_EQ(names(b->check({"192.0.2.1", {}, {}, {}})), V{"RCVD_IN_SBL"});
    std::ofstream(file) << "192.0.2.2\n";
    bump();
    EXPECT_EQ(b->reload_changed(), 1u);
    EXPECT_TRUE(b->check({"192.0.2.1", {}, {}, {}}).hits.empty());
    EXPECT_EQ(names(b->check({"192.0.2.2", {}, {}, {}})), V{"RCVD_IN_SBL"});

    // A file that does not parse at start refuses to start, naming file and line.
    std::ofstream(file) << "192.0.2.2\n\nnonsense\n";
    auto bad = Blocklists::create({list});
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().kind, ErrorKind::config);
    EXPECT_NE(bad.error().message.find(file.string() + ":3: invalid address"), std::string::npos)
        << bad.error().message;
}

// A UDP socket on loopback that reads nothing: every query to it times out.
struct SilentServer {
    int fd = -1;
    std::uint16_t port = 0;
    SilentServer() {
        fd = ::socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
    }
    ~SilentServer() { ::close(fd); }
};

TEST(BlocklistsDns, TimeoutCountsAsNotListed) {
    SilentServer silent;
    auto list = zen_list();
    list.mode = BlocklistMode::dns;
    list.file.clear();
    list.resolver_host = "127.0.0.1";
    list.resolver_port = silent.port;
    list.timeout_ms = 100;
    list.reject = true;
    auto multi = multi_list();
    multi.mode = BlocklistMode::dns;
    multi.file.clear();
    multi.resolver_host = "127.0.0.1";
    multi.resolver_port = silent.port;
    multi.timeout_ms = 150;
    auto b = make({list, multi});
    ASSERT_TRUE(b);
    const std::vector<std::string> domains{"both.test", "a.wild.test", "example-spam.test"};
    auto r = b->check({"127.0.0.2", std::vector<std::string>{"127.0.0.2"}, domains, {}});
    EXPECT_TRUE(r.hits.empty());
    EXPECT_FALSE(r.reject);
    EXPECT_FALSE(b->client_reject("127.0.0.2"));
    EXPECT_EQ(b->lookup(0, "127.0.0.2").status, BlocklistAnswer::Status::timeout);
    auto tp = b->test_points(1);
    ASSERT_FALSE(tp.ok());
    EXPECT_NE(tp.error().message.find("timeout"), std::string::npos) << tp.error().message;
}

TEST(BlocklistsDns, NoServerIsNotListed) {
    // A port nobody listens on: ICMP port unreachable (an error) or a timeout, never a listing.
    SilentServer reserve;
    const std::uint16_t port = reserve.port;
    ::close(reserve.fd);
    reserve.fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    auto list = zen_list();
    list.mode = BlocklistMode::dns;
    list.file.clear();
    list.resolver_host = "127.0.0.1";
    list.resolver_port = port;
    list.timeout_ms = 200;
    auto b = make({list});
    ASSERT_TRUE(b);
    EXPECT_TRUE(b->check({"127.0.0.2", {}, {}, {}}).hits.empty());
    const auto st = b->lookup(0, "127.0.0.2").status;
    EXPECT_TRUE(st == BlocklistAnswer::Status::error || st == BlocklistAnswer::Status::timeout)
        << to_string(st);
}

}  // namespace
