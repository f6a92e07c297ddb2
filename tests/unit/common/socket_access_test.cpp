// Who may reach a listener: CIDR allow lists (IPv4, IPv6, IPv4-mapped), socket modes,
// and the owner/group/mode applied to a real unix socket file.
#include "pampero/common/socket_access.hpp"

#include <arpa/inet.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "pampero/common/config.hpp"

using namespace pampero;

namespace {

bool allows(const ClientAllowList& l, const char* ip) {
    sockaddr_storage ss{};
    if (inet_pton(AF_INET, ip, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr) == 1) {
        ss.ss_family = AF_INET;
        return l.allows(reinterpret_cast<sockaddr*>(&ss), sizeof(sockaddr_in));
    }
    EXPECT_EQ(inet_pton(AF_INET6, ip, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr), 1) << ip;
    ss.ss_family = AF_INET6;
    return l.allows(reinterpret_cast<sockaddr*>(&ss), sizeof(sockaddr_in6));
}

TEST(ClientAllowList, MatchesPrefixes) {
    auto l = ClientAllowList::parse({"127.0.0.1/32", "10.1.0.0/17", "2001:db8::/33", "192.0.2.7"});
    ASSERT_TRUE(l.ok()) << l.error().message;
    EXPECT_TRUE(allows(*l, "127.0.0.1"));
    EXPECT_FALSE(allows(*l, "127.0.0.2"));
    EXPECT_TRUE(allows(*l, "10.1.127.255"));
    EXPECT_FALSE(allows(*l, "10.1.128.0"));
    EXPECT_TRUE(allows(*l, "192.0.2.7"));
    EXPECT_FALSE(allows(*l, "192.0.2.8"));
    EXPECT_TRUE(allows(*l, "2001:db8:7fff::1"));
    EXPECT_FALSE(allows(*l, "2001:db8:8000::1"));
    EXPECT_TRUE(allows(*l, "::ffff:127.0.0.1"));  // IPv4 client on a dual-stack socket
    EXPECT_FALSE(allows(*l, "::ffff:127.0.0.2"));
    EXPECT_FALSE(allows(*l, "::1"));
}

TEST(ClientAllowList, EmptyAllowsNobodyAndZeroPrefixEveryone) {
    auto none = ClientAllowList::parse({});
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(allows(*none, "127.0.0.1"));
    auto all = ClientAllowList::parse({"0.0.0.0/0", "::/0"});
    ASSERT_TRUE(all.ok());
    EXPECT_TRUE(allows(*all, "203.0.113.9"));
    EXPECT_TRUE(allows(*all, "2001:db8::1"));
}

TEST(ClientAllowList, BadEntriesAreConfigErrors) {
    for (const char* bad :
         {"", "localhost", "10.0.0.0/33", "::/129", "1.2.3.4/", "1.2.3.4/x", "1.2.3"}) {
        auto l = ClientAllowList::parse({bad});
        ASSERT_FALSE(l.ok()) << bad;
        EXPECT_EQ(l.error().kind, ErrorKind::config);
    }
}

TEST(SocketMode, ParsesOctal) {
    EXPECT_EQ(parse_socket_mode("0660"), 0660u);
    EXPECT_EQ(parse_socket_mode("660"), 0660u);
    EXPECT_EQ(parse_socket_mode("0o600"), 0600u);
    EXPECT_FALSE(parse_socket_mode("0668"));
    EXPECT_FALSE(parse_socket_mode("1777"));
    EXPECT_FALSE(parse_socket_mode(""));
    EXPECT_FALSE(parse_socket_mode("rw"));
}

TEST(UnixSocketAccess, AppliesGroupAndMode) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("pampero-sa-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "s").string();
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strcpy(sa.sun_path, path.c_str());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    const gid_t gid = getgid();
    ASSERT_TRUE(apply_unix_access(path, {"", std::to_string(gid), 0640}).ok());
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
    EXPECT_EQ(st.st_gid, gid);
    // A group that does not exist: refused when named, tolerated when it is the default.
    EXPECT_FALSE(apply_unix_access(path, {"", "no-such-group-pampero", 0660}).ok());
    EXPECT_FALSE(apply_unix_access(path, {"no-such-user-pampero", "", 0660}).ok());
    close(fd);
    std::filesystem::remove_all(dir);
}

}  // namespace

namespace {

std::string write_config(const std::string& name, const std::string& text) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("pampero-sa-cfg-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const auto path = (dir / name).string();
    std::ofstream(path) << text;
    return path;
}

TEST(ListenerConfig, DefaultsAreRestrictive) {
    auto c = load_config(write_config("empty.yaml", "{}\n"));
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->store.socket_mode, 0660u);
    EXPECT_EQ(c->store.socket_group, "postfix");
    EXPECT_EQ(c->milter.socket_mode, 0660u);
    EXPECT_EQ(c->store.lmtp_clients, (std::vector<std::string>{"127.0.0.0/8", "::1/128"}));
    EXPECT_EQ(c->store.socketmap_sessions, 512);
    EXPECT_EQ(c->store.write_timeout, 300);
    EXPECT_EQ(c->store.spool_threshold, 1024u * 1024);
}

TEST(ListenerConfig, ReadsEveryKey) {
    auto c = load_config(write_config(
        "full.yaml",
        "milter:\n  socket_owner: postfix\n  socket_group: mail\n  socket_mode: 0600\n"
        "store:\n  socket_mode: '0640'\n  socket_group: ''\n  lmtp_clients: [10.0.0.0/8]\n"
        "  socketmap_clients: []\n  socketmap_sessions: 300\n  write_timeout: 30\n"
        "  spool_threshold: 256K\n"));
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->milter.socket_owner, "postfix");
    EXPECT_EQ(c->milter.socket_group, "mail");
    EXPECT_EQ(c->milter.socket_mode, 0600u);
    EXPECT_EQ(c->store.socket_mode, 0640u);
    EXPECT_EQ(c->store.socket_group, "");
    EXPECT_EQ(c->store.lmtp_clients, std::vector<std::string>{"10.0.0.0/8"});
    EXPECT_TRUE(c->store.socketmap_clients.empty());
    EXPECT_EQ(c->store.socketmap_sessions, 300);
    EXPECT_EQ(c->store.write_timeout, 30);
    EXPECT_EQ(c->store.spool_threshold, 256u * 1024);
}

TEST(ListenerConfig, BadValuesNameFileAndLine) {
    const std::pair<const char*, const char*> rows[] = {
        {"store:\n  socket_mode: 0999\n", ":2: store.socket_mode"},
        {"milter:\n  socket_mode: rw\n", ":2: milter.socket_mode"},
        {"store:\n  lmtp_clients: [10.0.0.0/40]\n", ":2: store.lmtp_clients"},
        {"store:\n  socketmap_clients: [example.org]\n", ":2: store.socketmap_clients"},
        {"store:\n  socketmap_sessions: 0\n", ":2:"},
        {"store:\n  write_timeout: 0\n", ":2:"},
    };
    for (const auto& [text, want] : rows) {
        auto c = load_config(write_config("bad.yaml", text));
        ASSERT_FALSE(c.ok()) << text;
        EXPECT_EQ(c.error().kind, ErrorKind::config);
        EXPECT_NE(c.error().message.find(want), std::string::npos) << c.error().message;
    }
}

}  // namespace
