#include "core/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>
#include <system_error>

namespace tickgraph {
namespace {

constexpr int kCounter = 0;
constexpr int kGauge = 1;
constexpr int kHistogram = 2;

const char* type_name(int type) {
  switch (type) {
    case kCounter:
      return "counter";
    case kGauge:
      return "gauge";
    default:
      return "histogram";
  }
}

bool is_name_start(char c, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}

bool is_name_char(char c, bool colon) { return is_name_start(c, colon) || (c >= '0' && c <= '9'); }

// Metric names may contain ':' (reserved for recording rules, but legal); label names may not.
bool valid_name(std::string_view name, bool colon) {
  if (name.empty() || !is_name_start(name.front(), colon)) return false;
  return std::all_of(name.begin() + 1, name.end(),
                     [colon](char c) { return is_name_char(c, colon); });
}

void check_metric_name(std::string_view name) {
  if (!valid_name(name, true)) {
    throw std::logic_error("invalid metric name '" + std::string(name) + "'");
  }
}

// Labels in name order, so that the same set given in another order is the same series.
// Names starting with "__" are reserved by Prometheus; histograms own "le".
Labels normalized_labels(std::string_view metric, const Labels& labels, int type) {
  Labels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const std::string& name = sorted[i].first;
    const bool reserved = name.starts_with("__") || (type == kHistogram && name == "le");
    if (!valid_name(name, false) || reserved) {
      throw std::logic_error("invalid label name '" + name + "' for metric '" +
                             std::string(metric) + "'");
    }
    if (i > 0 && sorted[i - 1].first == name) {
      throw std::logic_error("duplicate label '" + name + "' for metric '" + std::string(metric) +
                             "'");
    }
  }
  return sorted;
}

// Prometheus reads sample values with Go's ParseFloat: "+Inf", "-Inf", "NaN" and decimal or
// exponent notation. Values print in the shortest form that reads back to the same double, in
// plain decimals for moderate magnitudes, so integers (counts) never take an exponent while they
// are exact (below 2^53 < 1e21), and bounds read le="0.0001", not le="1e-04", as in Prometheus'
// own clients.
std::string format_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  const double magnitude = std::fabs(v);
  const bool plain = magnitude == 0 || (magnitude >= 1e-4 && magnitude < 1e21);
  char buffer[64];
  const auto result =
      std::to_chars(buffer, buffer + sizeof(buffer), v,
                    plain ? std::chars_format::fixed : std::chars_format::scientific);
  return std::string(buffer, result.ec == std::errc() ? result.ptr : buffer);
}

void append_escaped(std::string& out, std::string_view text, bool quote) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// `a="x",b="y"` (no braces), label values escaped.
std::string render_labels(const Labels& labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    if (!out.empty()) out += ',';
    out += name;
    out += "=\"";
    append_escaped(out, value, true);
    out += '"';
  }
  return out;
}

void append_sample(std::string& out, std::string_view name, std::string_view labels, double v) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  out += format_number(v);
  out += '\n';
}

}  // namespace

void Counter::inc(double v) {
  // A counter never goes down; a negative or NaN increment is a caller's bug, dropped here
  // rather than thrown from a hot path.
  if (!(v >= 0)) return;
  value_.fetch_add(v, std::memory_order_relaxed);
}

void Gauge::add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  // +Inf is implicit; accept it written out.
  if (!bounds_.empty() && bounds_.back() == std::numeric_limits<double>::infinity()) {
    bounds_.pop_back();
  }
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (std::isnan(bounds_[i]) || std::isinf(bounds_[i]) ||
        (i > 0 && !(bounds_[i - 1] < bounds_[i]))) {
      throw std::logic_error("histogram bounds must be finite and strictly ascending");
    }
  }
  counts_ = std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1);
}

void Histogram::observe(double v) {
  // The first bucket whose bound is >= v (bounds are inclusive upper limits); NaN goes to +Inf,
  // as in Prometheus' Go client.
  std::size_t bucket = bounds_.size();
  if (!std::isnan(v)) {
    bucket = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                      bounds_.begin());
  }
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snapshot;
  snapshot.buckets.reserve(bounds_.size() + 1);
  // The count is the buckets' total, so that _count always equals the +Inf bucket even while
  // other threads observe (a separate atomic count could be read at another moment).
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    snapshot.buckets.push_back(counts_[i].load(std::memory_order_relaxed));
    snapshot.count += snapshot.buckets.back();
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

std::vector<double> latency_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

struct Metrics::Family {
  // One label set's value. Exactly one of the members is set, matching the family's type (a
  // gauge is either `gauge` or `read`).
  struct Series {
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> read;
  };

  std::string name;
  std::string help;
  int type = kCounter;
  std::vector<double> bounds;  // histograms: every series has these
  std::map<Labels, Series> series;
};

Metrics::Metrics() = default;
Metrics::~Metrics() = default;

