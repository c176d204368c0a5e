// The one way tickgraph prints a double as text (CSV cells, messages, listings): whole numbers in
// plain digits ("1009000000", "100000"), others in their shortest form that reads back to the
// same double ("2846.060059", "0.026793594930297315"). Never locale-dependent.
#pragma once

#include <string>

namespace tickgraph {

std::string format_number(double v);
// The same, appended to `out` without allocating a temporary (for writers of large tables).
void append_number(std::string& out, double v);

}  // namespace tickgraph
