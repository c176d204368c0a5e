// How both backends store a credential's scopes: in one text column, space-separated (as in an
// OAuth2 scope parameter), in the order given. checks::credential() refuses scopes that are empty
// or contain a space, so that splitting gives them back. Internal to src/store.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tickgraph::store::detail {

inline std::string join_scopes(const std::vector<std::string>& scopes) {
  std::string out;
  for (const std::string& scope : scopes) {
    if (!out.empty()) out += ' ';
    out += scope;
  }
  return out;
}

inline std::vector<std::string> split_scopes(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const std::size_t space = text.find(' ');
    out.emplace_back(text.substr(0, space));
    text = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
  }
  return out;
}

}  // namespace tickgraph::store::detail
