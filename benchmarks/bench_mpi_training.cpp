/// \file bench_mpi_training.cpp
/// Data-parallel training throughput (docs/distributed.md): mcsc::Trainer on however many MPI
/// ranks the program is started with, CU-Net official size (K = 64, 9x9, 4 stages) or LMCSC
/// (K = 85, 5x5), batch B of 64x64 patches cut from synthetic 256x256 images. The first epoch
/// (warm-up: buffers, first-touch) is not timed; the timed epochs' seconds come from the trainer's
/// records, the slowest rank's. Prints one line of JSON (rank 0): ranks, threads per rank,
/// patches per second, milliseconds per step, bytes each rank passed to MPI per step, parameters.
/// benchmarks/bench_mpi.sh runs it interleaved on 1 rank x 2 threads and 2 ranks x 1 thread.
#include <boost/program_options.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "mcsc/nn/cunet.hpp"
#include "mcsc/nn/init.hpp"
#include "mcsc/nn/lmcsc_net.hpp"
#include "mcsc/parallel/mpi.hpp"
#include "mcsc/train/trainer.hpp"

namespace po = boost::program_options;

namespace {

std::vector<mcsc::ImageTriplet> synthetic_images(int count, int side) {
  std::vector<mcsc::ImageTriplet> out;
  for (int k = 0; k < count; ++k) {
    mcsc::ImageTriplet t;
    t.name = "synthetic" + std::to_string(k);
    t.channels = 1;
    t.height = t.width = side;
    for (int i = 0; i < side * side; ++i) {
      t.target.push_back(float((i * 37 + k * 11) % 101) / 100.f);
      t.guide.push_back(float((i * 53 + k) % 97) / 96.f);
      t.input.push_back(t.target.back() + 0.05f * float((i * 7) % 11 - 5));
    }
    out.push_back(std::move(t));
  }
  return out;
}

template <class Net, class Config>
void measure(const Config& config, const mcsc::TrainerOptions& options, int epochs,
             const std::shared_ptr<mcsc::mpi::Communicator>& comm, const std::string& network) {
  Net net(config);
  mcsc::InitOptions init;
  init.seed = 7;
  mcsc::initialize(net.parameters(), init);
  mcsc::Trainer<Net> trainer(net, options);
  const auto records = trainer.fit(synthetic_images(4, 256), {});
  double seconds = 0;
  for (std::size_t e = 1; e < records.size(); ++e) seconds += records[e].seconds;  // epoch 1: warm-up
  double slowest = 0;
  MPI_Allreduce(&seconds, &slowest, 1, MPI_DOUBLE, MPI_MAX, comm->comm());
  const double steps = double(epochs - 1) * options.steps_per_epoch;
  const double total_steps = double(epochs) * options.steps_per_epoch;
  if (comm->rank() != 0) return;
  const char* threads = std::getenv("OMP_NUM_THREADS");
  std::printf(
      "{\"network\": \"%s\", \"ranks\": %d, \"threads_per_rank\": %s, \"batch\": %d, \"shards\": %d, "
      "\"patches_per_s\": %.3f, \"ms_per_step\": %.2f, \"bytes_sent_per_step\": %.0f, \"parameters\": %zu}\n",
      network.c_str(), comm->size(), threads ? threads : "null", options.batch_size, trainer.shards(),
      steps * options.batch_size / slowest, 1e3 * slowest / steps, double(comm->bytes_sent()) / total_steps,
      net.parameters().flat_size());
}

}  // namespace

int main(int argc, char* argv[]) {
  std::string network = "cunet-official";
  int batch = 16, steps = 4, epochs = 3;
  po::options_description desc("bench_mpi_training options");
  desc.add_options()("help,h", "this text")(
      "network", po::value(&network)->default_value(network), "cunet-official or lmcsc")(
      "batch", po::value(&batch)->default_value(batch), "global batch (patches of 64x64), a multiple of the ranks")(
      "steps", po::value(&steps)->default_value(steps), "steps per epoch")(
      "epochs", po::value(&epochs)->default_value(epochs), "epochs, the first untimed (at least 2)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
    if (network != "cunet-official" && network != "lmcsc")
      throw po::error("--network must be cunet-official or lmcsc, not '" + network + "'");
    if (batch < 1 || steps < 1 || epochs < 2) throw po::error("--batch and --steps must be >= 1, --epochs >= 2");
  } catch (const po::error& e) {
    std::cerr << argv[0] << ": " << e.what() << "\n" << desc;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  mcsc::mpi::Session session(argc, argv);
  return mcsc::mpi::run_or_abort(
      [&] {
        auto comm = std::make_shared<mcsc::mpi::Communicator>();
        mcsc::TrainerOptions options;
        options.epochs = epochs;
        options.steps_per_epoch = steps;
        options.batch_size = batch;
        options.patch_size = 64;
        options.progress = false;
        options.communicator = comm;
        using Space = Kokkos::DefaultExecutionSpace;
        if (network == "lmcsc") {
          mcsc::UnrolledNetConfig c;
          c.filters = 85;
          c.kernel = 5;
          c.stages = 4;
          measure<mcsc::LmcscNet<float, Space>>(c, options, epochs, comm, network);
        } else {
          measure<mcsc::CuNet<float, Space>>(mcsc::CuNetConfig{}, options, epochs, comm, network);
        }
      },
      "bench_mpi_training");
}
