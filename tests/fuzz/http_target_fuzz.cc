// The request-target and query-string parsing of the server (server/router.h parse_target and
// split_list), on arbitrary bytes as the request line may carry them. Checks, besides no crash,
// UB or leak:
//   - a parsed target has an absolute path, and re-encoding its path and query (every byte
//     percent-encoded except unreserved ones) parses back to the same path and query;
//   - split_list gives exactly the non-empty comma-free pieces of its input, in order.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "server/router.h"

namespace {

std::string encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '-' ||
        u == '.' || u == '_' || u == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

void check_split_list(std::string_view text) {
  const std::vector<std::string> items = tickgraph::server::split_list(text);
  std::vector<std::string> expected;
  std::string current;
  for (const char c : text) {
    if (c == ',') {
      if (!current.empty()) expected.push_back(current);
      current.clear();
    } else {
      current.push_back(c);
    }
  }
  if (!current.empty()) expected.push_back(current);
  FUZZ_CHECK(items == expected, "split_list gives the non-empty comma-free pieces");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = tickgraph::fuzz::as_text(data, size);
  check_split_list(text);

  const auto parsed = tickgraph::server::parse_target(text);
  if (!parsed) return 0;
  FUZZ_CHECK(!parsed->path.empty() && parsed->path.front() == '/', "an absolute path");
  for (const auto& [key, value] : parsed->query) check_split_list(value);

  // The path's '/' separators stay as they are; every other byte is escaped.
  std::string target;
  std::string_view path = parsed->path;
  while (!path.empty()) {
    const std::size_t slash = path.find('/');
    if (slash == 0) {
      target.push_back('/');
      path.remove_prefix(1);
      continue;
    }
    target += encode(path.substr(0, slash));
    path.remove_prefix(slash == std::string_view::npos ? path.size() : slash);
  }
  for (std::size_t i = 0; i < parsed->query.size(); ++i) {
    target += i == 0 ? "?" : "&";
    target += encode(parsed->query[i].first) + "=" + encode(parsed->query[i].second);
  }
  const auto again = tickgraph::server::parse_target(target);
  FUZZ_CHECK(again.has_value(), "a re-encoded target parses");
  FUZZ_CHECK(again->path == parsed->path, "the path round-trips");
  // A pair with an empty key and value ("&=&") is kept as ("", ""); so is its re-encoding.
  FUZZ_CHECK(again->query == parsed->query, "the query round-trips");
  return 0;
}
