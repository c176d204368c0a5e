#include "analytics/kernel_util.h"

namespace tickgraph::analytics {

void add_arithmetic(std::vector<FunctionSpec>&) {}

}  // namespace tickgraph::analytics
