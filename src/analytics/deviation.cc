#include "analytics/kernel_util.h"

namespace tickgraph::analytics {

void add_deviation(std::vector<FunctionSpec>&) {}

}  // namespace tickgraph::analytics
