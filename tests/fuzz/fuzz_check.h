// What the fuzz targets share: an invariant check that stops the run with a crash artifact.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

// Aborts (libFuzzer saves the input as a crash) when `cond` is false, printing what was expected.
#define FUZZ_CHECK(cond, what)                                                               \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: invariant violated: %s (%s)\n", __FILE__, __LINE__, what, \
                   #cond);                                                                   \
      std::abort();                                                                          \
    }                                                                                        \
  } while (false)

namespace tickgraph::fuzz {

inline std::string_view as_text(const unsigned char* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace tickgraph::fuzz
