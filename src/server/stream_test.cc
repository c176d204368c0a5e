// StreamClient: the per-connection queue between the engine and a session. Order of messages,
// coalescing of forming-bar updates, when the session is woken, the slow-client limits, and many
// producers with one consumer.
#include "server/stream.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tickgraph::server {
namespace {

using namespace std::chrono_literals;

SharedText text(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

std::vector<std::string> texts(const StreamClient::Batch& batch) {
  std::vector<std::string> out;
  for (const auto& m : batch.messages) out.push_back(*m);
  return out;
}

StreamLimits roomy() { return {std::size_t{1} << 30, std::chrono::milliseconds(600000)}; }

TEST(StreamClientTest, DirectMessagesAndFinalsKeepTheirOrder) {
  // Checks that direct messages and final updates, of one or several series, come out of take()
  // in the order they were queued, none dropped, and nothing counted as coalesced.
  StreamClient c(roomy(), nullptr);
  c.send(text("snapshot"));
  c.push("A", text("A final 1"), true);
  c.push("B", text("B final 1"), true);
  c.push("A", text("A final 2"), true);
  c.send(text("error"));
  c.push("A", text("A final 3"), true);
  const auto batch = c.take();
  EXPECT_EQ(texts(batch), (std::vector<std::string>{"snapshot", "A final 1", "B final 1",
                                                    "A final 2", "error", "A final 3"}));
  EXPECT_EQ(batch.coalesced, 0);
  EXPECT_FALSE(batch.closed.has_value());
  EXPECT_TRUE(c.take().messages.empty());  // taken once only
}

TEST(StreamClientTest, FormingUpdatesOfOneKeyCoalesceInPlace) {
  // Checks that a forming update replaces the pending one of its key where it stood in the queue,
  // that other keys are untouched, and that each replacement is counted once.
  StreamClient c(roomy(), nullptr);
  c.send(text("snapshot"));
  c.push("A", text("A forming 1"), false);
  c.push("B", text("B forming 1"), false);
  c.send(text("notice"));
  c.push("A", text("A forming 2"), false);
  c.push("A", text("A forming 3"), false);
  EXPECT_EQ(c.pending_bytes(), std::string("snapshot").size() + std::string("A forming 3").size() +
                                   std::string("B forming 1").size() +
                                   std::string("notice").size());
  const auto batch = c.take();
  EXPECT_EQ(texts(batch),
            (std::vector<std::string>{"snapshot", "A forming 3", "B forming 1", "notice"}));
  EXPECT_EQ(batch.coalesced, 2);
  EXPECT_EQ(c.coalesced_total(), 2);
  EXPECT_EQ(c.pending_bytes(), 0u);

  // After a take, the next forming update is queued anew, not merged into what was taken.
  c.push("A", text("A forming 4"), false);
  const auto next = c.take();
  EXPECT_EQ(texts(next), std::vector<std::string>{"A forming 4"});
  EXPECT_EQ(next.coalesced, 0);  // per take
  EXPECT_EQ(c.coalesced_total(), 2);
}

TEST(StreamClientTest, FinalSupersedesPendingFormingUpdateOfItsKey) {
  // Checks that a final update removes the pending forming update of its key (and only of its
  // key) and queues at the end. The dropped forming update is not counted as coalesced: the
  // final carries the same bar, newer, so the client loses nothing.
  StreamClient c(roomy(), nullptr);
  c.push("A", text("A forming"), false);
  c.push("B", text("B forming"), false);
  c.send(text("notice"));
  c.push("A", text("A final"), true);
  const auto batch = c.take();
  EXPECT_EQ(texts(batch), (std::vector<std::string>{"B forming", "notice", "A final"}));
  EXPECT_EQ(batch.coalesced, 0);

  // A forming update after a final queues after it; the final is never replaced.
  c.push("A", text("A final 2"), true);
  c.push("A", text("A forming 2"), false);
  c.push("A", text("A forming 3"), false);
  EXPECT_EQ(texts(c.take()), (std::vector<std::string>{"A final 2", "A forming 3"}));
}

TEST(StreamClientTest, UncountedPushesCoalesceWithoutCounting) {
  // Checks that counted=false updates (the client's own lag notices) replace each other like any
  // forming update but are not counted as coalesced.
  StreamClient c(roomy(), nullptr);
  c.push("~lag", text("lag 1"), false, false);
  c.push("~lag", text("lag 2"), false, false);
  c.push("A", text("A 1"), false);
  c.push("A", text("A 2"), false);
  const auto batch = c.take();
  EXPECT_EQ(texts(batch), (std::vector<std::string>{"lag 2", "A 2"}));
  EXPECT_EQ(batch.coalesced, 1);
  EXPECT_EQ(c.coalesced_total(), 1);
}

TEST(StreamClientTest, WakeOnlyWhenTheQueueBecomesNonEmptyAndOnClose) {
  // Checks that wake is called on the first message after the queue was empty, not on messages
  // joining a non-empty queue, again after a take emptied it, and once on close.
  int wakes = 0;
  StreamClient c(roomy(), [&] { ++wakes; });
  EXPECT_EQ(wakes, 0);
  c.push("A", text("A forming"), false);
  EXPECT_EQ(wakes, 1);
  c.push("A", text("A forming 2"), false);
  c.push("B", text("B final"), true);
  c.send(text("notice"));
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(c.take().messages.size(), 3u);
  EXPECT_EQ(wakes, 1);  // take does not wake
  c.send(text("after take"));
  EXPECT_EQ(wakes, 2);
  c.close("bye", CloseKind::kRefused);
  EXPECT_EQ(wakes, 3);
  c.close("again", CloseKind::kRefused);
  c.send(text("after close"));
  c.push("A", text("after close"), true);
  EXPECT_EQ(wakes, 3);
}

TEST(StreamClientTest, FinalReplacingTheOnlyPendingUpdateDoesNotWakeAgain) {
  // Checks that a final update superseding the pending forming update of its key, when that was
  // the only message queued, does not wake the session a second time: the queue was never empty
  // between the two pushes (the session was already woken for the first and has not taken yet).
  int wakes = 0;
  StreamClient c(roomy(), [&] { ++wakes; });
  c.push("A", text("A forming"), false);
  ASSERT_EQ(wakes, 1);
  c.push("A", text("A final"), true);
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(texts(c.take()), std::vector<std::string>{"A final"});
}

TEST(StreamClientTest, WakeIsCalledOutsideTheLock) {
  // Checks that the session may call take() (and the other accessors) from inside wake: were
  // wake called under the client's lock, this would deadlock, which the timeout detects.
  auto done = std::make_shared<std::promise<std::vector<std::string>>>();
  auto result = done->get_future();
  std::thread([done] {
    std::vector<std::string> seen;
    std::shared_ptr<StreamClient> client;
    client = std::make_shared<StreamClient>(roomy(), [&] {
      const auto batch = client->take();
      for (const auto& m : batch.messages) seen.push_back(*m);
      if (batch.closed) seen.push_back("closed: " + *batch.closed);
      (void)client->pending_bytes();
      (void)client->closed();
    });
    client->send(text("one"));
    client->push("A", text("two"), false);
    client->push("A", text("three"), true);
    client->close("done", CloseKind::kRefused);
    done->set_value(seen);
  }).detach();  // detached: if it deadlocks, the test fails instead of hanging
  ASSERT_EQ(result.wait_for(10s), std::future_status::ready) << "wake called under the lock";
  // Each message was taken by the wake its own push caused (the queue was empty every time).
  EXPECT_EQ(result.get(), (std::vector<std::string>{"one", "two", "three", "closed: done"}));
}

TEST(StreamClientTest, TooManyPendingBytesClosesTheClient) {
  // Checks that queueing past max_pending_bytes closes the client with a "too slow" reason,
  // drops what was queued, wakes the session, and that take() then reports the reason only.
  int wakes = 0;
  StreamClient c({100, std::chrono::milliseconds(600000)}, [&] { ++wakes; });
  c.push("A", text(std::string(60, 'a')), true);
  c.push("B", text(std::string(40, 'b')), true);  // exactly 100: still within the limit
  EXPECT_FALSE(c.closed());
  EXPECT_EQ(c.pending_bytes(), 100u);
  c.send(text(std::string(1000, 's')));  // a direct message (a snapshot) is not an update
  EXPECT_FALSE(c.closed());
  EXPECT_EQ(c.pending_bytes(), 1100u);
  c.push("C", text("x"), true);  // 101 bytes of updates
  EXPECT_TRUE(c.closed());
  ASSERT_TRUE(c.close_reason().has_value());
  EXPECT_EQ(c.close_kind(), CloseKind::kTooSlow) << *c.close_reason();
  EXPECT_EQ(wakes, 2);  // the first message, then the close
  EXPECT_EQ(c.pending_bytes(), 0u);

  const auto batch = c.take();
  EXPECT_TRUE(batch.messages.empty());
  ASSERT_TRUE(batch.closed.has_value());
  EXPECT_EQ(*batch.closed, *c.close_reason());
}

TEST(StreamClientTest, DirectMessagesHaveTheirOwnLimit) {
  // Checks that a large snapshot does not close a client by the updates' byte limit, and that
  // direct messages left unread are bounded by max_direct_bytes.
  StreamClient c({10, std::chrono::milliseconds(600000), 1000}, nullptr);
  c.send(text(std::string(900, 's')));
  c.push("A", text(std::string(10, 'a')), false);
  EXPECT_FALSE(c.closed());
  c.send(text(std::string(101, 's')));  // 1001 bytes of direct messages
  ASSERT_TRUE(c.closed());
  EXPECT_EQ(c.close_kind(), CloseKind::kTooSlow) << *c.close_reason();
}

TEST(StreamClientTest, GrowingFormingUpdateCountsTowardsTheLimit) {
  // Checks that a coalesced forming update replacing a small one with a large one is measured
  // at its new size and can close the client.
  StreamClient c({50, std::chrono::milliseconds(600000)}, nullptr);
  c.push("A", text("small"), false);
  c.push("A", text(std::string(30, 'm')), false);
  EXPECT_EQ(c.pending_bytes(), 30u);
  EXPECT_FALSE(c.closed());
  c.push("A", text(std::string(51, 'l')), false);
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(c.close_kind(), CloseKind::kTooSlow) << *c.close_reason();
}

TEST(StreamClientTest, OldestMessageWaitingPastMaxLagClosesTheClient) {
  // Checks that when the oldest queued message has waited longer than max_lag, the next message
  // closes the client with a "too slow" reason.
  ManualClock clock(0);
  StreamClient c({std::size_t{1} << 20, std::chrono::milliseconds(5)}, nullptr, clock);
  c.push("A", text("A final"), true);
  clock.advance(5 * kMillisecond);
  c.push("B", text("B final"), true);
  EXPECT_FALSE(c.closed()) << "5 ms is not more than max_lag";
  clock.advance(1 * kMillisecond);
  c.push("C", text("C final"), true);
  EXPECT_TRUE(c.closed());
  ASSERT_TRUE(c.close_reason().has_value());
  EXPECT_EQ(c.close_kind(), CloseKind::kTooSlow) << *c.close_reason();
  const auto batch = c.take();
  EXPECT_TRUE(batch.messages.empty());
  EXPECT_EQ(batch.closed, c.close_reason());
}

TEST(StreamClientTest, CoalescingKeepsTheAgeOfTheReplacedUpdate) {
  // Checks that a forming update replaced again and again keeps the age of the first one it
  // replaced, so a client that never takes still reaches max_lag.
  ManualClock clock(0);
  StreamClient c({std::size_t{1} << 20, std::chrono::milliseconds(5)}, nullptr, clock);
  c.push("A", text("A 1"), false);
  clock.advance(30 * kMillisecond);
  c.push("A", text("A 2"), false);
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(c.close_kind(), CloseKind::kTooSlow) << *c.close_reason();
}

TEST(StreamClientTest, ClientThatTakesInTimeIsNotClosedByMaxLag) {
  // Checks that max_lag measures waiting in the queue: a client that takes before each pause
  // stays open however long the stream runs.
  ManualClock clock(0);
  StreamClient c({std::size_t{1} << 20, std::chrono::milliseconds(20)}, nullptr, clock);
  for (int i = 0; i < 4; ++i) {
    c.push("A", text("A " + std::to_string(i)), true);
    EXPECT_EQ(c.take().messages.size(), 1u);
    clock.advance(30 * kMillisecond);
  }
  c.push("A", text("A last"), true);
  EXPECT_FALSE(c.closed());
}

TEST(StreamClientTest, AfterCloseNothingIsQueuedAndTheFirstReasonWins) {
  // Checks that close() reports its reason to take(), drops pending messages, refuses later
  // messages, and keeps the first reason when closed twice.
  StreamClient c(roomy(), nullptr);
  c.push("A", text("A final"), true);
  c.close("server shutting down", CloseKind::kShuttingDown);
  c.close("disconnected", CloseKind::kDisconnected);
  c.send(text("late"));
  c.push("A", text("late final"), true);
  c.push("A", text("late forming"), false);
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(c.close_reason(), std::optional<std::string>("server shutting down"));
  const auto batch = c.take();
  EXPECT_TRUE(batch.messages.empty());
  EXPECT_EQ(batch.closed, std::optional<std::string>("server shutting down"));
  EXPECT_EQ(batch.close_kind, CloseKind::kShuttingDown) << "the first kind wins with its reason";
  // Every later take says the same.
  EXPECT_EQ(c.take().closed, std::optional<std::string>("server shutting down"));
}

TEST(StreamClientTest, ConcurrentProducersDeliverEveryFinalOnceInOrder) {
  // Checks, with several producer threads pushing finals and forming updates while one consumer
  // takes whenever woken, that every final arrives exactly once and in each producer's order,
  // and that forming updates seen by the consumer never go backwards for a key.
  constexpr int kProducers = 4;
  constexpr int kFinals = 3000;
  std::mutex wake_mutex;
  std::condition_variable wake_cv;
  bool woken = false;
  StreamClient c(roomy(), [&] {
    const std::lock_guard lock(wake_mutex);
    woken = true;
    wake_cv.notify_one();
  });

  std::atomic<int> finished{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&c, &finished, p] {
      const std::string key = "P" + std::to_string(p);
      for (int i = 0; i < kFinals; ++i) {
        c.push(key, text(key + " forming " + std::to_string(i)), false);
        c.push(key, text(key + " final " + std::to_string(i)), true);
        if (i % 100 == 0) c.send(text(key + " direct " + std::to_string(i)));
      }
      finished.fetch_add(1);
    });
  }

