// Opening the store from the CLI's --db option, and the demo data set.
#pragma once

#include <memory>
#include <string>

#include "core/result.h"
#include "store/store.h"

namespace tickgraph::cli {

// Opens `url` (sqlite:PATH or postgresql://…; empty = the default SQLite file). When the default
// database is opened and holds no assets yet, the demo data set is imported into it first (asset
// SPX, "S&P 500 index"), with a line on stderr saying so.
Result<std::unique_ptr<store::Store>> open_database(const std::string& url);

// The demo data: S&P 500 daily bars since 2000 (data/sp500-2000.csv of the npm package
// vega-datasets, installed by scripts/bootstrap.sh). Looked up in $TICKGRAPH_DEMO_CSV, then next to
// the source tree this binary was built from. Empty when absent.
std::string find_demo_csv();

// Imports the demo CSV as SPX into `store` (idempotent).
Status import_demo_data(store::Store& store);

}  // namespace tickgraph::cli
