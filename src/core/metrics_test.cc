#include "core/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace tickgraph {
namespace {

TEST(MetricsTest, RendersASmallRegistryExactly) {
  // The whole exposition text: HELP/TYPE lines, labels, cumulative buckets, _sum and _count.
  Metrics metrics;
  metrics.counter("http_requests_total", "Requests served.", {{"route", "GET /v1/assets"}}).inc(3);
  metrics.counter("http_requests_total", "Requests served.", {{"route", "GET /health"}}).inc();
  metrics.gauge("ws_clients", "Connected WebSocket clients.").set(2);
  Histogram& latency =
      metrics.histogram("request_seconds", "Request latency.", {{"route", "x"}}, {0.01, 0.1, 1});
  latency.observe(0.005);
  latency.observe(0.01);  // bounds are inclusive
  latency.observe(0.5);
  latency.observe(2);

  EXPECT_EQ(metrics.render(),
            "# HELP http_requests_total Requests served.\n"
            "# TYPE http_requests_total counter\n"
            "http_requests_total{route=\"GET /health\"} 1\n"
            "http_requests_total{route=\"GET /v1/assets\"} 3\n"
            "# HELP request_seconds Request latency.\n"
            "# TYPE request_seconds histogram\n"
            "request_seconds_bucket{route=\"x\",le=\"0.01\"} 2\n"
            "request_seconds_bucket{route=\"x\",le=\"0.1\"} 2\n"
            "request_seconds_bucket{route=\"x\",le=\"1\"} 3\n"
            "request_seconds_bucket{route=\"x\",le=\"+Inf\"} 4\n"
            "request_seconds_sum{route=\"x\"} 2.515\n"
            "request_seconds_count{route=\"x\"} 4\n"
            "# HELP ws_clients Connected WebSocket clients.\n"
            "# TYPE ws_clients gauge\n"
            "ws_clients 2\n");
}

TEST(MetricsTest, HistogramWithoutLabelsAndSnapshot) {
  // An unlabelled histogram renders le as its only label; the snapshot is per bucket.
  Metrics metrics;
  Histogram& h = metrics.histogram("h", "H.", {}, {1, 2});
  h.observe(1.5);
  h.observe(1.5);
  h.observe(std::numeric_limits<double>::quiet_NaN());  // counted in +Inf, as Prometheus does
  const Histogram::Snapshot snapshot = h.snapshot();
  EXPECT_EQ(snapshot.buckets, (std::vector<std::uint64_t>{0, 2, 1}));
  EXPECT_EQ(snapshot.count, 3u);
  EXPECT_TRUE(std::isnan(snapshot.sum));
  EXPECT_EQ(metrics.render(),
            "# HELP h H.\n"
            "# TYPE h histogram\n"
            "h_bucket{le=\"1\"} 0\n"
            "h_bucket{le=\"2\"} 2\n"
            "h_bucket{le=\"+Inf\"} 3\n"
            "h_sum NaN\n"
            "h_count 3\n");
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  // Label values escape backslash, quote and newline; help text escapes backslash and newline.
  Metrics metrics;
  metrics.gauge("g", "line one\nback\\slash \"quoted\"", {{"path", "a\\b\"c\nd"}}).set(1);
  EXPECT_EQ(metrics.render(),
            "# HELP g line one\\nback\\\\slash \"quoted\"\n"
            "# TYPE g gauge\n"
            "g{path=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(MetricsTest, SortsFamiliesAndSeriesAndLabels) {
  // Families by name, series by label set; label order in the call does not make a new series.
  Metrics metrics;
  metrics.counter("zeta", "Z.", {{"b", "1"}, {"a", "2"}}).inc();
  metrics.counter("alpha", "A.", {{"k", "y"}}).inc();
  metrics.counter("alpha", "A.", {{"k", "x"}}).inc();
  Counter& same = metrics.counter("zeta", "Z.", {{"a", "2"}, {"b", "1"}});
  same.inc();
  EXPECT_EQ(&same, &metrics.counter("zeta", "Z.", {{"b", "1"}, {"a", "2"}}));
  EXPECT_EQ(metrics.render(),
            "# HELP alpha A.\n"
            "# TYPE alpha counter\n"
            "alpha{k=\"x\"} 1\n"
            "alpha{k=\"y\"} 1\n"
            "# HELP zeta Z.\n"
            "# TYPE zeta counter\n"
            "zeta{a=\"2\",b=\"1\"} 2\n");
}

TEST(MetricsTest, FormatsNumbersPrometheusCanParse) {
  // Special values by name, integers without exponent, fractions in shortest round-trip form.
  Metrics metrics;
  metrics.gauge("g", "G.", {{"v", "a"}}).set(std::numeric_limits<double>::infinity());
  metrics.gauge("g", "G.", {{"v", "b"}}).set(-std::numeric_limits<double>::infinity());
  metrics.gauge("g", "G.", {{"v", "c"}}).set(std::numeric_limits<double>::quiet_NaN());
  metrics.gauge("g", "G.", {{"v", "d"}}).set(1e15);
  metrics.gauge("g", "G.", {{"v", "e"}}).set(0.1);
  metrics.gauge("g", "G.", {{"v", "f"}}).set(-2.5);
  metrics.gauge("g", "G.", {{"v", "g"}}).set(1e-7);
  metrics.gauge("g", "G.", {{"v", "h"}}).set(1e300);
  metrics.gauge("g", "G.", {{"v", "i"}}).set(1.0 / 3);
  EXPECT_EQ(metrics.render(),
            "# HELP g G.\n"
            "# TYPE g gauge\n"
            "g{v=\"a\"} +Inf\n"
            "g{v=\"b\"} -Inf\n"
            "g{v=\"c\"} NaN\n"
            "g{v=\"d\"} 1000000000000000\n"
            "g{v=\"e\"} 0.1\n"
            "g{v=\"f\"} -2.5\n"
            "g{v=\"g\"} 1e-07\n"
            "g{v=\"h\"} 1e+300\n"
            "g{v=\"i\"} 0.3333333333333333\n");
  // Shortest round-trip: the text reads back to the same double.
  const std::string text = metrics.render();
  for (const auto& [label, value] : {std::pair{"e", 0.1}, std::pair{"i", 1.0 / 3}}) {
    const std::string prefix = "g{v=\"" + std::string(label) + "\"} ";
    const std::size_t at = text.find(prefix) + prefix.size();
    EXPECT_EQ(std::stod(text.substr(at, text.find('\n', at) - at)), value) << label;
  }
}

TEST(MetricsTest, LatencyBucketsRenderAsPlainDecimals) {
  // The default buckets, 100 µs to 10 s, appear as le="0.0001" … le="10" then +Inf.
  const std::vector<double> expected = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
  EXPECT_EQ(latency_buckets(), expected);
  Metrics metrics;
  metrics.histogram("lat", "L.");
  const std::string text = metrics.render();
  for (const char* le : {"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
                         "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"}) {
    EXPECT_NE(text.find("lat_bucket{le=\"" + std::string(le) + "\"} 0\n"), std::string::npos) << le;
  }
}

TEST(MetricsTest, ConcurrentUpdatesAreExact) {
  // Lock-free updates from several threads lose nothing.
  Metrics metrics;
  Counter& counter = metrics.counter("c_total", "C.");
  Gauge& gauge = metrics.gauge("g", "G.");
  Histogram& histogram = metrics.histogram("h", "H.", {}, {1});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        counter.inc();
        gauge.add(t % 2 == 0 ? 1 : -0.5);
        histogram.observe(i % 2 == 0 ? 0.5 : 1.5);
      }
    });
  }
  // Rendering concurrently with updates must be safe too.
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(metrics.render().empty());
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(counter.value(), kThreads * kPerThread);
  EXPECT_EQ(gauge.value(), 2 * kPerThread * 1.0 - 2 * kPerThread * 0.5);
  const Histogram::Snapshot snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.count, static_cast<std::uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(snapshot.buckets,
            (std::vector<std::uint64_t>{kThreads * kPerThread / 2, kThreads * kPerThread / 2}));
  EXPECT_EQ(snapshot.sum, kThreads * kPerThread * (0.5 + 1.5) / 2);  // exact in binary
}

