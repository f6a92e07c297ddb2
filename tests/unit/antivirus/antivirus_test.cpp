// libclamav in-process, with signatures the test writes itself (no download here): an
// .ndb body signature for the EICAR test string.
#include "pampero/scan/antivirus.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

using namespace pampero;
using namespace pampero::scan;

namespace {

// Assembled at run time so this source file itself is no EICAR carrier.
std::string eicar() {
    return std::string("X5O!P%@AP[4\\PZX54(P^)7CC)7}$") + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
}

std::string hex(const std::string& s) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string base64(const std::string& in) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned n = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                           static_cast<unsigned char>(in[i + 2]);
        out += t[n >> 18];
        out += t[(n >> 12) & 63];
        out += t[(n >> 6) & 63];
        out += t[n & 63];
    }
    if (i < in.size()) {
        unsigned n = static_cast<unsigned char>(in[i]) << 16;
        if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
        out += t[n >> 18];
        out += t[(n >> 12) & 63];
        out += i + 1 < in.size() ? t[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

class AntivirusTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("pampero-av-" + std::to_string(getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        std::ofstream(dir_ / "pampero-test.ndb") << "Pampero.Test.EICAR:0:*:" << hex(eicar()) << "\n";
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::filesystem::path dir_;
};

}  // namespace

TEST_F(AntivirusTest, FindsEicarInPlainAndEncodedMail) {
    auto av = Antivirus::load(dir_.string(), 10 << 20);
    ASSERT_TRUE(av) << av.error().message;
    EXPECT_EQ((*av)->signatures(), 1u);

    EXPECT_EQ((*av)->scan("Subject: hi\r\n\r\nnothing to see\r\n").outcome, VirusScan::Outcome::clean);
    auto plain = (*av)->scan("Subject: hi\r\n\r\n" + eicar() + "\r\n");
    EXPECT_EQ(plain.outcome, VirusScan::Outcome::virus);
    EXPECT_NE(plain.detail.find("Pampero.Test.EICAR"), std::string::npos) << plain.detail;

    const std::string mime =
        "From: a@example.org\r\nSubject: invoice\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n"
        "--XYZ\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
        "--XYZ\r\nContent-Type: application/octet-stream; name=\"invoice.com\"\r\n"
        "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"invoice.com\"\r\n\r\n" +
        base64(eicar()) + "\r\n--XYZ--\r\n";
    auto attached = (*av)->scan(mime);
    EXPECT_EQ(attached.outcome, VirusScan::Outcome::virus) << attached.detail;
}

TEST_F(AntivirusTest, OverMaxSizeIsSkippedNotCleared) {
    auto av = Antivirus::load(dir_.string(), 64);
    ASSERT_TRUE(av);
    auto r = (*av)->scan(std::string(65, 'a'));
    EXPECT_EQ(r.outcome, VirusScan::Outcome::skipped);
    EXPECT_EQ((*av)->scan(std::string(64, 'a')).outcome, VirusScan::Outcome::clean);
}

TEST_F(AntivirusTest, BadOrMissingSignaturesAreConfigErrors) {
    auto missing = Antivirus::load((dir_ / "nope").string(), 1 << 20);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().kind, ErrorKind::config);
    std::ofstream(dir_ / "broken.ndb") << "this is not a signature\n";
    auto broken = Antivirus::load(dir_.string(), 1 << 20);
    ASSERT_FALSE(broken);
    EXPECT_EQ(broken.error().kind, ErrorKind::config);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto empty = Antivirus::load(dir_.string(), 1 << 20);
    ASSERT_FALSE(empty);
}

TEST_F(AntivirusTest, WatcherSwapsOnChangeAndKeepsTheOldEngineOnABrokenSet) {
    auto first = Antivirus::load(dir_.string(), 1 << 20);
    ASSERT_TRUE(first);
    AntivirusWatcher w(dir_.string(), 1 << 20, *first);
    ASSERT_TRUE(w.refresh());
    EXPECT_EQ(w.get(), *first);  // nothing changed: same engine

    std::ofstream(dir_ / "more.ndb") << "Pampero.Test.Marker:0:*:" << hex("PAMPERO-AV-MARKER-1234") << "\n";
    ASSERT_TRUE(w.refresh());
    auto second = w.get();
    EXPECT_NE(second, *first);
    EXPECT_EQ(second->signatures(), 2u);
    EXPECT_EQ(second->scan("x PAMPERO-AV-MARKER-1234 y").outcome, VirusScan::Outcome::virus);
    EXPECT_EQ((*first)->scan("x PAMPERO-AV-MARKER-1234 y").outcome, VirusScan::Outcome::clean);  // old one still usable

    std::ofstream(dir_ / "zz-broken.ndb") << "garbage line\n";
    EXPECT_FALSE(w.refresh());
    EXPECT_EQ(w.get(), second);  // the broken set is refused, the running engine stays
    EXPECT_TRUE(w.refresh());    // and is not rebuilt again until it changes
}

TEST_F(AntivirusTest, ConcurrentScansShareOneEngine) {
    auto av = Antivirus::load(dir_.string(), 1 << 20);
    ASSERT_TRUE(av);
    std::atomic<int> viruses{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 50; ++i) {
                if ((*av)->scan("Subject: x\r\n\r\n" + eicar()).outcome == VirusScan::Outcome::virus) ++viruses;
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(viruses.load(), 200);
}
