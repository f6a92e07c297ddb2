#include "contacts_import.hpp"

#include <gtest/gtest.h>

using namespace pampero::cli;

TEST(ContactsImport, VcardWithGroupsParametersAndFolding) {
    const std::string vcf =
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Dana "
        "Smith\r\nEMAIL;TYPE=INTERNET;TYPE=WORK:Dana@Work.example\r\n"
        "item1.EMAIL;type=INTERNET:dana.home@home.ex\r\n ample\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nFN:No Mail\r\nTEL:123\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nFN:Broken\r\nEMAIL:not-an-address\r\nEND:VCARD\r\n";
    auto r = parse_contacts(vcf);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->contacts.size(), 2u);
    EXPECT_EQ(r->contacts[0].address, "dana@work.example");
    EXPECT_EQ(r->contacts[0].name, "Dana Smith");
    EXPECT_EQ(r->contacts[1].address, "dana.home@home.example");
    EXPECT_EQ(r->skipped, std::vector<std::string>{"not-an-address"});
}

TEST(ContactsImport, CsvFindsTheEmailColumnAndQuotes) {
    const std::string csv =
        "First Name,Last Name,\"E-mail Address\",Notes\r\n"
        "Ann,Lee,ann@example.org,\"likes, commas\"\r\n"
        "\"Bob \"\"B\"\"\",,BOB@EXAMPLE.ORG,\r\n"
        "\r\n"
        "Cy,,,\r\n"
        "Ann,Lee,ann@example.org,duplicate\r\n";
    auto r = parse_contacts(csv);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->contacts.size(), 2u);
    EXPECT_EQ(r->contacts[0].address, "ann@example.org");
    EXPECT_EQ(r->contacts[0].name, "Ann Lee");
    EXPECT_EQ(r->contacts[1].address, "bob@example.org");
    EXPECT_EQ(r->contacts[1].name, "Bob \"B\"");
}

TEST(ContactsImport, CsvWithoutEmailColumnIsRefused) {
    auto r = parse_contacts("Name,Phone\r\nAnn,123\r\n");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("no e-mail column"), std::string::npos);
    EXPECT_FALSE(parse_contacts(""));
}
