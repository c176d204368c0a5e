#include "core/log.h"

#include <gtest/gtest.h>

#include <mutex>
#include <vector>

namespace tickgraph {
namespace {

struct Event {
  log::Level level;
  std::string message;
  std::vector<std::pair<std::string, std::string>> fields;
};

class RecordingSink final : public log::Sink {
 public:
  void write(log::Level level, std::string_view message,
             std::span<const log::Field> fields) override {
    Event e{level, std::string(message), {}};
    for (const auto& f : fields) {
      std::string value;
      if (const auto* s = std::get_if<std::string>(&f.value)) value = *s;
      if (const auto* i = std::get_if<std::int64_t>(&f.value)) value = "int:" + std::to_string(*i);
      if (const auto* b = std::get_if<bool>(&f.value)) value = *b ? "bool:true" : "bool:false";
      e.fields.emplace_back(std::string(f.key), value);
    }
    std::lock_guard lock(mu);
    events.push_back(std::move(e));
  }
  std::mutex mu;
  std::vector<Event> events;
};

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override { log::set_sink(sink); }
  void TearDown() override {
    log::set_sink(nullptr);
    log::set_level(log::Level::kInfo);
  }
  std::shared_ptr<RecordingSink> sink = std::make_shared<RecordingSink>();
};

TEST_F(LogTest, EventsReachTheSinkWithTypedFields) {
  // An event's message and fields reach the installed sink; integers stay integers.
  log::warn("store: locked", {{"symbol", "SPX"}, {"status", 503}, {"retry", true}});
  ASSERT_EQ(sink->events.size(), 1u);
  const Event& e = sink->events[0];
  EXPECT_EQ(e.level, log::Level::kWarn);
  EXPECT_EQ(e.message, "store: locked");
  ASSERT_EQ(e.fields.size(), 3u);
  EXPECT_EQ(e.fields[0], (std::pair<std::string, std::string>{"symbol", "SPX"}));
  EXPECT_EQ(e.fields[1].second, "int:503");
  EXPECT_EQ(e.fields[2].second, "bool:true");
}

TEST_F(LogTest, TheLevelFiltersBeforeTheSink) {
  // Below the level nothing reaches the sink; kOff silences everything.
  log::set_level(log::Level::kWarn);
  log::info("dropped");
  log::debug("dropped");
  log::error("kept");
  log::set_level(log::Level::kOff);
  log::error("dropped too");
  ASSERT_EQ(sink->events.size(), 1u);
  EXPECT_EQ(sink->events[0].message, "kept");
}

TEST(LogLevel, ParsesItsNames) {
  // The command line's --log-level values, and a clear error naming a bad one.
  EXPECT_EQ(*log::parse_level("debug"), log::Level::kDebug);
  EXPECT_EQ(*log::parse_level("warning"), log::Level::kWarn);
  EXPECT_EQ(*log::parse_level("off"), log::Level::kOff);
  auto bad = log::parse_level("loud");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("'loud'"), std::string::npos);
}

}  // namespace
}  // namespace tickgraph
