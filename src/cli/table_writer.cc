#include "cli/table_writer.h"

#include <charconv>
#include <cmath>

#include "core/time.h"

namespace tickgraph::cli {

void write_csv(const graph::Table& table, std::ostream& out) {
  out << "date";
  for (const auto& c : table.columns) out << ',' << c;
  out << '\n';
  bool intraday = false;
  for (Timestamp t : table.time) intraday = intraday || t % kDay != 0;
  char buf[64];
  for (std::size_t r = 0; r < table.rows(); ++r) {
    out << format_timestamp(table.time[r], !intraday);
    for (const auto& col : table.values) {
      out << ',';
      if (!std::isnan(col[r])) {
        auto [p, ec] = std::to_chars(buf, buf + sizeof buf, col[r]);
        out.write(buf, p - buf);
      }
    }
    out << '\n';
  }
}

}  // namespace tickgraph::cli
