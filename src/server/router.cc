#include "server/router.h"

#include <algorithm>

namespace tickgraph::server {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `in`; '+' is a space in queries only. nullopt on a bad escape.
std::optional<std::string> decode(std::string_view in, bool query) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && query) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t start = 1;  // skip the leading '/'
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

bool is_capture(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// Number of literal segments when `pattern` matches `parts`, or -1.
int match_pattern(std::string_view pattern, const std::vector<std::string_view>& parts,
                  std::map<std::string, std::string, std::less<>>* params) {
  const auto segments = split_path(pattern);
  if (segments.size() != parts.size()) return -1;
  int literals = 0;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (is_capture(segments[i])) {
      if (parts[i].empty()) return -1;
      if (params != nullptr) {
        (*params)[std::string(segments[i].substr(1, segments[i].size() - 2))] =
            std::string(parts[i]);
      }
    } else if (segments[i] == parts[i]) {
      ++literals;
    } else {
      return -1;
    }
  }
  return literals;
}

}  // namespace

std::optional<std::string_view> HttpRequest::query_param(std::string_view name) const {
  for (const auto& [key, value] : query) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

std::string_view HttpRequest::header(std::string_view name) const {
  const auto it = headers.find(std::string(name));
  return it == headers.end() ? std::string_view() : std::string_view(it->second);
}

std::string_view HttpRequest::path_param(std::string_view name) const {
  const auto it = path_params.find(name);
  return it == path_params.end() ? std::string_view() : std::string_view(it->second);
}

std::optional<ParsedTarget> parse_target(std::string_view target) {
  if (target.empty() || target.front() != '/') return std::nullopt;
  const std::size_t q = target.find('?');
  auto path = decode(target.substr(0, q), false);
  if (!path) return std::nullopt;
  ParsedTarget parsed{std::move(*path), {}};
  if (q == std::string_view::npos) return parsed;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    auto key = decode(pair.substr(0, eq), true);
    auto value =
        decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
    if (!key || !value) return std::nullopt;
    parsed.query.emplace_back(std::move(*key), std::move(*value));
  }
  return parsed;
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    if (comma != 0) out.emplace_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

void Router::add(std::string method, std::string pattern, RouteDoc doc, Handler handler,
                 RouteKind kind) {
  Route route;
  route.label = method + " " + pattern;
  route.method = std::move(method);
  route.pattern = std::move(pattern);
  route.kind = kind;
  route.doc = std::move(doc);
  route.handler = std::move(handler);
  routes_.push_back(std::move(route));
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  Match result;
  if (path.empty() || path.front() != '/') return result;
  const std::string_view wanted = method == "HEAD" ? std::string_view("GET") : method;
  const auto parts = split_path(path);
  int best = -1;
  const Route* static_route = nullptr;
  for (const Route& route : routes_) {
    if (route.kind == RouteKind::kStatic) {
      static_route = &route;
      continue;
    }
    const int literals = match_pattern(route.pattern, parts, nullptr);
    if (literals < 0) continue;
    if (route.method != wanted) {
      if (std::find(result.allowed.begin(), result.allowed.end(), route.method) ==
          result.allowed.end()) {
        result.allowed.push_back(route.method);
      }
      continue;
    }
    if (literals > best) {
      best = literals;
      result.route = &route;
    }
  }
  if (result.route != nullptr) {
    result.result = Match::Result::kFound;
    result.allowed.clear();
    match_pattern(result.route->pattern, parts, &result.params);
    return result;
  }
  if (!result.allowed.empty()) {
    result.result = Match::Result::kMethodNotAllowed;
    return result;
  }
  // The web UI: any GET outside /v1/ that no API route claims.
  if (static_route != nullptr && !path.starts_with("/v1/") && path != "/v1") {
    if (wanted == "GET") {
      result.result = Match::Result::kFound;
      result.route = static_route;
    } else {
      result.result = Match::Result::kMethodNotAllowed;
      result.allowed = {"GET"};
    }
  }
  return result;
}

}  // namespace tickgraph::server
