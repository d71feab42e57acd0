#pragma once
/// \file communicator.hpp
/// The other processes of a data-parallel training run, as mcsc::Trainer needs them: rank,
/// number of ranks and an all-gather in rank order. The library itself has no MPI; the MPI
/// implementation is mcsc::mpi::Communicator in mcsc/parallel/mpi.hpp (target mcsc::mpi), and a
/// test or another transport can implement this interface too.
///
/// Every call is collective: all ranks of the group make the same calls in the same order.
#include <cstddef>

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

}  // namespace mcsc
