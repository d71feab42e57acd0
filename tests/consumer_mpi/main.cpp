// Uses the installed MPI part: a Session and a Communicator's gather, on however many ranks it is
// started with (one, without mpirun).
#include <mcsc/parallel/mpi.hpp>

#include <cstdio>
#include <vector>

int main(int argc, char* argv[]) {
  mcsc::mpi::Session session(argc, argv);
  return mcsc::mpi::run_or_abort([] {
    mcsc::mpi::Communicator comm;
    const float mine = float(comm.rank() + 1);
    std::vector<float> all(std::size_t(comm.size()));
    comm.allgather(&mine, all.data(), 1);
    for (int r = 0; r < comm.size(); ++r)
      MCSC_REQUIRE(all[std::size_t(r)] == float(r + 1), "consumer_mpi", "rank " << r << " gathered " << all[std::size_t(r)]);
    std::printf("consumer_mpi: rank %d of %d gathered every rank's value\n", comm.rank(), comm.size());
  });
}
