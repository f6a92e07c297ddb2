// The counter registry, the text exposition format and the HTTP endpoint.
#include "pampero/common/metrics.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "pampero/common/config.hpp"
#include "pampero/common/metrics_http.hpp"
#include "test_support.hpp"

using namespace pampero::metrics;
using namespace std::chrono_literals;

namespace {

TEST(Metrics, CounterRendersWithHelpAndType) {
    Registry r;
    Counter& c = r.counter("x_total", "Things.\nMore \\ text");
    c.inc();
    c.inc(41);
    EXPECT_EQ(r.render(),
              "# HELP x_total Things.\\nMore \\\\ text\n# TYPE x_total counter\nx_total 42\n");
}

TEST(Metrics, GaugeIsReadAtRenderAndLeftOutWhenItHasNoValue) {
    Registry r;
    std::optional<double> v = 3;
    r.gauge("live", "Live things", [&v] { return v; });
    EXPECT_EQ(r.render(), "# HELP live Live things\n# TYPE live gauge\nlive 3\n");
    v = 12345;
    EXPECT_NE(r.render().find("\nlive 12345\n"), std::string::npos);
    v.reset();  // the source did not answer: no sample, the family still described
    EXPECT_EQ(r.render(), "# HELP live Live things\n# TYPE live gauge\n");
}

TEST(Metrics, LabelValuesAreEscaped) {
    EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    Registry r;
    auto& f = r.counter_family("hits_total", "h", {"rule"});
    f.get({"say \"hi\"\\\n"}).inc();
    EXPECT_NE(r.render().find("hits_total{rule=\"say \\\"hi\\\"\\\\\\n\"} 1\n"), std::string::npos)
        << r.render();
}

TEST(Metrics, FamilySeriesAreStableSortedAndSeparate) {
    Registry r;
    auto& f = r.counter_family("d_total", "d", {"folder", "result"});
    f.get({"spam", "delivered"}).inc();
    f.get({"inbox", "delivered"}).inc(2);
    f.get({"spam", "delivered"}).inc();
    // {"ab",""} and {"a","b"} must be different series.
    f.get({"ab", ""}).inc(5);
    f.get({"a", "b"}).inc(7);
    EXPECT_EQ(&f.get({"inbox", "delivered"}), &f.get({"inbox", "delivered"}));
    EXPECT_EQ(r.render(),
              "# HELP d_total d\n# TYPE d_total counter\n"
              "d_total{folder=\"a\",result=\"b\"} 7\n"
              "d_total{folder=\"ab\",result=\"\"} 5\n"
              "d_total{folder=\"inbox\",result=\"delivered\"} 2\n"
              "d_total{folder=\"spam\",result=\"delivered\"} 2\n");
}

TEST(Metrics, FamilyOverflowGoesToOneOtherSeries) {
    Registry r;
    auto& f = r.counter_family("o_total", "o", {"rule"}, 3);
    for (int i = 0; i < 100; ++i) f.get({std::to_string(i)}).inc();
    f.get({"0"}).inc();  // an existing series still counts as itself
    const std::string page = r.render();
    EXPECT_NE(page.find("o_total{rule=\"0\"} 2\n"), std::string::npos) << page;
    EXPECT_NE(page.find("o_total{rule=\"2\"} 1\n"), std::string::npos) << page;
    EXPECT_EQ(page.find("o_total{rule=\"3\"}"), std::string::npos) << page;
    EXPECT_NE(page.find("o_total{rule=\"_other\"} 97\n"), std::string::npos) << page;
}

TEST(Metrics, LongLabelValuesAreCut) {
    Registry r;
    auto& f = r.counter_family("l_total", "l", {"rule"});
    f.get({std::string(1000, 'a')}).inc();
    f.get({std::string(500, 'a')}).inc();  // the same first kMaxLabelValue bytes
    EXPECT_NE(r.render().find("{rule=\"" + std::string(kMaxLabelValue, 'a') + "\"} 2\n"),
              std::string::npos);
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInfSumAndCount) {
    Registry r;
    Histogram& h = r.histogram("t_seconds", "t", {0.01, 0.1, 1});
    h.observe(5ms);
    h.observe(10ms);  // on a bound: le is inclusive
    h.observe(50ms);
    h.observe(2s);
    EXPECT_EQ(r.render(),
              "# HELP t_seconds t\n# TYPE t_seconds histogram\n"
              "t_seconds_bucket{le=\"0.01\"} 2\n"
              "t_seconds_bucket{le=\"0.1\"} 3\n"
              "t_seconds_bucket{le=\"1\"} 3\n"
              "t_seconds_bucket{le=\"+Inf\"} 4\n"
              "t_seconds_sum 2.065\n"
              "t_seconds_count 4\n");
}

TEST(Metrics, EmptyHistogramAndLabelledHistogram) {
    Registry r;
    r.histogram("e_seconds", "e", {1});
    auto& f = r.histogram_family("f_seconds", "f", {"stage"}, {0.5});
    f.get({"av"}).observe(1s);
    const std::string page = r.render();
    EXPECT_NE(page.find("e_seconds_bucket{le=\"+Inf\"} 0\ne_seconds_sum 0\ne_seconds_count 0\n"),
              std::string::npos)
        << page;
    EXPECT_NE(page.find("f_seconds_bucket{stage=\"av\",le=\"0.5\"} 0\n"
                        "f_seconds_bucket{stage=\"av\",le=\"+Inf\"} 1\n"
                        "f_seconds_sum{stage=\"av\"} 1\n"
                        "f_seconds_count{stage=\"av\"} 1\n"),
              std::string::npos)
        << page;
}

TEST(Metrics, BadNamesAndBoundsAreRefused) {
    Registry r;
    EXPECT_THROW(r.counter("1abc", "x"), std::invalid_argument);
    EXPECT_THROW(r.counter("a-b", "x"), std::invalid_argument);
    r.counter("ok_total", "x");
    EXPECT_THROW(r.counter("ok_total", "x"), std::invalid_argument);
    EXPECT_THROW(r.counter_family("f_total", "x", {"le"}), std::invalid_argument);
    EXPECT_THROW(r.histogram("h", "x", {1, 0.5}), std::invalid_argument);
    auto& f = r.counter_family("g_total", "x", {"a", "b"});
    EXPECT_THROW(f.get({"only one"}), std::invalid_argument);
}

TEST(Metrics, ConcurrentIncrementsAndFirstUsesLoseNothing) {
    Registry r;
    auto& f = r.counter_family("c_total", "c", {"k"});
    Counter& plain = r.counter("p_total", "p");
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
        ts.emplace_back([&] {
            for (int i = 0; i < 20000; ++i) {
                f.get({std::to_string(i % 50)}).inc();
                plain.inc();
            }
        });
    }
    for (auto& t : ts) t.join();
    std::uint64_t total = 0;
    for (int k = 0; k < 50; ++k) total += f.get({std::to_string(k)}).value();
    EXPECT_EQ(total, 80000u);
    EXPECT_EQ(plain.value(), 80000u);
}

