#include "analytics/kernel_util.h"

namespace tickgraph::analytics {

void add_range(std::vector<FunctionSpec>&) {}

}  // namespace tickgraph::analytics
