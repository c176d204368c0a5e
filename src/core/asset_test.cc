#include "core/asset.h"

#include <gtest/gtest.h>

namespace tickgraph {
namespace {

TEST(AssetRegistry, UpsertKeepsIdAndUpdatesFields) {
  // Checks a second upsert of a symbol updates it in place under the same id.
  AssetRegistry reg;
  auto id = reg.upsert({.symbol = "SPX", .name = "S&P 500", .asset_class = AssetClass::kIndex});
  ASSERT_TRUE(id.ok());
  auto id2 = reg.upsert({.symbol = "SPX", .name = "S&P 500 index", .currency = "USD"});
  ASSERT_TRUE(id2.ok());
  EXPECT_EQ(*id, *id2);
  ASSERT_NE(reg.find("SPX"), nullptr);
  EXPECT_EQ(reg.find("SPX")->name, "S&P 500 index");
  EXPECT_EQ(reg.find(*id)->symbol, "SPX");
  EXPECT_EQ(reg.size(), 1u);
}

TEST(AssetRegistry, FiltersBySymbolNameClassAndExchange) {
  // Checks listing with each filter field returns exactly the matching assets, by symbol.
  AssetRegistry reg;
  ASSERT_TRUE(reg.upsert({.symbol = "AAPL", .name = "Apple Inc.", .exchange = "XNAS"}).ok());
  ASSERT_TRUE(reg.upsert({.symbol = "SPY",
                          .name = "SPDR S&P 500 ETF",
                          .asset_class = AssetClass::kEtf,
                          .exchange = "ARCX"})
                  .ok());
  ASSERT_TRUE(
      reg.upsert({.symbol = "SPX", .name = "S&P 500 index", .asset_class = AssetClass::kIndex})
          .ok());
  auto symbols = [](const std::vector<const Asset*>& v) {
    std::vector<std::string> s;
    for (auto* a : v) s.push_back(a->symbol);
    return s;
  };
  EXPECT_EQ(symbols(reg.list()), (std::vector<std::string>{"AAPL", "SPX", "SPY"}));
  EXPECT_EQ(symbols(reg.list({.text = "s&p"})), (std::vector<std::string>{"SPX", "SPY"}));
  EXPECT_EQ(symbols(reg.list({.text = "apple"})), (std::vector<std::string>{"AAPL"}));
  EXPECT_EQ(symbols(reg.list({.asset_class = AssetClass::kEtf})),
            (std::vector<std::string>{"SPY"}));
  EXPECT_EQ(symbols(reg.list({.exchange = "XNAS"})), (std::vector<std::string>{"AAPL"}));
}

TEST(AssetRegistry, RejectsInvalidSymbols) {
  // Checks symbols that could not be used in a graph reference are refused with the reason.
  AssetRegistry reg;
  for (const char* bad : {"", "A B", "SPY:ret", "-X", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"}) {
    auto r = reg.upsert({.symbol = bad});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.message().find("invalid symbol"), std::string::npos);
  }
  EXPECT_TRUE(reg.upsert({.symbol = "^GSPC"}).ok());
  EXPECT_TRUE(reg.upsert({.symbol = "BTC-USD"}).ok());
  EXPECT_TRUE(parse_asset_class("ETF").ok());
  EXPECT_FALSE(parse_asset_class("stock").ok());
}

}  // namespace
}  // namespace tickgraph
