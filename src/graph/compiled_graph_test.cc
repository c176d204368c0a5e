#include "graph/compiled_graph.h"

#include <gtest/gtest.h>

namespace tickgraph::graph {
namespace {

Result<std::shared_ptr<const CompiledGraph>> compile_text(const std::string& text,
                                                          const CompileOptions& options = {}) {
  auto spec = parse_spec(text, "g.yaml");
  EXPECT_TRUE(spec.ok()) << spec.message();
  if (!spec) return spec.status();
  return compile(*spec, options);
}

TEST(Compile, OrdersNodesAfterTheirInputsAndNamesOutputs) {
  // Checks topological order (inputs first, spec order otherwise) and output column names.
  auto g = compile_text(R"(nodes:
  vol: {fn: volatility, input: ret, period: 20}
  bb:  {fn: bbands, input: close}
  ret: {fn: pct_change, input: close}
  z:   {fn: zscore, input: bb.upper, period: 5}
)");
  ASSERT_TRUE(g.ok()) << g.message();
  std::vector<std::string> order;
  for (const auto& n : (*g)->nodes()) order.push_back(n.id);
  EXPECT_EQ(order, (std::vector<std::string>{"bb", "ret", "vol", "z"}));
  std::vector<std::string> cols;
  for (const auto& c : (*g)->outputs()) cols.push_back(c.name);
  EXPECT_EQ(cols,
            (std::vector<std::string>{"vol", "bb.upper", "bb.middle", "bb.lower", "ret", "z"}));
}

TEST(Compile, TotalLookbackAddsAlongTheLongestChain) {
  // Checks lookback of a chain is the sum of its links and the graph takes the longest chain.
  auto g = compile_text(R"(nodes:
  ret: {fn: pct_change, input: close}
  vol: {fn: volatility, input: ret, period: 20}
  s:   {fn: sma, input: close, period: 10}
)");
  ASSERT_TRUE(g.ok()) << g.message();
  const auto& nodes = (*g)->nodes();
  EXPECT_EQ(nodes[static_cast<std::size_t>((*g)->find("vol"))].total_lookback.bars, 1 + 19);
  EXPECT_EQ((*g)->lookback().bars, 20);
}

TEST(Compile, MultiFieldFunctionsReadBarFieldsByDefault) {
  // Checks atr with no inputs reads high, low, close, and explicit inputs override them.
  auto g = compile_text("nodes:\n  a: {fn: atr}\n  b: {fn: atr, inputs: [open, low, close]}\n");
  ASSERT_TRUE(g.ok()) << g.message();
  const auto& a = (*g)->nodes()[0];
  ASSERT_EQ(a.inputs.size(), 3u);
  EXPECT_EQ(a.inputs[0].field, Field::kHigh);
  EXPECT_EQ(a.inputs[2].field, Field::kClose);
  EXPECT_EQ((*g)->nodes()[1].inputs[0].field, Field::kOpen);
}

TEST(Compile, CrossAssetReferencesAreCollected) {
  // Checks SYMBOL:name inputs resolve and the graph lists the other assets it reads.
  auto g = compile_text(R"(nodes:
  ret:  {fn: pct_change, input: close}
  beta: {fn: beta, inputs: [ret, "SPY:ret"], period: 60}
  c:    {fn: correlation, inputs: ["QQQ:close", "SPY:close"]}
)");
  ASSERT_TRUE(g.ok()) << g.message();
  EXPECT_EQ((*g)->referenced_symbols(), (std::vector<std::string>{"QQQ", "SPY"}));
  const auto& beta = (*g)->nodes()[static_cast<std::size_t>((*g)->find("beta"))];
  EXPECT_EQ(beta.inputs[1].symbol, "SPY");
  EXPECT_EQ(beta.inputs[1].node, (*g)->find("ret"));
}

TEST(Compile, EveryValidationErrorNamesTheNodeAndTheProblem) {
  // Checks each kind of invalid spec is refused with the line, the node and the problem.
  struct Case {
    std::string text;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"nodes:\n  a: {fn: smaa, input: close}\n",
       "g.yaml:2: node 'a': unknown function 'smaa' (did you mean 'sma'?)"},
      {"nodes:\n  a: {fn: sma, input: clsoe}\n", "node 'a': unknown input 'clsoe'"},
      {"nodes:\n  a: {fn: sma, input: close, period: 0}\n",
       "node 'a': parameter 'period' = 0 is out of range"},
      {"nodes:\n  a: {fn: sma, input: close, span: 3}\n", "node 'a': unknown parameter 'span'"},
      {"nodes:\n  m: {fn: macd, input: close, fast: 30, slow: 26}\n", "node 'm': "},
      {"nodes:\n  a: {fn: sma, input: b}\n  b: {fn: ema, input: c}\n  c: {fn: sma, input: a}\n",
       "cycle: a -> b -> c -> a"},
      {"nodes:\n  a: {fn: sma, input: a}\n", "node 'a': cycle: a -> a"},
      {"nodes:\n  a: {fn: add, inputs: [close, 'SPY:a']}\n", "node 'a': cycle: a -> a"},
      {"nodes:\n  bb: {fn: bbands, input: close}\n  s: {fn: sma, input: bb}\n",
       "node 's': input 'bb' has several outputs; name one of bb.upper, bb.middle, bb.lower"},
      {"nodes:\n  bb: {fn: bbands, input: close}\n  s: {fn: sma, input: bb.top}\n",
       "node 's': input 'bb.top': node 'bb' has no output 'top'"},
      {"nodes:\n  s: {fn: sma}\n", "node 's': sma takes 1 input (input), got 0"},
      {"nodes:\n  s: {fn: correlation, input: close}\n", "node 's': correlation takes 2 inputs"},
      {"nodes:\n  close: {fn: sma, input: open}\n", "node 'close': 'close' is a bar field"},
      {"nodes:\n  a.b: {fn: sma, input: open}\n", "node 'a.b': invalid node id"},
      {"nodes:\n  s: {fn: sma, input: 'S P:close'}\n", "invalid asset symbol 'S P'"},
  };
  for (const Case& c : cases) {
    auto g = compile_text(c.text);
    ASSERT_FALSE(g.ok()) << c.text;
    EXPECT_EQ(g.code(), StatusCode::kInvalidArgument) << c.text;
    EXPECT_NE(g.message().find(c.expected), std::string::npos) << c.text << "\n-> " << g.message();
  }
}

TEST(Compile, ErrorsNameTheirNodeParameterAndInputInTheDetails) {
  // The first problem's node, and the parameter or input it concerns, are details of the
  // error (a form shows the message next to that field), not only words of the message.
  auto param = compile_text("nodes:\n  s: {fn: sma, input: close, period: 0}\n");
  ASSERT_FALSE(param.ok());
  EXPECT_EQ(param.status().detail("node"), "s");
  EXPECT_EQ(param.status().detail("parameter"), "period");
  EXPECT_EQ(param.status().detail("input"), "");

  auto macd = compile_text("nodes:\n  m: {fn: macd, input: close, fast: 30, slow: 26}\n");
  ASSERT_FALSE(macd.ok());
  EXPECT_EQ(macd.status().detail("node"), "m");
  EXPECT_EQ(macd.status().detail("parameter"), "fast");

  auto input = compile_text("nodes:\n  a: {fn: sma, input: close}\n  b: {fn: sma, input: zzz}\n");
  ASSERT_FALSE(input.ok());
  EXPECT_EQ(input.status().detail("node"), "b");
  EXPECT_EQ(input.status().detail("input"), "zzz");
  EXPECT_EQ(input.status().detail("parameter"), "");

  auto unknown = compile_text("nodes:\n  a: {fn: smaa, input: close}\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().detail("node"), "a");
}

TEST(Compile, UnknownAssetIsReportedWhenAssetsAreKnown) {
  // Checks a reference to an asset the caller does not have is refused, naming it.
  CompileOptions options;
  options.asset_exists = [](std::string_view s) { return s == "SPY"; };
  auto ok = compile_text("nodes:\n  c: {fn: correlation, inputs: [close, 'SPY:close']}\n", options);
  EXPECT_TRUE(ok.ok()) << ok.message();
  auto bad =
      compile_text("nodes:\n  c: {fn: correlation, inputs: [close, 'QQQ:close']}\n", options);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("node 'c': input 'QQQ:close': unknown asset 'QQQ'"),
            std::string::npos)
      << bad.message();
}

TEST(Compile, ReportsAllProblemsAtOnce) {
  // Checks several independent errors are all listed, one per line.
  auto g = compile_text("nodes:\n  a: {fn: nope, input: close}\n  b: {fn: sma, input: zzz}\n");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.message().find("node 'a'"), std::string::npos);
  EXPECT_NE(g.message().find("node 'b'"), std::string::npos);
  EXPECT_NE(g.message().find('\n'), std::string::npos);
}

TEST(Compile, RepeatedNodeIdIsRefused) {
  // Checks a spec built without the YAML parser (as the JSON API does) cannot repeat an id: the
  // second definition is refused, naming the first.
  auto spec = parse_spec("nodes:\n  a: {fn: sma, input: close, period: 5}\n", "g.yaml");
  ASSERT_TRUE(spec.ok()) << spec.message();
  spec->nodes.push_back(spec->nodes.front());
  spec->nodes.back().fn = "ema";
  auto g = compile(*spec, {});
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.message().find("node 'a': defined twice (first as node 1)"), std::string::npos)
      << g.message();
}

}  // namespace
}  // namespace tickgraph::graph
