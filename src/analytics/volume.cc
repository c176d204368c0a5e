#include "analytics/kernel_util.h"

namespace tickgraph::analytics {

void add_volume(std::vector<FunctionSpec>&) {}

}  // namespace tickgraph::analytics
