// A result table: rows by time, one column per graph output, NaN where a value does not exist.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/time.h"

namespace tickgraph::graph {

// One output column: size() values, contiguous (what std::span, the CSV and JSON writers and a
// NumPy view read). A pull's kernels write their outputs straight into the column's buffer, the
// warm-up bars before the asked range included; the column starts after those `lead` values, so
// dropping them copies nothing.
class Column {
 public:
  Column() = default;
  Column(std::size_t n, double fill);
  // A buffer of lead + n values, uninitialized: the caller writes every one through buffer().
  static Column with_lead(std::size_t lead, std::size_t n);

  Column(const Column& other);  // copies the visible values only
  Column& operator=(const Column& other);
  Column(Column&&) noexcept = default;
  Column& operator=(Column&&) noexcept = default;
  ~Column() = default;

  double* buffer() { return data_.get(); }  // the whole buffer, the lead values first
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const double* data() const { return data_.get() + lead_; }
  double* data() { return data_.get() + lead_; }
  const double* begin() const { return data(); }
  const double* end() const { return data() + size_; }
  double* begin() { return data(); }
  double* end() { return data() + size_; }
  const double& operator[](std::size_t i) const { return data()[i]; }
  double& operator[](std::size_t i) { return data()[i]; }
  const double& front() const { return data()[0]; }
  const double& back() const { return data()[size_ - 1]; }

 private:
  struct Free {
    void operator()(double* p) const;
  };
  static std::unique_ptr<double[], Free> allocate(std::size_t n);

  std::unique_ptr<double[], Free> data_;
  std::size_t lead_ = 0;
  std::size_t size_ = 0;
};

struct Table {
  std::vector<Timestamp> time;
  std::vector<std::string> columns;
  std::vector<Column> values;  // values[column][row]

  std::size_t rows() const { return time.size(); }
  int column(const std::string& name) const;  // -1 when absent
};

}  // namespace tickgraph::graph
