#include "graph/table.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <new>

namespace tickgraph::graph {

namespace {

constexpr std::size_t kHugePage = std::size_t{2} << 20;

}  // namespace

// Columns of a long pull are large (80 MB for 10M bars) and written once, front to back: with 4 KiB
// pages the first write of each page faults, and on this project's VM those faults cost more than
// the kernels that write the values (bench/graph_pull_bench.cc). A column of 2 MiB or more is
// allocated 2 MiB-aligned and marked for transparent huge pages (a hint: the kernel may decline),
// which takes 512 times fewer faults. Smaller ones are plain allocations.
std::unique_ptr<double[], Column::Free> Column::allocate(std::size_t n) {
  const std::size_t bytes = std::max<std::size_t>(n, 1) * sizeof(double);
  void* p = nullptr;
  if (bytes < kHugePage) {
    p = std::malloc(bytes);
  } else {
    const std::size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    p = std::aligned_alloc(kHugePage, rounded);
    if (p != nullptr) (void)::madvise(p, rounded, MADV_HUGEPAGE);
  }
  if (p == nullptr) throw std::bad_alloc();
  return std::unique_ptr<double[], Free>(static_cast<double*>(p));
}

void Column::Free::operator()(double* p) const { std::free(p); }

Column::Column(std::size_t n, double fill) : data_(allocate(n)), size_(n) {
  std::fill(data_.get(), data_.get() + n, fill);
}

Column Column::with_lead(std::size_t lead, std::size_t n) {
  Column c;
  c.data_ = allocate(lead + n);  // uninitialized: the kernels write every value
  c.lead_ = lead;
  c.size_ = n;
  return c;
}

Column::Column(const Column& other) : data_(allocate(other.size_)), size_(other.size_) {
  std::copy(other.begin(), other.end(), data_.get());
}

Column& Column::operator=(const Column& other) {
  if (this != &other) *this = Column(other);
  return *this;
}

int Table::column(const std::string& name) const {
  auto it = std::find(columns.begin(), columns.end(), name);
  return it == columns.end() ? -1 : static_cast<int>(it - columns.begin());
}

}  // namespace tickgraph::graph
