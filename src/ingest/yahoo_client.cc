#include "ingest/yahoo_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>
#include <utility>

namespace tickgraph::ingest {

namespace {

constexpr std::array<std::string_view, 11> kRanges = {"1d", "5d", "1mo", "3mo", "6mo", "1y",
                                                      "2y", "5y", "10y", "ytd", "max"};
constexpr std::size_t kMaxSymbolLength = 32;

bool unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    if (unreserved(c)) {
      out += c;
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    }
  }
  return out;
}

Status check_symbol(std::string_view symbol) {
  if (symbol.empty()) return Status::invalid_argument("yahoo: the symbol is empty");
  if (symbol.size() > kMaxSymbolLength) {
    return Status::invalid_argument("yahoo: symbol '" + std::string(symbol) + "' is longer than " +
                                    std::to_string(kMaxSymbolLength) + " characters");
  }
  for (char c : symbol) {
    if (!(unreserved(c) && c != '~') && c != '^' && c != '=') {
      return Status::invalid_argument("yahoo: symbol '" + std::string(symbol) +
                                      "' has the character '" + std::string(1, c) +
                                      "' (Yahoo symbols use letters, digits and . - ^ = _)");
    }
  }
  return {};
}

// The part of a non-200 body worth showing: chart.error.description when the body is Yahoo's
// JSON, else its first line, shortened.
std::string error_description(const std::string& body) {
  const auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object()) {
    const auto chart = doc.find("chart");
    if (chart != doc.end() && chart->is_object()) {
      const auto error = chart->find("error");
      if (error != chart->end() && error->is_object()) {
        const auto description = error->find("description");
        if (description != error->end() && description->is_string()) return *description;
        const auto code = error->find("code");
        if (code != error->end() && code->is_string()) return *code;
      }
    }
  }
  std::string_view text = body;
  text = text.substr(0, text.find_first_of("\r\n"));
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  constexpr std::size_t kMaxShown = 200;
  if (text.size() > kMaxShown) return std::string(text.substr(0, kMaxShown)) + "…";
  return std::string(text);
}

// "30s", "150ms": the duration in its largest exact unit.
std::string describe(Duration d) { return d > 0 ? format_duration(d) : std::string("0s"); }

void global_init() {
  static const CURLcode kInit = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)kInit;  // a failure shows up as curl_easy_init failing
}

// What one request gave.
struct Attempt {
  enum class Outcome {
    kResponse,    // an HTTP response with its whole body (any status)
    kTimeout,     // no complete response within the time limit
    kConnection,  // connection refused, reset or closed early: worth retrying
    kTruncated,   // closed before Content-Length bytes of body arrived
    kFatal,       // a local or protocol problem a retry cannot fix
  };
  Outcome outcome = Outcome::kFatal;
  long status = 0;
  std::string body;
  Duration retry_after = 0;  // from Retry-After; 0 when absent
  std::string detail;        // libcurl's description of a failure
};

struct BodySink {
  std::string* body;
  std::size_t limit;
  bool overflowed = false;
};

std::size_t write_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  const std::size_t n = size * count;
  if (sink->body->size() + n > sink->limit) {
    sink->overflowed = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  sink->body->append(data, n);
  return n;
}

long to_millis(Duration d) { return static_cast<long>(d / kMillisecond); }

Attempt perform(const YahooClientOptions& options, const std::string& url) {
  Attempt a;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    a.detail = "cannot initialise libcurl";
    return a;
  }
  std::array<char, CURL_ERROR_SIZE> errors{};
  BodySink sink{&a.body, options.max_body_bytes};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errors.data());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, options.user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");  // whatever libcurl can decode
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, to_millis(options.connect_timeout));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, to_millis(options.timeout));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

  const CURLcode code = curl_easy_perform(curl);
  a.detail = errors[0] != '\0' ? std::string(errors.data()) : curl_easy_strerror(code);
  switch (code) {
    case CURLE_OK: {
      a.outcome = Attempt::Outcome::kResponse;
      curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a.status);
      curl_off_t retry_after = 0;
      if (curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
          retry_after > 0) {
        a.retry_after = static_cast<Duration>(retry_after) * kSecond;
      }
      break;
    }
    case CURLE_OPERATION_TIMEDOUT:
      a.outcome = Attempt::Outcome::kTimeout;
      break;
    case CURLE_PARTIAL_FILE:
      a.outcome = Attempt::Outcome::kTruncated;
      break;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      a.outcome = Attempt::Outcome::kConnection;
      break;
    case CURLE_WRITE_ERROR:
      if (sink.overflowed) {
        a.detail = "response larger than " + std::to_string(options.max_body_bytes) + " bytes";
      }
      a.outcome = Attempt::Outcome::kFatal;
      break;
    default:
      a.outcome = Attempt::Outcome::kFatal;
      break;
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return a;
}

}  // namespace

bool is_yahoo_range(std::string_view range) {
  return std::find(kRanges.begin(), kRanges.end(), range) != kRanges.end();
}

YahooClient::YahooClient(YahooClientOptions options) : options_(std::move(options)) {
  global_init();
  if (options_.base_url.empty()) {
    const char* env = std::getenv(kYahooUrlEnvVar);
    options_.base_url = env != nullptr && *env != '\0' ? env : std::string(kYahooDefaultBaseUrl);
  }
  while (!options_.base_url.empty() && options_.base_url.back() == '/') {
    options_.base_url.pop_back();
  }
  options_.max_attempts = std::max(options_.max_attempts, 1);
  if (!options_.sleeper) {
    options_.sleeper = [](Duration d) { std::this_thread::sleep_for(std::chrono::nanoseconds(d)); };
  }
}

