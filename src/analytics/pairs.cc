#include "analytics/kernel_util.h"

namespace tickgraph::analytics {

void add_pairs(std::vector<FunctionSpec>&) {}

}  // namespace tickgraph::analytics
