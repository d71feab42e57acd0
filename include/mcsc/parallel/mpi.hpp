#pragma once
/// \file mpi.hpp
/// MPI for mcsc (target mcsc::mpi, CMake option MCSC_ENABLE_MPI; the rest of the library has no
/// MPI): the Communicator a data-parallel mcsc::Trainer gathers gradients through, a Session that
/// initialises MPI and Kokkos in the right order (Kokkos on the GPU given by the process' local
/// rank: one rank per GPU), and run_or_abort, which turns an exception on one rank into a stop of
/// every rank instead of a hang.
///
///   int main(int argc, char* argv[]) {
///     mcsc::mpi::Session session(argc, argv);
///     return mcsc::mpi::run_or_abort([&] {
///       auto comm = std::make_shared<mcsc::mpi::Communicator>();
///       mcsc::TrainerOptions options;
///       options.communicator = comm;      // every rank: the same options, data and seed
///       ...
///       mcsc::Trainer<Model> trainer(net, options);
///       trainer.fit(images, validation);  // rank 0 writes the checkpoints
///     });
///   }
///
/// Run with `mpirun -np R program ...` (or `srun`); docs/distributed.md.
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "mcsc/core/compat.hpp"
#include "mcsc/core/error.hpp"
#include "mcsc/core/communicator.hpp"

namespace mcsc::mpi {

/// Throws mcsc::Error naming the MPI call when it did not succeed (with MPI_ERRORS_RETURN set on
/// the communicator; MPI's default handler aborts the job first).
inline void check(int status, const char* call) {
  if (status == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(status, text, &length);
  MCSC_REQUIRE(false, "mcsc::mpi", call << " failed: " << std::string(text, std::size_t(length)));
}

/// The rank of this process among those of its node: the launcher's variable (OpenMPI, MPICH,
/// Slurm), else from MPI (a shared-memory split of MPI_COMM_WORLD). MPI must be initialised for
/// the fallback; -1 when neither is available.
inline int local_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"}) {
    if (const char* v = std::getenv(name)) {
      char* end = nullptr;
      const long r = std::strtol(v, &end, 10);
      if (end != v && *end == '\0' && r >= 0 && r < INT_MAX) return int(r);
    }
  }
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) return -1;
  MPI_Comm node;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node), "MPI_Comm_split_type");
  int r = 0;
  MPI_Comm_rank(node, &r);
  MPI_Comm_free(&node);
  return r;
}

/// MPI (MPI_THREAD_FUNNELED: only the main thread calls MPI) and then Kokkos, on the device of
/// this process' local rank modulo the node's device count when Kokkos has a device backend;
/// finalised in the reverse order. One per program, in main(), before any Kokkos view.
class Session {
 public:
  Session(int& argc, char**& argv) {
    int provided = 0;
    check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    MCSC_REQUIRE(provided >= MPI_THREAD_FUNNELED, "mcsc::mpi::Session",
                 "the MPI library does not support MPI_THREAD_FUNNELED (provided level " << provided << ")");
    initialize_kokkos_on_device(device_for(local_rank()));
  }
  ~Session() {
    Kokkos::finalize();
    MPI_Finalize();
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// The device a process of local rank r uses: r modulo the node's devices (KOKKOS_NUM_DEVICES,
  /// else CUDA_VISIBLE_DEVICES' count, else r itself); -1 (Kokkos' choice) without a local rank.
  static int device_for(int r) {
    if (r < 0) return -1;
    int devices = 0;
    if (const char* v = std::getenv("KOKKOS_NUM_DEVICES")) devices = std::atoi(v);
    if (devices <= 0) {
      if (const char* v = std::getenv("CUDA_VISIBLE_DEVICES"); v && *v) {
        devices = 1;
        for (const char* c = v; *c; ++c) devices += *c == ',';
      }
    }
    return devices > 0 ? r % devices : r;
  }
};

/// mcsc::Communicator over an MPI communicator (MPI_COMM_WORLD by default; not duplicated or
/// freed: the caller's). Gathers in rank order with MPI_Allgather, in pieces of at most INT_MAX
/// values. Counts the bytes this rank has sent (for the benchmarks).
class Communicator final : public mcsc::Communicator {
 public:
  explicit Communicator(MPI_Comm comm = MPI_COMM_WORLD) : m_comm(comm) {
    check(MPI_Comm_rank(comm, &m_rank), "MPI_Comm_rank");
    check(MPI_Comm_size(comm, &m_size), "MPI_Comm_size");
  }
  int rank() const override { return m_rank; }
  int size() const override { return m_size; }
  MPI_Comm comm() const { return m_comm; }
  /// Bytes this rank has passed to MPI_Allgather so far (its own contribution, once per call).
  std::uint64_t bytes_sent() const { return m_bytes_sent; }

  void allgather(const float* local, float* all, std::size_t count) override { gather(local, all, count, MPI_FLOAT); }
  void allgather(const double* local, double* all, std::size_t count) override {
    gather(local, all, count, MPI_DOUBLE);
  }

 private:
  template <class V>
  void gather(const V* local, V* all, std::size_t count, MPI_Datatype type) {
    m_bytes_sent += count * sizeof(V);
    const std::size_t piece_max = std::size_t(INT_MAX);
    if (count <= piece_max) {
      check(MPI_Allgather(local, int(count), type, all, int(count), type, m_comm), "MPI_Allgather");
      return;
    }
    std::vector<V> piece;
    for (std::size_t at = 0; at < count; at += piece_max) {
      const std::size_t n = std::min(piece_max, count - at);
      piece.resize(n * std::size_t(m_size));
      check(MPI_Allgather(local + at, int(n), type, piece.data(), int(n), type, m_comm), "MPI_Allgather");
      for (int r = 0; r < m_size; ++r)
        std::copy(piece.begin() + std::ptrdiff_t(std::size_t(r) * n), piece.begin() + std::ptrdiff_t(std::size_t(r + 1) * n),
                  all + std::size_t(r) * count + at);
    }
  }

  MPI_Comm m_comm;
  int m_rank = 0, m_size = 1;
  std::uint64_t m_bytes_sent = 0;
};

/// work(); 0 when it returns. An exception from it is printed as "<program>: rank r of R: error:
/// <what>" and stops every rank of MPI_COMM_WORLD (MPI_Abort with status 1), so that the others
/// do not wait for it in their next collective call.
template <class Work>
int run_or_abort(Work&& work, const char* program = "mcsc") noexcept {
  try {
    work();
    return 0;
  } catch (const std::exception& e) {
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    std::fprintf(stderr, "%s: rank %d of %d: error: %s\n", program, rank, size, e.what());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
  }
}

}  // namespace mcsc::mpi