TEST(MetricsTest, InvalidNamesThrow) {
  // Names outside Prometheus' grammar are programming errors.
  Metrics metrics;
  EXPECT_THROW(metrics.counter("", "x"), std::logic_error);
  EXPECT_THROW(metrics.counter("1abc", "x"), std::logic_error);
  EXPECT_THROW(metrics.counter("a-b", "x"), std::logic_error);
  EXPECT_THROW(metrics.gauge("a b", "x"), std::logic_error);
  EXPECT_THROW(metrics.counter("ok", "x", {{"bad-label", "v"}}), std::logic_error);
  EXPECT_THROW(metrics.counter("ok", "x", {{"a:b", "v"}}), std::logic_error);  // no ':' in labels
  EXPECT_THROW(metrics.counter("ok", "x", {{"__reserved", "v"}}), std::logic_error);
  EXPECT_THROW(metrics.counter("ok", "x", {{"a", "1"}, {"a", "2"}}), std::logic_error);
  EXPECT_THROW(metrics.histogram("hist", "x", {{"le", "1"}}), std::logic_error);
  EXPECT_THROW(metrics.histogram("hist", "x", {}, {2, 1}), std::logic_error);
  EXPECT_THROW(metrics.histogram("hist", "x", {}, {1, std::nan("")}), std::logic_error);
  // Valid names, including ':' in a metric name and a value with any characters.
  EXPECT_NO_THROW(metrics.counter("job:requests:rate5m", "x", {{"_a1", "any \"value\""}}));
  // Nothing half-created by the failures above.
  EXPECT_EQ(metrics.render().find("ok"), std::string::npos);
  EXPECT_EQ(metrics.render().find("hist"), std::string::npos);
}

