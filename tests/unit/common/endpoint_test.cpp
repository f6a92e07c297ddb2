// The one socket syntax of every daemon (endpoint.hpp): what parses, what each part means,
// what is refused and how; and real sockets made from it.
#include "pampero/common/endpoint.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "pampero/common/socket_access.hpp"

using namespace pampero;

namespace {

struct SpecRow {
    const char* name;
    const char* spec;
    bool ok;
    Endpoint::Kind kind;
    const char* host;
    int port;
    const char* path;
};

class EndpointSpecs : public ::testing::TestWithParam<SpecRow> {};

TEST_P(EndpointSpecs, Row) {
    const auto& row = GetParam();
    const auto e = parse_endpoint(row.spec);
    ASSERT_EQ(static_cast<bool>(e), row.ok) << (e ? e->str() : e.error().message);
    if (!row.ok) {
        EXPECT_EQ(e.error().kind, ErrorKind::config);
        EXPECT_NE(e.error().message.find(row.spec), std::string::npos) << e.error().message;
        return;
    }
    EXPECT_EQ(e->kind, row.kind);
    EXPECT_EQ(e->host, row.host);
    EXPECT_EQ(e->port, row.port);
    EXPECT_EQ(e->path, row.path);
    // What str() writes back parses to the same endpoint.
    const auto again = parse_endpoint(e->str());
    ASSERT_TRUE(again.ok()) << e->str();
    EXPECT_EQ(again->kind, e->kind);
    EXPECT_EQ(again->host, e->host);
    EXPECT_EQ(again->port, e->port);
    EXPECT_EQ(again->path, e->path);
}

using K = Endpoint::Kind;
const std::string kLongPath = "unix:/" + std::string(200, 'a');  // sun_path holds 108
INSTANTIATE_TEST_SUITE_P(
    Rows, EndpointSpecs,
    ::testing::Values(
        SpecRow{"inet", "inet:10025@127.0.0.1", true, K::inet, "127.0.0.1", 10025, ""},
        SpecRow{"inet_name", "inet:8891@localhost", true, K::inet, "localhost", 8891, ""},
        // No host: loopback, for every daemon (not libmilter's "every address").
        SpecRow{"inet_no_host", "inet:10025", true, K::inet, "127.0.0.1", 10025, ""},
        SpecRow{"inet_any", "inet:10025@0.0.0.0", true, K::inet, "0.0.0.0", 10025, ""},
        SpecRow{"inet6", "inet6:10025@::1", true, K::inet6, "::1", 10025, ""},
        SpecRow{"inet6_brackets", "inet6:10025@[::1]", true, K::inet6, "::1", 10025, ""},
        SpecRow{"inet6_no_host", "inet6:24", true, K::inet6, "::1", 24, ""},
        SpecRow{"unix", "unix:/run/pampero/milter.sock", true, K::unix_socket, "", 0,
                "/run/pampero/milter.sock"},
        SpecRow{"local", "local:/tmp/m.sock", true, K::unix_socket, "", 0, "/tmp/m.sock"},
        SpecRow{"bare_path", "/tmp/m.sock", true, K::unix_socket, "", 0, "/tmp/m.sock"},
        SpecRow{"relative_path", "unix:run/m.sock", false, K::inet, "", 0, ""},
        SpecRow{"bare_relative", "m.sock", false, K::inet, "", 0, ""},
        SpecRow{"inet_v6_host", "inet:25@::1", false, K::inet, "", 0, ""},
        SpecRow{"port_zero", "inet:0@127.0.0.1", false, K::inet, "", 0, ""},
        SpecRow{"port_too_big", "inet:65536@127.0.0.1", false, K::inet, "", 0, ""},
        SpecRow{"port_name", "inet:smtp@127.0.0.1", false, K::inet, "", 0, ""},
        SpecRow{"no_port", "inet:@127.0.0.1", false, K::inet, "", 0, ""},
        SpecRow{"empty_host", "inet:25@", false, K::inet, "", 0, ""},
        SpecRow{"unknown_kind", "tcp:25@127.0.0.1", false, K::inet, "", 0, ""},
        SpecRow{"unix_empty", "unix:", false, K::inet, "", 0, ""},
        SpecRow{"unix_too_long", kLongPath.c_str(), false, K::inet, "", 0, ""}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Endpoint, PostfixNexthop) {
    EXPECT_EQ(parse_endpoint("inet:24@10.0.0.2")->postfix_nexthop(), "inet:10.0.0.2:24");
    EXPECT_EQ(parse_endpoint("inet6:24@[2001:db8::2]")->postfix_nexthop(), "inet:[2001:db8::2]:24");
    EXPECT_EQ(parse_endpoint("unix:/run/s")->postfix_nexthop(), "unix:/run/s");
}

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char t[] = "/tmp/pampero-endpoint-XXXXXX";
        path = mkdtemp(t);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

// The socket file's mode is set before listen(): a file at the umask's mode never accepts.
TEST(Endpoint, UnixListenerGetsItsModeAndReplacesAStaleSocket) {
    TempDir dir;
    const auto e = parse_endpoint("unix:" + (dir.path / "s").string());
    ASSERT_TRUE(e.ok());
    UnixSocketAccess access;
    access.group = "";  // no chgrp: the test user may not own "postfix"
    access.mode = 0600;
    for (int round = 0; round < 2; ++round) {  // the second bind finds the first's file
        auto fd = listen_on(*e, 16, &access);
        ASSERT_TRUE(fd.ok()) << fd.error().message;
        struct stat st {};
        ASSERT_EQ(::stat(e->path.c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0600u);
        auto c = connect_to(*e, std::chrono::milliseconds(1000));
        ASSERT_TRUE(c.ok()) << c.error().message;
        ::close(*c);
        ::close(*fd);
    }
}

TEST(Endpoint, InetListenAndConnectOnLoopback) {
    // Find a free port by binding to one the kernel picks, then use the syntax on it.
    const int probe = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(probe, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    socklen_t len = sizeof sa;
    ::getsockname(probe, reinterpret_cast<sockaddr*>(&sa), &len);
    ::close(probe);
    const auto e = parse_endpoint("inet:" + std::to_string(ntohs(sa.sin_port)));
    ASSERT_TRUE(e.ok());
    auto fd = listen_on(*e);
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    auto c = connect_to(*e, std::chrono::milliseconds(1000));
    ASSERT_TRUE(c.ok()) << c.error().message;
    ::close(*c);
    ::close(*fd);
    // Nobody listens any more: a temporary error, not a config one.
    auto refused = connect_to(*e, std::chrono::milliseconds(1000));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().kind, ErrorKind::temporary);
}

TEST(Endpoint, UnresolvableNameIsTemporary) {
    const auto e = parse_endpoint("inet:25@no-such-host.invalid");
    ASSERT_TRUE(e.ok());
    auto fd = listen_on(*e);
    ASSERT_FALSE(fd.ok());
    EXPECT_EQ(fd.error().kind, ErrorKind::temporary);
}

}  // namespace
