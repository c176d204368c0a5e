#include "analytics/kernel_util.h"

namespace tickgraph::analytics {

void add_momentum(std::vector<FunctionSpec>&) {}

}  // namespace tickgraph::analytics
