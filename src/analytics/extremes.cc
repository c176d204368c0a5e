#include "analytics/kernel_util.h"

namespace tickgraph::analytics {

void add_extremes(std::vector<FunctionSpec>&) {}

}  // namespace tickgraph::analytics
