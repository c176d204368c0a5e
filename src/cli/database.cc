#include "cli/database.h"

#include <cstdlib>
#include <filesystem>

#include "core/log.h"
#include "ingest/csv_reader.h"

namespace tickgraph::cli {

std::string find_demo_csv() {
  if (const char* env = std::getenv("TICKGRAPH_DEMO_CSV"); env && *env) return env;
  const std::filesystem::path p = std::filesystem::path(TICKGRAPH_SOURCE_DIR) /
                                  "scripts/deps/node_modules/vega-datasets/data/sp500-2000.csv";
  return std::filesystem::exists(p) ? p.string() : std::string();
}

Status import_demo_data(store::Store& store) {
  const std::string path = find_demo_csv();
  if (path.empty()) {
    return Status::failed_precondition(
        "demo data not found (run scripts/bootstrap.sh, or set TICKGRAPH_DEMO_CSV to "
        "vega-datasets' data/sp500-2000.csv)");
  }
  auto bars = ingest::read_yahoo_csv_file(path);
  if (!bars) return bars.status();
  Asset spx{.symbol = "SPX",
            .name = "S&P 500 index",
            .asset_class = AssetClass::kIndex,
            .currency = "USD",
            .exchange = "",
            .attributes = {{"source", "vega-datasets sp500-2000.csv"}}};
  auto asset = store.upsert_asset(spx);
  if (!asset) return asset.status();
  std::vector<Candle> rows;
  rows.reserve(bars->size());
  for (std::size_t i = 0; i < bars->size(); ++i) rows.push_back(bars->at(i));
  auto written = store.write_candles(asset->id, Interval::k1d, rows);
  return written ? Status() : written.status();
}

Result<std::unique_ptr<store::Store>> open_database(const std::string& url) {
  const bool is_default = url.empty();
  const std::string target = is_default ? store::default_database_url() : url;
  if (is_default && target.rfind("sqlite:", 0) == 0) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(target.substr(7)).parent_path(), ec);
  }
  auto db = store::open_store(target);
  if (!db || !is_default) return db;
  auto assets = (*db)->list_assets();
  if (!assets) return assets.status();
  if (assets->empty()) {
    log::info("first use of " + target + ": importing the demo data (SPX)", {{"db", target}});
    if (Status s = import_demo_data(**db); !s.ok()) {
      log::warn("demo data not imported: " + s.message(), {{"db", target}});
    }
  }
  return db;
}

}  // namespace tickgraph::cli
