// Prometheus metrics, in the text exposition format (version 0.0.4) served at /metrics.
//
// A Metrics registry owns metric families (a name, a help text, a type) and, in each, one series
// per label set. Getting a series creates it on first use and returns a reference that stays valid
// for the registry's lifetime, so hot paths look a series up once and keep it. Updating a series
// is lock-free (atomics); creating one or rendering takes a mutex.
//
// Written by hand: Debian 12 packages no Prometheus client library for C++.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tickgraph {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(double v = 1);  // v >= 0
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double v);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Cumulative buckets with upper bounds `bounds` (ascending; +Inf is implicit), a sum and a count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Snapshot: per-bucket (non-cumulative) counts, then +Inf's; sum; count.
  struct Snapshot {
    std::vector<std::uint64_t> buckets;
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

// Latency buckets in seconds, 100 µs to 10 s.
std::vector<double> latency_buckets();

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The family is created on first use with `help`; later calls must use the same type (a
  // programming error otherwise: std::logic_error). Names and label names must match Prometheus'
  // rules ([a-zA-Z_:][a-zA-Z0-9_:]*); label values are escaped on output.
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, const Labels& labels = {},
                       std::vector<double> bounds = latency_buckets());
  // A gauge computed when scraped (queue depths, client counts owned by someone else).
  void gauge_callback(std::string_view name, std::string_view help, const Labels& labels,
                      std::function<double()> read);

  // Every family in name order, series in label order: "# HELP", "# TYPE", then samples
  // (histograms as _bucket{le=…} cumulative, _sum, _count).
  std::string render() const;

 private:
  struct Family;
  Family& family(std::string_view name, std::string_view help, int type);
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Family>> families_;
};

}  // namespace tickgraph
