#include "core/clock.h"

#include <gtest/gtest.h>

#include <chrono>

namespace tickgraph {
namespace {

TEST(SystemClock, ReadsTheMachineClocks) {
  // now() is the wall clock in ns since the epoch; monotonic() never goes back.
  const Clock& clock = system_clock();
  const auto wall = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  EXPECT_LT(std::abs(clock.now() - wall), 5 * kSecond);
  const Duration a = clock.monotonic();
  const Duration b = clock.monotonic();
  EXPECT_LE(a, b);
}

TEST(ManualClock, MovesOnlyWhenTold) {
  // Both readings stand still until advanced or set; setting the wall clock back leaves the
  // monotonic reading where it was.
  ManualClock clock(1'000 * kSecond);
  EXPECT_EQ(clock.now(), 1'000 * kSecond);
  const Duration m0 = clock.monotonic();
  clock.advance(5 * kSecond);
  EXPECT_EQ(clock.now(), 1'005 * kSecond);
  EXPECT_EQ(clock.monotonic() - m0, 5 * kSecond);
  clock.set(1'010 * kSecond);
  EXPECT_EQ(clock.monotonic() - m0, 10 * kSecond);
  clock.set(900 * kSecond);
  EXPECT_EQ(clock.now(), 900 * kSecond);
  EXPECT_EQ(clock.monotonic() - m0, 10 * kSecond);
}

}  // namespace
}  // namespace tickgraph
