#include "server/auth/rate_limiter.h"

#include <gtest/gtest.h>

namespace tickgraph::server::auth {
namespace {

TEST(RateLimiter, SpendsTheBurstThenRefillsAtTheRate) {
  RateLimiter limiter(2, 3);  // 2 per second, 3 at once
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.take("a", 100.0), 0) << i;
  const double wait = limiter.take("a", 100.0);
  EXPECT_NEAR(wait, 0.5, 1e-9) << "one token comes back every 1/rate seconds";
  EXPECT_GT(limiter.take("a", 100.25), 0);
  EXPECT_EQ(limiter.take("a", 100.5), 0);
  EXPECT_EQ(limiter.take("b", 100.5), 0) << "keys are independent";
  EXPECT_EQ(limiter.take("a", 1000.0), 0);
  EXPECT_EQ(limiter.take("a", 1000.0), 0);
  EXPECT_EQ(limiter.take("a", 1000.0), 0);
  EXPECT_GT(limiter.take("a", 1000.0), 0) << "refills stop at the burst";
}

TEST(RateLimiter, HasDoesNotSpendAndZeroRateIsUnlimited) {
  RateLimiter limiter(1, 1);
  EXPECT_TRUE(limiter.has("a", 5));
  EXPECT_TRUE(limiter.has("a", 5));
  EXPECT_EQ(limiter.take("a", 5), 0);
  EXPECT_FALSE(limiter.has("a", 5));
  RateLimiter unlimited(0, 1);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(unlimited.take("a", 0), 0);
}

TEST(RateLimiter, IdleFullBucketsArePruned) {
  RateLimiter limiter(100, 1);
  for (int i = 0; i < 5000; ++i) (void)limiter.take("k" + std::to_string(i), 0);
  EXPECT_EQ(limiter.size(), 5000u);
  (void)limiter.take("late", 60);  // all the others are full again by now
  EXPECT_EQ(limiter.size(), 1u);
}

}  // namespace
}  // namespace tickgraph::server::auth