TEST(MetricsTest, TypeMismatchThrows) {
  // A name keeps the type it was created with.
  Metrics metrics;
  metrics.counter("x", "X.");
  EXPECT_THROW(metrics.gauge("x", "X."), std::logic_error);
  EXPECT_THROW(metrics.histogram("x", "X."), std::logic_error);
  EXPECT_THROW(metrics.gauge_callback("x", "X.", {}, [] { return 1.0; }), std::logic_error);
  metrics.histogram("h", "H.", {}, {1, 2});
  EXPECT_THROW(metrics.counter("h", "H."), std::logic_error);
  EXPECT_THROW(metrics.histogram("h", "H.", {{"a", "b"}}, {1, 3}), std::logic_error);
  EXPECT_NO_THROW(metrics.histogram("h", "H.", {{"a", "b"}}, {1, 2}));
}

TEST(MetricsTest, CallbackGaugeIsReadAtRenderTime) {
  // The callback's current value appears in each scrape, beside ordinary gauge series.
  Metrics metrics;
  double depth = 3;
  metrics.gauge_callback("queue_depth", "Queued items.", {{"queue", "ingest"}},
                         [&depth] { return depth; });
  metrics.gauge("queue_depth", "Queued items.", {{"queue", "a"}}).set(7);
  const std::string expected_head =
      "# HELP queue_depth Queued items.\n"
      "# TYPE queue_depth gauge\n"
      "queue_depth{queue=\"a\"} 7\n";
  EXPECT_EQ(metrics.render(), expected_head + "queue_depth{queue=\"ingest\"} 3\n");
  depth = 42.5;
  EXPECT_EQ(metrics.render(), expected_head + "queue_depth{queue=\"ingest\"} 42.5\n");
  // A plain gauge cannot take over a callback's series, nor the reverse.
  EXPECT_THROW(metrics.gauge("queue_depth", "Q.", {{"queue", "ingest"}}), std::logic_error);
  EXPECT_THROW(metrics.gauge_callback("queue_depth", "Q.", {{"queue", "a"}}, [] { return 0.0; }),
               std::logic_error);
}

TEST(MetricsTest, CallbackMayUseTheRegistryAndMayThrow) {
  // Callbacks run outside the registry's lock, and one that throws reads NaN.
  Metrics metrics;
  metrics.gauge_callback("families", "F.", {}, [&metrics] {
    metrics.counter("touched_total", "T.").inc();
    return 1.0;
  });
  metrics.gauge_callback("broken", "B.", {},
                         []() -> double { throw std::runtime_error("unavailable"); });
  const std::string text = metrics.render();
  EXPECT_NE(text.find("families 1\n"), std::string::npos);
  EXPECT_NE(text.find("broken NaN\n"), std::string::npos);
  EXPECT_EQ(metrics.counter("touched_total", "T.").value(), 1);
}

TEST(MetricsTest, CounterIgnoresNegativeIncrements) {
  // A counter never decreases.
  Counter counter;
  counter.inc(2.5);
  counter.inc(-1);
  counter.inc(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(counter.value(), 2.5);
}

}  // namespace
}  // namespace tickgraph
