#include "graph/spec.h"

#include <gtest/gtest.h>

namespace tickgraph::graph {
namespace {

TEST(Spec, ParsesYamlNodesInOrderWithInputsAndParams) {
  // Checks the documented YAML shape: nodes in spec order, input/inputs, params as text, lines.
  auto spec = parse_spec(R"(name: demo
nodes:
  ret:  {fn: pct_change, input: close}
  vol:  {fn: volatility, input: ret, period: 20}
  bb:   {fn: bbands, input: close, period: 20, k: 2}
  beta: {fn: beta, inputs: [ret, "SPY:ret"], period: 60}
)",
                         "demo.yaml");
  ASSERT_TRUE(spec.ok()) << spec.message();
  EXPECT_EQ(spec->name, "demo");
  ASSERT_EQ(spec->nodes.size(), 4u);
  EXPECT_EQ(spec->nodes[0].id, "ret");
  EXPECT_EQ(spec->nodes[0].line, 3);
  EXPECT_EQ(spec->nodes[2].fn, "bbands");
  ASSERT_EQ(spec->nodes[2].params.size(), 2u);
  EXPECT_EQ(spec->nodes[2].params[1].name, "k");
  EXPECT_EQ(spec->nodes[2].params[1].text, "2");
  EXPECT_EQ(spec->nodes[3].inputs, (std::vector<std::string>{"ret", "SPY:ret"}));
}

TEST(Spec, JsonGivesTheSameSpecAsYaml) {
  // Checks JSON with the same structure parses to the same nodes as its YAML twin.
  auto yaml = parse_spec("nodes:\n  m: {fn: macd, input: close, fast: 5, slow: 9}\n", "a.yaml");
  auto json = parse_spec(
      R"({"nodes": {"m": {"fn": "macd", "input": "close", "fast": 5, "slow": 9}}})", "a.json");
  ASSERT_TRUE(yaml.ok() && json.ok()) << yaml.message() << json.message();
  ASSERT_EQ(json->nodes.size(), 1u);
  EXPECT_EQ(json->nodes[0].fn, yaml->nodes[0].fn);
  EXPECT_EQ(json->nodes[0].inputs, yaml->nodes[0].inputs);
  ASSERT_EQ(json->nodes[0].params.size(), 2u);
  EXPECT_EQ(json->nodes[0].params[1].text, "9");
}

TEST(Spec, ShapeErrorsNameSourceLineAndNode) {
  // Checks each malformed shape is refused with the file, the line and what is wrong.
  struct Case {
    const char* text;
    const char* expected;
  };
  const Case cases[] = {
      {"nodes: [1, 2]\n", "s.yaml:1: 'nodes' must be a map"},
      {"nodez:\n  a: {fn: sma}\n", "s.yaml:1: unknown key 'nodez'"},
      {"name: x\n", "s.yaml: missing 'nodes'"},
      {"nodes:\n  a: {input: close}\n", "s.yaml:2: node 'a': missing 'fn'"},
      {"nodes:\n  a: {fn: sma, input: close, inputs: [close]}\n",
       "node 'a': give either 'input' or 'inputs'"},
      {"nodes:\n  a: {fn: sma, input: close, period: [1, 2]}\n",
       "node 'a': parameter 'period' must be a single value"},
      {"nodes:\n  a: {fn: sma, input: close}\n  a: {fn: ema, input: close}\n",
       "node 'a': defined twice"},
      {"nodes:\n  a: sma\n", "s.yaml:2: node 'a': expected a map"},
      {"nodes: {a: {fn: sma, input: close}\n", "s.yaml:"},  // unbalanced: a YAML syntax error
      {"[]", "s.yaml: expected a map with a 'nodes' key"},
      {"nodes:\n  a: {fn: sma, input: close, [x]: 1}\n",
       "s.yaml:2: node 'a': keys must be plain names"},
      {"[a]: 1\n", "s.yaml:1: keys must be plain names"},
  };
  for (const Case& c : cases) {
    auto r = parse_spec(c.text, "s.yaml");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.code(), StatusCode::kInvalidArgument) << c.text;
    // A problem inside a node names the node in the details too.
    if (std::string_view(c.expected).find("node 'a'") != std::string_view::npos) {
      EXPECT_EQ(r.status().detail("node"), "a") << c.text;
    }
    EXPECT_NE(r.message().find(c.expected), std::string::npos) << c.text << " -> " << r.message();
  }
}

TEST(Spec, YamlRoundTrip) {
  // Checks a spec written back as YAML parses to the same nodes.
  auto spec = parse_spec(
      "nodes:\n  bb: {fn: bbands, input: close, period: 20, k: 2.5}\n"
      "  c: {fn: correlation, inputs: [close, 'SPY:close']}\n",
      "x");
  ASSERT_TRUE(spec.ok());
  auto again = parse_spec(to_yaml(*spec), "y");
  ASSERT_TRUE(again.ok()) << again.message();
  ASSERT_EQ(again->nodes.size(), 2u);
  EXPECT_EQ(again->nodes[0].params[1].text, "2.5");
  EXPECT_EQ(again->nodes[1].inputs, spec->nodes[1].inputs);
}

}  // namespace
}  // namespace tickgraph::graph
