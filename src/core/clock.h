// Where tickgraph reads the time. Everything that reads the clock takes a Clock (through its
// options or constructor, defaulting to system_clock()), so that tests drive time instead of
// sleeping: a ManualClock stands still until the test sets or advances it.
//
// Two readings:
//   - now(): wall time, int64 ns since the Unix epoch, UTC. Bars close by it, stored rows are
//     stamped with it, tokens expire by it.
//   - monotonic(): ns from an arbitrary origin that never goes back. Timeouts, backoff, idle
//     detection and lag limits measure durations with it.
//
// Thread-safety: every Clock may be read from any thread; a ManualClock may be moved by one
// thread while others read it.
#pragma once

#include <atomic>

#include "core/time.h"

namespace tickgraph {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp now() const = 0;
  virtual Duration monotonic() const = 0;
};

// The machine's clocks (std::chrono::system_clock and steady_clock). Lives for the whole process.
const Clock& system_clock();

// A clock that moves only when told. Both readings move together: advance(d) adds d to each.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Timestamp start) : now_(start) {}
  Timestamp now() const override { return now_.load(std::memory_order_acquire); }
  Duration monotonic() const override { return mono_.load(std::memory_order_acquire); }

  void advance(Duration d) {
    now_.fetch_add(d, std::memory_order_acq_rel);
    mono_.fetch_add(d, std::memory_order_acq_rel);
  }
  // Sets the wall time; the monotonic reading moves forward by the same step, never back (a
  // wall clock set backwards leaves it where it is).
  void set(Timestamp t) {
    const Timestamp before = now_.exchange(t, std::memory_order_acq_rel);
    if (t > before) mono_.fetch_add(t - before, std::memory_order_acq_rel);
  }

 private:
  std::atomic<Timestamp> now_;
  std::atomic<Duration> mono_{0};
};

}  // namespace tickgraph
