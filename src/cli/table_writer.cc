#include "cli/table_writer.h"

#include <cmath>

#include "core/number_format.h"
#include "core/time.h"

namespace tickgraph::cli {

void write_csv(const graph::Table& table, std::ostream& out) {
  out << "date";
  for (const auto& c : table.columns) out << ',' << c;
  out << '\n';
  bool intraday = false;
  for (Timestamp t : table.time) intraday = intraday || t % kDay != 0;
  std::string cell;
  for (std::size_t r = 0; r < table.rows(); ++r) {
    out << format_timestamp(table.time[r], !intraday);
    for (const auto& col : table.values) {
      out << ',';
      if (!std::isnan(col[r])) {
        cell.clear();
        append_number(cell, col[r]);
        out << cell;
      }
    }
    out << '\n';
  }
}

}  // namespace tickgraph::cli
