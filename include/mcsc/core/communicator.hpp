#pragma once
/// \file communicator.hpp
/// The other processes of a data-parallel run, as mcsc::Trainer and the classical solvers
/// (FistaOptions::communicator) need them: rank, number of ranks and an all-gather in rank order,
/// and sums and maxima over the ranks built on it (the same bits on every rank, whatever the
/// MPI library's reduction order). The library itself has no MPI; the MPI implementation is
/// mcsc::mpi::Communicator in mcsc/parallel/mpi.hpp (target mcsc::mpi), and a test or another
/// transport can implement this interface too.
///
/// Every call is collective: all ranks of the group make the same calls in the same order.
#include <algorithm>
#include <cstddef>
#include <vector>

#include <Kokkos_Core.hpp>

#include "mcsc/core/error.hpp"

namespace mcsc {

class Communicator {
 public:
  virtual ~Communicator() = default;
  /// This process' rank, 0 .. size() - 1.
  virtual int rank() const = 0;
  /// The number of ranks in the group.
  virtual int size() const = 0;
  /// On every rank: all[r * count .. (r + 1) * count) = rank r's `local` (count values each, host
  /// memory; `all` holds size() * count values and does not overlap `local`).
  virtual void allgather(const float* local, float* all, std::size_t count) = 0;
  virtual void allgather(const double* local, double* all, std::size_t count) = 0;
};

/// values[i] = the sum over the ranks of their values[i] (count values), added in rank order: the
/// same bits on every rank.
inline void sum_over_ranks(Communicator& comm, double* values, std::size_t count) {
  const std::size_t ranks = std::size_t(comm.size());
  if (ranks == 1 || count == 0) return;
  std::vector<double> all(ranks * count);
  comm.allgather(values, all.data(), count);
  for (std::size_t i = 0; i < count; ++i) {
    double s = all[i];
    for (std::size_t r = 1; r < ranks; ++r) s += all[r * count + i];
    values[i] = s;
  }
}

/// values[i] = the largest of the ranks' values[i].
inline void max_over_ranks(Communicator& comm, double* values, std::size_t count) {
  const std::size_t ranks = std::size_t(comm.size());
  if (ranks == 1 || count == 0) return;
  std::vector<double> all(ranks * count);
  comm.allgather(values, all.data(), count);
  for (std::size_t i = 0; i < count; ++i)
    for (std::size_t r = 0; r < ranks; ++r) values[i] = std::max(values[i], all[r * count + i]);
}

/// v = the sum over the ranks of their v (a Kokkos view of float or double, any memory space),
/// elementwise in rank order: the same bits on every rank. Through host memory (no copy where v
/// lives there); for small tensors (a dictionary's weights, a gradient), not for images.
template <class View>
void sum_over_ranks(Communicator& comm, const View& v) {
  const std::size_t ranks = std::size_t(comm.size()), n = v.size();
  if (ranks == 1 || n == 0) return;
  using T = typename View::non_const_value_type;
  auto h = Kokkos::create_mirror_view(v);
  Kokkos::deep_copy(h, v);
  MCSC_REQUIRE(h.span_is_contiguous(), "mcsc::sum_over_ranks", "'" << v.label() << "' is not contiguous");
  std::vector<T> all(ranks * n);
  comm.allgather(h.data(), all.data(), n);
  for (std::size_t i = 0; i < n; ++i) {
    T s = all[i];
    for (std::size_t r = 1; r < ranks; ++r) s += all[r * n + i];
    h.data()[i] = s;
  }
  Kokkos::deep_copy(v, h);
}

}  // namespace mcsc
