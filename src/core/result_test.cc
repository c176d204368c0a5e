#include "core/result.h"

#include <gtest/gtest.h>

namespace tickgraph {
namespace {

TEST(Status, OkHoldsNothing) {
  // An OK Status has code kOk, an empty message and no details, and stays OK when annotated.
  Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.code(), StatusCode::kOk);
  EXPECT_TRUE(ok.message().empty());
  EXPECT_TRUE(ok.details().empty());
  EXPECT_TRUE(ok.with_field("x").ok());
  EXPECT_TRUE(ok.with_prefix("p: ").ok());
  EXPECT_EQ(ok.to_string(), "ok");
}

TEST(Status, CarriesCodeMessageAndDetails) {
  // A failure keeps its code through annotations; details are kept in order, and one of the
  // same key replaces the earlier one.
  const Status s = Status::invalid_argument("must be > 0")
                       .with_field("ticks[3].price")
                       .with_detail("asset", "SPX")
                       .with_prefix("ticks[3].price: ");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "ticks[3].price: must be > 0");
  EXPECT_EQ(s.detail("field"), "ticks[3].price");
  EXPECT_EQ(s.detail("asset"), "SPX");
  EXPECT_EQ(s.detail("node"), "");
  ASSERT_EQ(s.details().size(), 2u);
  EXPECT_EQ(s.details()[0].key, "field");
  const Status moved = s.with_field("ticks[4].price");
  EXPECT_EQ(moved.detail("field"), "ticks[4].price");
  EXPECT_EQ(s.detail("field"), "ticks[3].price") << "annotating returns a copy";
  EXPECT_EQ(moved.details().size(), 2u);
  EXPECT_EQ(s.to_string(), "invalid_argument: ticks[3].price: must be > 0");
}

TEST(Status, EveryCodeHasItsGrpcNameAndNumber) {
  // The codes are gRPC's canonical ones, by number and by name.
  const std::pair<StatusCode, std::string_view> codes[] = {
      {StatusCode::kCancelled, "cancelled"},
      {StatusCode::kUnknown, "unknown"},
      {StatusCode::kInvalidArgument, "invalid_argument"},
      {StatusCode::kDeadlineExceeded, "deadline_exceeded"},
      {StatusCode::kNotFound, "not_found"},
      {StatusCode::kAlreadyExists, "already_exists"},
      {StatusCode::kPermissionDenied, "permission_denied"},
      {StatusCode::kResourceExhausted, "resource_exhausted"},
      {StatusCode::kFailedPrecondition, "failed_precondition"},
      {StatusCode::kAborted, "aborted"},
      {StatusCode::kOutOfRange, "out_of_range"},
      {StatusCode::kUnimplemented, "unimplemented"},
      {StatusCode::kInternal, "internal"},
      {StatusCode::kUnavailable, "unavailable"},
      {StatusCode::kDataLoss, "data_loss"},
      {StatusCode::kUnauthenticated, "unauthenticated"},
  };
  int number = 1;
  for (const auto& [code, name] : codes) {
    EXPECT_EQ(static_cast<int>(code), number++) << name;
    EXPECT_EQ(status_code_name(code), name);
    EXPECT_EQ(Status(code, "m").code(), code);
  }
  EXPECT_EQ(Status::unavailable("x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(Status::not_found("x").code(), StatusCode::kNotFound);
  EXPECT_EQ(Status::already_exists("x").code(), StatusCode::kAlreadyExists);
}

TEST(Result, HoldsAValueOrAFailedStatus) {
  // A Result gives its value, or the Status it was built from, code included.
  Result<int> good = 7;
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 7);
  EXPECT_TRUE(good.status().ok());
  EXPECT_EQ(good.code(), StatusCode::kOk);
  Result<int> bad = Status::not_found("unknown asset 'X'").with_parameter("symbol");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), StatusCode::kNotFound);
  EXPECT_EQ(bad.message(), "unknown asset 'X'");
  EXPECT_EQ(bad.status().detail("parameter"), "symbol");
}

}  // namespace
}  // namespace tickgraph