Metrics::Family& Metrics::family(std::string_view name, std::string_view help, int type) {
  check_metric_name(name);
  const auto it = std::lower_bound(
      families_.begin(), families_.end(), name,
      [](const std::unique_ptr<Family>& f, std::string_view key) { return f->name < key; });
  if (it != families_.end() && (*it)->name == name) {
    if ((*it)->type != type) {
      throw std::logic_error("metric '" + std::string(name) + "' is a " + type_name((*it)->type) +
                             ", not a " + type_name(type));
    }
    return **it;
  }
  auto created = std::make_unique<Family>();
  created->name = std::string(name);
  created->help = std::string(help);
  created->type = type;
  return **families_.insert(it, std::move(created));
}

Counter& Metrics::counter(std::string_view name, std::string_view help, const Labels& labels) {
  const std::lock_guard lock(mutex_);
  Labels key = normalized_labels(name, labels, kCounter);
  auto& series = family(name, help, kCounter).series[std::move(key)];
  if (!series.counter) series.counter = std::make_unique<Counter>();
  return *series.counter;
}

Gauge& Metrics::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  const std::lock_guard lock(mutex_);
  Labels key = normalized_labels(name, labels, kGauge);
  auto& series = family(name, help, kGauge).series[std::move(key)];
  if (series.read) {
    throw std::logic_error("gauge '" + std::string(name) + "' has a callback for these labels");
  }
  if (!series.gauge) series.gauge = std::make_unique<Gauge>();
  return *series.gauge;
}

Histogram& Metrics::histogram(std::string_view name, std::string_view help, const Labels& labels,
                              std::vector<double> bounds) {
  const std::lock_guard lock(mutex_);
  Labels key = normalized_labels(name, labels, kHistogram);
  auto created = std::make_unique<Histogram>(std::move(bounds));  // validates the bounds
  const bool new_family = std::none_of(families_.begin(), families_.end(),
                                       [&](const auto& f) { return f->name == name; });
  Family& f = family(name, help, kHistogram);
  if (new_family) f.bounds = created->bounds();
  // Series of one family with different buckets could not be aggregated.
  if (created->bounds() != f.bounds) {
    throw std::logic_error("histogram '" + std::string(name) + "' was created with other bounds");
  }
  auto& series = f.series[std::move(key)];
  if (!series.histogram) series.histogram = std::move(created);
  return *series.histogram;
}

void Metrics::gauge_callback(std::string_view name, std::string_view help, const Labels& labels,
                             std::function<double()> read) {
  const std::lock_guard lock(mutex_);
  Labels key = normalized_labels(name, labels, kGauge);
  auto& series = family(name, help, kGauge).series[std::move(key)];
  if (series.gauge) {
    throw std::logic_error("gauge '" + std::string(name) + "' is already set for these labels");
  }
  // Registering again replaces the callback: a component that is rebuilt re-registers.
  series.read = std::move(read);
}

std::string Metrics::render() const {
  // Values are copied under the lock; callbacks run after it is released, so that a callback
  // may take its owner's locks (or even use this registry) without deadlocking the scrape.
  struct Row {
    std::string labels;
    double value = 0;
    std::function<double()> read;
    Histogram::Snapshot histogram;
  };
  struct Block {
    std::string name;
    std::string help;
    int type = kCounter;
    std::vector<double> bounds;
    std::vector<Row> rows;
  };
  std::vector<Block> blocks;
  {
    const std::lock_guard lock(mutex_);
    blocks.reserve(families_.size());
    for (const auto& f : families_) {
      Block block{f->name, f->help, f->type, f->bounds, {}};
      for (const auto& [labels, series] : f->series) {
        Row row;
        row.labels = render_labels(labels);
        if (series.counter) row.value = series.counter->value();
        if (series.gauge) row.value = series.gauge->value();
        if (series.histogram) row.histogram = series.histogram->snapshot();
        row.read = series.read;
        block.rows.push_back(std::move(row));
      }
      blocks.push_back(std::move(block));
    }
  }

  std::string out;
  for (Block& block : blocks) {
    out += "# HELP ";
    out += block.name;
    out += ' ';
    append_escaped(out, block.help, false);
    out += "\n# TYPE ";
    out += block.name;
    out += ' ';
    out += type_name(block.type);
    out += '\n';
    for (Row& row : block.rows) {
      if (block.type != kHistogram) {
        if (row.read) {
          // A failing callback must not fail the whole scrape: the series reads NaN.
          try {
            row.value = row.read();
          } catch (...) {
            row.value = std::numeric_limits<double>::quiet_NaN();
          }
        }
        append_sample(out, block.name, row.labels, row.value);
        continue;
      }
      const std::string bucket_name = block.name + "_bucket";
      const std::string separator = row.labels.empty() ? "" : ",";
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < row.histogram.buckets.size(); ++i) {
        cumulative += row.histogram.buckets[i];
        const std::string le = i < block.bounds.size() ? format_number(block.bounds[i]) : "+Inf";
        append_sample(out, bucket_name, row.labels + separator + "le=\"" + le + "\"",
                      static_cast<double>(cumulative));
      }
      append_sample(out, block.name + "_sum", row.labels, row.histogram.sum);
      append_sample(out, block.name + "_count", row.labels,
                    static_cast<double>(row.histogram.count));
    }
  }
  return out;
}

}  // namespace tickgraph
