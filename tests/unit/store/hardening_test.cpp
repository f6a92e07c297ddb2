// pampero-store against an adversary, below the sockets: deliveries never follow a link
// out of mail_root, a peer that does not read cannot pin a writer, big DATA is drained
// into a spool file with the size limit still counting every octet.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>

#include "conn.hpp"
#include "fixture.hpp"
#include "lmtp_codec.hpp"
#include "maildir.hpp"
#include "spool.hpp"

using namespace pampero::store;
using namespace store_test;
namespace fs = std::filesystem;

namespace {

// mail_root/u with a link somewhere pointing at `outside`.
struct Planted {
    std::string mail_root = scratch("nofollow");
    std::string outside = scratch("outside");
    std::string root = mail_root + "/example.com/u";
    Planted() {
        for (const char* d : {"cur", "new", "tmp"}) fs::create_directories(outside + "/" + d);
    }
    bool outside_empty() const {
        for (const char* d : {"cur", "new", "tmp"}) {
            if (!files_in(outside + "/" + d).empty()) return false;
        }
        return true;
    }
};

TEST(Confinement, SpamFolderLinkedOutsideIsRefused) {
    Planted p;
    ASSERT_TRUE(open_folder(p.mail_root, p.root, "").ok());
    fs::create_directory_symlink(p.outside, p.root + "/.Spam");
    auto f = open_folder(p.mail_root, p.root, "Spam");
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.error().kind, pampero::ErrorKind::temporary);
    EXPECT_NE(f.error().message.find("/.Spam: symbolic link below mail_root"), std::string::npos)
        << f.error().message;
    EXPECT_TRUE(p.outside_empty());
}

TEST(Confinement, MaildirOrParentLinkedOutsideIsRefused) {
    for (const std::string link : {"/example.com/u", "/example.com"}) {
        Planted p;
        fs::create_directories(fs::path(p.mail_root + link).parent_path());
        fs::create_directory_symlink(p.outside, p.mail_root + link);
        auto f = open_folder(p.mail_root, p.root, "");
        ASSERT_FALSE(f.ok()) << link;
        EXPECT_NE(f.error().message.find("symbolic link below mail_root"), std::string::npos);
        EXPECT_TRUE(p.outside_empty());
    }
}

TEST(Confinement, NewOrTmpLinkedOutsideIsRefused) {
    for (const char* sub : {"new", "tmp", "cur"}) {
        Planted p;
        fs::create_directories(p.root);
        fs::create_directory_symlink(p.outside + "/" + sub, p.root + "/" + sub);
        auto f = open_folder(p.mail_root, p.root, "");
        ASSERT_FALSE(f.ok()) << sub;
        EXPECT_NE(f.error().message.find(std::string("/") + sub + ": symbolic link"),
                  std::string::npos)
            << f.error().message;
        EXPECT_TRUE(p.outside_empty());
    }
}

TEST(Confinement, LinkSwappedInAfterOpeningIsNotFollowedByDelivery) {
    Planted p;
    auto f = open_folder(p.mail_root, p.root, "");
    ASSERT_TRUE(f.ok()) << f.error().message;
    fs::remove(p.root + "/new");
    fs::create_directory_symlink(p.outside + "/new", p.root + "/new");
    DirSync sync;
    auto d = deliver_file(*f, p.root, {"x\n"}, sync);
    EXPECT_FALSE(d.ok());
    EXPECT_TRUE(p.outside_empty());
    EXPECT_TRUE(files_in(p.root + "/tmp").empty());
}

TEST(Confinement, OrdinaryDeliveryStillWorksAndCreatesTheFolder) {
    Planted p;
    auto f = open_folder(p.mail_root, p.root, "Spam");
    ASSERT_TRUE(f.ok()) << f.error().message;
    DirSync sync;
    auto d = deliver_file(*f, p.root + "/.Spam", {"a\n", "b\n"}, sync);
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_EQ(read_file(d->path), "a\nb\n");
    EXPECT_TRUE(fs::exists(p.root + "/.Spam/maildirfolder"));
    EXPECT_EQ(read_file(p.root + "/subscriptions"), "Spam\n");
    EXPECT_FALSE(open_below(p.mail_root, p.outside, false).ok());  // not below mail_root
}

TEST(WriteTimeout, PeerThatNeverReadsReleasesTheWriter) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    Conn c(sv[0]);
    c.set_write_timeout(std::chrono::seconds(1));
    c.queue(std::string(16 << 20, 'x'));  // far more than the socket buffers hold
    EXPECT_FALSE(c.flush());
    EXPECT_TRUE(c.write_timed_out());
    EXPECT_FALSE(c.send("more"));  // and it stays given up
    close(sv[1]);
}

TEST(WriteTimeout, AStopShortensTheWait) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    std::atomic<bool> stopping{true};
    Conn c(sv[0], &stopping);
    c.set_write_timeout(std::chrono::seconds(3600));
    c.queue(std::string(16 << 20, 'x'));
    EXPECT_FALSE(c.flush());  // returns after kStopWriteGrace, not an hour
    EXPECT_TRUE(c.write_timed_out());
    close(sv[1]);
}

TEST(Spool, DrainedDecoderStillEnforcesTheLimitOnEveryOctet) {
    lmtp::DataDecoder d(10);
    d.feed("12345\r\n");  // 6 octets kept ("12345\n")
    d.drain();
    d.feed("67890\r\n");  // 12 in all: over
    EXPECT_TRUE(d.overflow());
    d.feed(".\r\n");
    EXPECT_TRUE(d.done());
}

TEST(Spool, AppendsAndMapsWithoutANameLeftBehind) {
    const std::string dir = scratch("spool");
    auto fd = open_below(dir, dir, false);
    ASSERT_TRUE(fd.ok());
    auto s = Spool::create(*fd, dir);
    ASSERT_TRUE(s.ok()) << s.error().message;
    ASSERT_TRUE(s->append("hello ").ok());
    ASSERT_TRUE(s->append(std::string(100000, 'z')).ok());
    auto v = s->view();
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->size(), 100006u);
    EXPECT_EQ(v->substr(0, 7), "hello z");
    EXPECT_TRUE(files_in(dir).empty());
}

}  // namespace