Result<std::string> YahooClient::request_target(std::string_view symbol, const YahooSpan& span,
                                                Interval interval) {
  if (Status s = check_symbol(symbol); !s.ok()) return s;
  const std::string source = "yahoo: " + std::string(symbol);
  auto yahoo_interval = yahoo_interval_name(interval);
  if (!yahoo_interval) return Status::invalid_argument(source + ": " + yahoo_interval.message());
  std::string target = "/v8/finance/chart/" + percent_encode(symbol) + "?";
  if (const auto* range = std::get_if<std::string>(&span)) {
    if (!is_yahoo_range(*range)) {
      return Status::invalid_argument(source + ": range '" + *range +
                                      "' is not one of 1d 5d 1mo 3mo 6mo 1y 2y 5y 10y ytd max");
    }
    target += "range=" + *range;
  } else {
    const auto& period = std::get<YahooPeriod>(span);
    if (period.begin >= period.end) {
      return Status::invalid_argument(source + ": period " + format_timestamp(period.begin) +
                                      " to " + format_timestamp(period.end) +
                                      " is empty (the start must be before the end)");
    }
    const std::int64_t period1 = floor_div(period.begin, kSecond);
    const std::int64_t period2 = -floor_div(-period.end, kSecond);
    target += "period1=" + std::to_string(period1) + "&period2=" + std::to_string(period2);
  }
  target += "&interval=" + std::string(*yahoo_interval) + "&includePrePost=false&events=div,split";
  return target;
}

Result<YahooChart> YahooClient::fetch(std::string_view symbol, const YahooSpan& span,
                                      Interval interval) const {
  auto target = request_target(symbol, span, interval);
  if (!target) return target.status();
  const std::string source = "yahoo: " + std::string(symbol);
  const std::string url = options_.base_url + *target;
  // Yahoo answering 404 means no such symbol; 429 a rate limit; anything else the service or the
  // network failing, which a later try may not meet.
  auto fail = [&](const std::string& message, StatusCode code = StatusCode::kUnavailable) {
    return Status(code, source + ": " + message);
  };
  auto http_code = [](long status) {
    if (status == 404) return StatusCode::kNotFound;
    if (status == 429) return StatusCode::kResourceExhausted;
    return StatusCode::kUnavailable;
  };
  std::mt19937_64 random(std::random_device{}());

  Attempt last;
  int attempt = 1;
  for (;; ++attempt) {
    last = perform(options_, url);
    bool retry = false;
    switch (last.outcome) {
      case Attempt::Outcome::kResponse:
        if (last.status == 200) {
          auto chart = parse_yahoo_chart(last.body, source);
          if (chart && chart->interval != interval) {
            return fail("asked for " + std::string(interval_name(interval)) + " bars, Yahoo sent " +
                        std::string(interval_name(chart->interval)) + " bars");
          }
          return chart;
        }
        retry = last.status == 429 || (last.status >= 500 && last.status <= 599);
        if (!retry) {
          const std::string description = error_description(last.body);
          return fail("HTTP " + std::to_string(last.status) +
                          (description.empty() ? "" : ": " + description),
                      http_code(last.status));
        }
        break;
      case Attempt::Outcome::kTimeout:
      case Attempt::Outcome::kConnection:
      case Attempt::Outcome::kTruncated:
        retry = true;
        break;
      case Attempt::Outcome::kFatal:
        return fail(last.detail + " (" + url + ")");
    }
    if (attempt >= options_.max_attempts) break;

    Duration wait = 0;
    if (last.outcome == Attempt::Outcome::kResponse && last.status == 429 && last.retry_after > 0) {
      if (last.retry_after > options_.max_retry_after) {
        return fail("rate limited (HTTP 429) and told to retry after " +
                        describe(last.retry_after) + ", beyond the " +
                        describe(options_.max_retry_after) + " this client waits",
                    StatusCode::kResourceExhausted);
      }
      wait = last.retry_after;
    } else {
      Duration cap = std::max<Duration>(options_.initial_backoff, 0);
      for (int k = 1; k < attempt && cap < options_.max_backoff; ++k) cap *= 2;
      cap = std::min(cap, options_.max_backoff);
      if (cap > 0) wait = std::uniform_int_distribution<Duration>(0, cap)(random);
    }
    options_.sleeper(wait);
  }

  const std::string attempts = std::to_string(attempt) + (attempt == 1 ? " attempt" : " attempts");
  switch (last.outcome) {
    case Attempt::Outcome::kTimeout:
      return fail("timed out after " + attempts + " (" +
                  (options_.timeout > 0
                       ? describe(options_.timeout) + " limit per attempt"
                       : "connecting took over " + describe(options_.connect_timeout)) +
                  ")");
    case Attempt::Outcome::kTruncated:
      return fail("truncated body after " + attempts + ": " + last.detail);
    case Attempt::Outcome::kConnection:
      return fail("connection failed after " + attempts + ": " + last.detail + " (" +
                  options_.base_url + ")");
    case Attempt::Outcome::kResponse:
      if (last.status == 429) {
        return fail("rate limited (HTTP 429) after " + attempts, StatusCode::kResourceExhausted);
      }
      {
        const std::string description = error_description(last.body);
        return fail("HTTP " + std::to_string(last.status) + " after " + attempts +
                        (description.empty() ? "" : ": " + description),
                    http_code(last.status));
      }
    case Attempt::Outcome::kFatal:
      break;
  }
  return fail(last.detail);
}

}  // namespace tickgraph::ingest
