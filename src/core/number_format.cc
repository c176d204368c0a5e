#include "core/number_format.h"

#include <charconv>
#include <cmath>

namespace tickgraph {

void append_number(std::string& out, double v) {
  char buf[64];
  const bool whole = std::isfinite(v) && v == std::floor(v) && std::abs(v) < 1e15;
  auto [p, ec] = whole ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
                       : std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, p);
}

std::string format_number(double v) {
  std::string out;
  append_number(out, v);
  return out;
}

}  // namespace tickgraph
