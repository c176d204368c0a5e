// A result table: rows by time, one column per graph output, NaN where a value does not exist.
#pragma once

#include <string>
#include <vector>

#include "core/time.h"

namespace tickgraph::graph {

struct Table {
  std::vector<Timestamp> time;
  std::vector<std::string> columns;
  std::vector<std::vector<double>> values;  // values[column][row]

  std::size_t rows() const { return time.size(); }
  int column(const std::string& name) const;  // -1 when absent
};

}  // namespace tickgraph::graph
