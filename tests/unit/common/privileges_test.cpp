#include "pampero/common/privileges.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

using namespace pampero;

TEST(Privileges, ResolvesUserAndGroup) {
    auto none = resolve_run_as("", "");
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->has_value());
    auto nobody = resolve_run_as("nobody", "");
    ASSERT_TRUE(nobody) << nobody.error().message;
    EXPECT_EQ((*nobody)->uid, 65534u);
    EXPECT_EQ((*nobody)->gid, 65534u);  // primary group
    auto mail = resolve_run_as("nobody", "root");
    ASSERT_TRUE(mail);
    EXPECT_EQ((*mail)->gid, 0u);
    for (auto [u, g] : {std::pair{"no-such-user-x", ""}, std::pair{"nobody", "no-such-group-x"},
                        std::pair{"", "nogroup"}}) {
        auto r = resolve_run_as(u, g);
        ASSERT_FALSE(r) << u << " " << g;
        EXPECT_EQ(r.error().kind, ErrorKind::config);
    }
}

TEST(Privileges, NoUserConfiguredChangesNothing) {
    const uid_t before = geteuid();
    EXPECT_TRUE(drop_privileges(std::nullopt, "test"));
    EXPECT_EQ(geteuid(), before);
}