  std::map<int, int> next_final;    // producer -> next expected final index
  std::map<int, int> last_forming;  // producer -> last forming index seen
  std::map<int, int> next_direct;   // producer -> next expected direct index
  int finals = 0;
  bool in_order = true;
  auto consume = [&](const StreamClient::Batch& batch) {
    for (const auto& m : batch.messages) {
      const int p = (*m)[1] - '0';
      const auto space = m->find(' ', 3);
      const std::string kind = m->substr(3, space - 3);
      const int i = std::stoi(m->substr(space + 1));
      if (kind == "final") {
        if (next_final[p] != i) in_order = false;
        next_final[p] = i + 1;
        ++finals;
      } else if (kind == "forming") {
        if (last_forming.contains(p) && i < last_forming[p]) in_order = false;
        last_forming[p] = i;
      } else {
        if (next_direct[p] != i) in_order = false;
        next_direct[p] = i + 100;
      }
    }
  };
  while (finished.load() < kProducers) {
    std::unique_lock lock(wake_mutex);
    wake_cv.wait_for(lock, 10ms, [&] { return woken; });
    woken = false;
    lock.unlock();
    consume(c.take());
  }
  for (auto& t : producers) t.join();
  consume(c.take());

  EXPECT_TRUE(in_order);
  EXPECT_EQ(finals, kProducers * kFinals);
  for (int p = 0; p < kProducers; ++p) {
    EXPECT_EQ(next_final[p], kFinals) << "producer " << p;
    EXPECT_EQ(next_direct[p], kFinals) << "producer " << p;  // 0, 100, …, 2900 then 3000
  }
  EXPECT_FALSE(c.closed());
}

}  // namespace
}  // namespace tickgraph::server