TEST(MetricsConfig, OffByDefaultAndReadPerDaemon) {
    auto none = pampero::load_config(
        pampero::testing::write_temp("pampero-metrics-test", "none.yaml", "{}\n"));
    ASSERT_TRUE(none) << none.error().message;
    EXPECT_EQ(none->milter.metrics, "");
    EXPECT_EQ(none->store.metrics, "");
    auto both = pampero::load_config(pampero::testing::write_temp(
        "pampero-metrics-test", "both.yaml",
        "milter: { metrics: inet:9425@127.0.0.1 }\nstore: { metrics: unix:/run/m.sock }\n"));
    ASSERT_TRUE(both) << both.error().message;
    EXPECT_EQ(both->milter.metrics, "inet:9425@127.0.0.1");
    EXPECT_EQ(both->store.metrics, "unix:/run/m.sock");
}

TEST(MetricsHttp, Responses) {
    Registry r;
    r.counter("a_total", "a").inc(3);
    auto ok = http_response(r, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << ok;
    EXPECT_NE(ok.find("\r\n\r\n# HELP a_total a\n"), std::string::npos);
    EXPECT_NE(ok.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
    EXPECT_EQ(http_response(r, "GET /metrics?x=1 HTTP/1.0\n\n").rfind("HTTP/1.1 200 ", 0), 0u);
    EXPECT_EQ(http_response(r, "GET / HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404 ", 0), 0u);
    EXPECT_EQ(http_response(r, "POST /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405 ", 0), 0u);
    EXPECT_EQ(http_response(r, "HEAD /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405 ", 0), 0u);
    for (const char* bad :
         {"\r\n\r\n", "hello\r\n\r\n", "GET /metrics\r\n\r\n", "GET /metrics HTTP/2\r\n\r\n",
          "GET metrics HTTP/1.1\r\n\r\n", "GET /metrics HTTP/1.1 extra\r\n\r\n",
          "G(T /metrics HTTP/1.1\r\n\r\n", "\x16\x03\x01\x02\x00\n\n"}) {
        EXPECT_EQ(http_response(r, bad).rfind("HTTP/1.1 400 ", 0), 0u) << bad;
    }
    EXPECT_EQ(http_response(r, "GET /metrics HTTP/1.1\r\n", false).rfind("HTTP/1.1 400 ", 0), 0u);
}

// A live server on a loopback port.
class LiveServer : public ::testing::Test {
  protected:
    void SetUp() override {
        const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_GE(fd, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
        ASSERT_EQ(listen(fd, 64), 0);
        socklen_t len = sizeof sa;
        getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
        port_ = ntohs(sa.sin_port);
        registry_.counter("live_total", "live").inc(7);
        server_ = std::make_unique<HttpServer>(registry_, fd);
        server_->start();
    }
    int connect_() {
        const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sa.sin_port = htons(port_);
        timeval tv{5, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
        return fd;
    }
    // Sends `req` and reads until the server closes (or 5 s pass).
    std::string ask(const std::string& req) {
        const int fd = connect_();
        (void)!send(fd, req.data(), req.size(), MSG_NOSIGNAL);
        std::string out;
        char buf[4096];
        for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, n);
        close(fd);
        return out;
    }
    Registry registry_;
    std::unique_ptr<HttpServer> server_;
    std::uint16_t port_ = 0;
};

TEST_F(LiveServer, GarbageGets400AndTheServerKeepsServing) {
    EXPECT_EQ(ask("\x01\x02garbage\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
    EXPECT_EQ(ask(std::string(kMaxRequest + 100, 'A')).rfind("HTTP/1.1 400 ", 0), 0u);
    const std::string ok = ask("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK", 0), 0u) << ok;
    EXPECT_NE(ok.find("live_total 7\n"), std::string::npos);
}

TEST_F(LiveServer, ConnectionsBeyondTheBoundAreClosedAndOthersStillServed) {
    std::vector<int> idle;
    for (std::size_t i = 0; i < kMaxConnections; ++i) idle.push_back(connect_());
    // The accept queue is FIFO: whenever the server gets to them, the first kMaxConnections
    // are accepted and this one, the last, is closed.
    const int extra = connect_();
    char c;
    EXPECT_EQ(recv(extra, &c, 1, 0), 0) << "the connection over the bound is closed";
    close(extra);
    close(idle.back());
    idle.pop_back();
    std::string ok;
    for (int attempt = 0; attempt < 50 && ok.empty(); ++attempt) {
        ok = ask("GET /metrics HTTP/1.0\r\n\r\n");
        if (ok.empty()) std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK", 0), 0u) << ok;
    for (int fd : idle) close(fd);
}

TEST_F(LiveServer, StopEndsTheThread) {
    server_->stop();
    server_->stop();  // twice is harmless
    SUCCEED();
}

}  // namespace
