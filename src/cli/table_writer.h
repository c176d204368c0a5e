// Writes a result table as CSV: `date,<column>…`, dates as ISO-8601 (date only for midnight),
// numbers in their shortest exact form (so equal doubles print equal text and text reads back to
// the same double), empty cells for NaN.
#pragma once

#include <ostream>

#include "graph/table.h"

namespace tickgraph::cli {

void write_csv(const graph::Table& table, std::ostream& out);

}  // namespace tickgraph::cli
