#include "ingest/feed_policy.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <thread>

#include "core/log.h"

namespace tickgraph::ingest {

std::string_view poison_reason_name(PoisonReason reason) {
  switch (reason) {
    case PoisonReason::kUndecodable:
      return "undecodable";
    case PoisonReason::kWrongKey:
      return "wrong_key";
    case PoisonReason::kBadValues:
      return "bad_values";
    case PoisonReason::kUnknownSymbol:
      return "unknown_symbol";
    case PoisonReason::kRefused:
      return "refused";
  }
  return "undecodable";
}

std::variant<TickRecord, Poison> judge_message(std::string_view payload,
                                               std::optional<std::string_view> key,
                                               TickFormat format, Timestamp now) {
  auto tick = decode_tick(payload, format);
  if (!tick) return Poison{PoisonReason::kUndecodable, tick.message()};
  if (key && !key->empty() && *key != tick->symbol) {
    return Poison{PoisonReason::kWrongKey, "key '" + std::string(*key) +
                                               "' is not the tick's symbol '" + tick->symbol + "'"};
  }
  if (Status values = check_tick_values(tick->tick, now); !values.ok()) {
    return Poison{PoisonReason::kBadValues, values.message()};
  }
  return std::move(*tick);
}

SymbolVerdict symbol_verdict(const Status& check) {
  if (check.ok()) return SymbolVerdict::kTake;
  if (check.is(StatusCode::kNotFound) || check.is(StatusCode::kInvalidArgument)) {
    return SymbolVerdict::kPoison;
  }
  return SymbolVerdict::kAskAgain;
}

SinkFailure sink_failure(const Status& failed) {
  const bool refused = failed.is(StatusCode::kInvalidArgument) || failed.is(StatusCode::kNotFound);
  return refused ? SinkFailure::kRefused : SinkFailure::kRetry;
}

std::optional<std::size_t> refused_index(const Status& refused, std::size_t size) {
  const std::string_view text = refused.detail("index");
  std::size_t index = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), index);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || index >= size) {
    return std::nullopt;
  }
  return index;
}

std::vector<std::pair<std::string, std::string>> dead_letter_headers(
    const Poison& poison, const DeadLetterOrigin& origin) {
  std::string why = poison.why;
  std::replace_if(
      why.begin(), why.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
  return {
      {std::string(kHeaderReason), std::move(why)},
      {std::string(kHeaderReasonClass), std::string(poison_reason_name(poison.reason))},
      {std::string(kHeaderSource), std::string(origin.source)},
      {std::string(kHeaderTopic), std::string(origin.topic)},
      {std::string(kHeaderPartition), std::string(origin.partition)},
      {std::string(kHeaderOffset), std::to_string(origin.offset)},
  };
}

Duration Backoff::next() {
  const Duration wait = next_;
  next_ = std::min(2 * next_, kMax);
  return wait;
}

bool sleep_unless_stopped(Duration d, const std::atomic<bool>& stop) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::nanoseconds(d);
  while (!stop.load()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= end) return true;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(end - now, std::chrono::milliseconds(20)));
  }
  return false;
}

bool StoreRetry::until_ok(Status first, const std::function<Status()>& attempt,
                          const std::atomic<bool>& stop,
                          const std::function<void()>& before_pause) {
  if (first.ok()) return true;
  log::warn(what_ + ": " + first.message() + " (reading paused, nothing acknowledged, retrying)",
            {{"reason", "store_failed"}, {"code", status_code_name(first.code())}});
  Backoff backoff;
  Status s = std::move(first);
  while (!s.ok()) {
    update_([](FeedStats& st) {
      ++st.store_retries;
      st.paused = true;
    });
    if (before_pause) before_pause();
    if (!sleep_unless_stopped(backoff.next(), stop)) return false;
    s = attempt();
  }
  log::info(what_ + ": the store works again, reading resumed", {{"reason", "store_recovered"}});
  update_([](FeedStats& st) { st.paused = false; });
  return true;
}

}  // namespace tickgraph::ingest
