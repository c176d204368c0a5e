// The result column: what it shows of its buffer, and copies that keep only that.
#include "graph/table.h"

#include <gtest/gtest.h>

#include <span>
#include <vector>

namespace tickgraph::graph {
namespace {

TEST(Column, ShowsTheValuesAfterItsLeadOnly) {
  Column c = Column::with_lead(3, 2);
  for (int i = 0; i < 5; ++i) c.buffer()[i] = 10.0 * i;  // 3 warm-up values, then the 2 rows
  ASSERT_EQ(c.size(), 2U);
  EXPECT_EQ(c[0], 30);
  EXPECT_EQ(c.back(), 40);
  EXPECT_EQ(std::vector<double>(c.begin(), c.end()), (std::vector<double>{30, 40}));
  const std::span<const double> view(c);  // what the API's writers read
  EXPECT_EQ(view.data(), c.buffer() + 3);
  EXPECT_EQ(view.size(), 2U);
}

TEST(Column, CopiesAreIndependentAndDropTheLead) {
  Column c = Column::with_lead(1, 2);
  c.buffer()[0] = -1;
  c.buffer()[1] = 1;
  c.buffer()[2] = 2;
  Column copy = c;
  c[0] = 99;
  EXPECT_EQ(std::vector<double>(copy.begin(), copy.end()), (std::vector<double>{1, 2}));
  EXPECT_EQ(copy.buffer(), copy.data());  // no lead kept
  Column filled(3, 7.5);
  filled = copy;
  EXPECT_EQ(filled.size(), 2U);
  EXPECT_EQ(filled[1], 2);
  Column moved = std::move(filled);
  EXPECT_EQ(moved[0], 1);
}

}  // namespace
}  // namespace tickgraph::graph
