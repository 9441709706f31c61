#include "standby/member_names.h"

#include <gtest/gtest.h>

namespace pgtandem::standby {
namespace {

TEST(MemberNames, CollisionsWithTheOtherDcAreRefused) {
  const RemoteNames dc1{"pg1", {"pg2", "pg3", "dr1"}};
  EXPECT_FALSE(nameCollision("dr2", dc1, false)) << "a name DC1 does not use";
  EXPECT_FALSE(nameCollision("dr1", dc1, true)) << "our own walsender, as the standby leader";
  ASSERT_TRUE(nameCollision("dr1", dc1, false)) << "someone else streams as dr1";
  EXPECT_NE(nameCollision("pg2", dc1, false)->find("unique across both DCs"), std::string::npos);
  EXPECT_TRUE(nameCollision("pg1", dc1, false)) << "the other DC's primary";
  EXPECT_TRUE(nameCollision("pg1", dc1, true));
  EXPECT_TRUE(nameCollision("dr1", RemoteNames{"", {"dr1", "dr1"}}, true)) << "two walsenders with our name";
  EXPECT_FALSE(nameCollision("x", RemoteNames{}, false)) << "a primary that shows nothing (not run by pgtandem)";
}

}  // namespace
}  // namespace pgtandem::standby
