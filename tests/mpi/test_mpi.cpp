// Data-parallel training and solving over MPI (mcsc/parallel/mpi.hpp), run by ctest under mpirun
// (tests/CMakeLists.txt). One scenario per run, named by the first argument:
//
//   equal  DIR  (2 ranks)  a 2-rank run equals a one-process run with the same shards bit for bit
//                          (CU-Net with input noise, LMCSC without), and a one-process whole-batch
//                          run within 1e-5 (relative to the largest parameter); the validation
//                          scores too; only rank 0 wrote the checkpoint and the log
//   resume DIR  (3 ranks)  a checkpoint written by ranks 0-1 resumes on 3 ranks and on 1 rank:
//                          both equal an uninterrupted one-process run bit for bit
//   fail   DIR  (2 ranks)  rank 1 alone has a bad image: every rank stops (the ctest checks the
//                          exit status and the message naming rank 1)
//   kill   DIR  (2 ranks)  rank 1 is killed (SIGKILL) in epoch 3: the job ends (the ctest checks
//                          the status, that the checkpoint of epoch 2 is whole and no temporary
//                          file is left)
//   fista  DIR  (2 ranks)  FISTA over four images, two on each rank (FistaOptions::communicator),
//                          equals one process solving all four with the same algorithm: the same
//                          iterations, objectives within 1e-12, codes within 1e-10 (plain,
//                          backtracking with function restart, gradient restart with a tolerance)
//   dictionary DIR (2 ranks) dictionary learning over four images, two on each rank
//                          (DictionaryLearningOptions::communicator), equals one process learning
//                          from all four with the same algorithm: objectives within 1e-10, the
//                          dictionary within 1e-8, every rank's dictionary the same bits
//
// Exit status 0 when every check holds; a failed check prints "FAILED: ..." and aborts all ranks.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "mcsc/nn/cunet.hpp"
#include "mcsc/solvers/dictionary_learning.hpp"
#include "mcsc/solvers/fista.hpp"
#include "mcsc/nn/init.hpp"
#include "mcsc/nn/lmcsc_net.hpp"
#include "mcsc/parallel/mpi.hpp"
#include "mcsc/train/trainer.hpp"
#include "../train_fixtures.hpp"

using namespace mcsc;
namespace fs = std::filesystem;

namespace {

struct Failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};
#define EXPECT(cond, what)                                                                          \
  do {                                                                                              \
    if (!(cond)) {                                                                                  \
      std::ostringstream os_;                                                                       \
      os_ << "FAILED: " << what << " (" #cond ", " << __FILE__ << ":" << __LINE__ << ")";           \
      throw Failed(os_.str());                                                                      \
    }                                                                                               \
  } while (0)

// Two images of different sizes (the draws index both), values in [0, 1].
std::vector<ImageTriplet> images() {
  std::vector<ImageTriplet> out;
  for (const auto& [h, w] : std::vector<std::pair<int, int>>{{40, 40}, {36, 52}}) {
    out.push_back(mcsc_test::pattern_triplet(h, w, h));
    out.back().name += std::to_string(h);
  }
  return out;
}

TrainerOptions options(int epochs, int batch, std::shared_ptr<Communicator> comm) {
  TrainerOptions o;
  o.epochs = epochs;
  o.steps_per_epoch = 5;
  o.batch_size = batch;
  o.patch_size = 16;
  o.adam.learning_rate = 2e-3;
  o.progress = false;
  o.seed = 42;
  o.communicator = std::move(comm);
  return o;
}

template <class Net>
void init(Net& net) {
  mcsc_test::init_for_training(net);
}

CuNetConfig small_cunet() {
  CuNetConfig c;
  c.filters = 4;
  c.kernel = 3;
  c.stages = 2;
  return c;
}
UnrolledNetConfig small_lmcsc() {
  UnrolledNetConfig c;
  c.filters = 4;
  c.kernel = 3;
  c.stages = 2;
  return c;
}

template <class Net>
std::vector<float> values_of(const Net& net) {
  const auto v = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), net.parameters().values());
  return std::vector<float>(v.data(), v.data() + v.size());
}

struct Run {
  std::vector<float> values;
  std::vector<EpochRecord> records;
};

// A fresh model trained with `o` (resumed from `resume_from` when not empty).
template <class Net, class Config>
Run train(const Config& config, const TrainerOptions& o, const std::string& resume_from = {}) {
  Net net(config);
  init(net);
  Trainer<Net> trainer(net, o);
  if (!resume_from.empty()) trainer.resume(resume_from);
  Run r;
  r.records = trainer.fit(images(), {images()[1]});
  r.values = values_of(net);
  return r;
}

std::shared_ptr<Communicator> world() { return std::make_shared<mpi::Communicator>(MPI_COMM_WORLD); }
std::shared_ptr<Communicator> self() { return std::make_shared<mpi::Communicator>(MPI_COMM_SELF); }
int world_rank() { return world()->rank(); }

void require_ranks(int want) {
  EXPECT(world()->size() == want, "this scenario runs on " << want << " ranks, not " << world()->size());
}

double max_relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, scale = 0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    diff = std::max(diff, std::abs(double(a[k]) - double(b[k])));
    scale = std::max(scale, std::abs(double(b[k])));
  }
  return diff / scale;
}

template <class Net, class Config>
void check_equal(const Config& config, double noise, const fs::path& dir, const std::string& name) {
  auto o = options(3, 8, world());
  o.input_noise = noise;
  o.checkpoint_path = (dir / (name + ".mcsc")).string();
  o.csv_path = (dir / (name + ".csv")).string();
  const Run two = train<Net>(config, o);  // shards: the number of ranks, 2
  // Only rank 0 wrote (the files exist once, from one writer; no rank-suffixed or extra files).
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT(fs::exists(o.checkpoint_path) && fs::exists(o.csv_path), name << ": rank 0 wrote no checkpoint or log");
  if (world_rank() != 0) return;
  auto alone = options(3, 8, self());
  alone.input_noise = noise;
  alone.shards = 2;
  const Run one = train<Net>(config, alone);
  EXPECT(two.values == one.values, name << ": 2 ranks and 1 process with 2 shards differ (max relative difference "
                                        << max_relative_difference(two.values, one.values) << ")");
  for (std::size_t e = 0; e < one.records.size(); ++e) {
    EXPECT(two.records[e].train_loss == one.records[e].train_loss, name << ": epoch " << e + 1 << " loss differs");
    EXPECT(two.records[e].validation_psnr == one.records[e].validation_psnr, name << ": epoch " << e + 1 << " PSNR differs");
  }
  alone.shards = 1;
  const Run whole = train<Net>(config, alone);
  const double d = max_relative_difference(two.values, whole.values);
  std::printf("%s: 2 ranks = 1 process with 2 shards bit for bit; against the whole-batch step: %.3g\n", name.c_str(), d);
  EXPECT(d < 1e-5 && d > 0, name << ": 2 ranks against the whole-batch step: max relative difference " << d);
}

void scenario_equal(const fs::path& dir) {
  require_ranks(2);
  check_equal<CuNet<float, Kokkos::DefaultExecutionSpace>>(small_cunet(), 0.05, dir, "cunet");
  check_equal<LmcscNet<float, Kokkos::DefaultExecutionSpace>>(small_lmcsc(), 0.0, dir, "lmcsc");
}

void scenario_resume(const fs::path& dir) {
  using Net = CuNet<float, Kokkos::DefaultExecutionSpace>;
  require_ranks(3);
  const int rank = world_rank();
  const std::string checkpoint = (dir / "resume.mcsc").string();
  // Epochs 1-2 on ranks 0 and 1 (6 shards of one patch), rank 0 writing the checkpoint.
  MPI_Comm pair;
  mpi::check(MPI_Comm_split(MPI_COMM_WORLD, rank < 2 ? 0 : MPI_UNDEFINED, rank, &pair), "MPI_Comm_split");
  if (rank < 2) {
    auto o = options(2, 6, std::make_shared<mpi::Communicator>(pair));
    o.shards = 6;
    o.checkpoint_path = checkpoint;
    train<Net>(small_cunet(), o);
    MPI_Comm_free(&pair);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  // Epochs 3-4 on three ranks.
  auto o = options(4, 6, world());
  o.shards = 6;
  const Run three = train<Net>(small_cunet(), o, checkpoint);
  if (rank != 0) return;
  // Epochs 3-4 on one, and all four on one.
  auto alone = options(4, 6, self());
  alone.shards = 6;
  const Run one_resumed = train<Net>(small_cunet(), alone, checkpoint);
  const Run one = train<Net>(small_cunet(), alone);
  EXPECT(three.values == one.values, "resumed on 3 ranks differs from the uninterrupted run (max relative difference "
                                         << max_relative_difference(three.values, one.values) << ")");
  EXPECT(one_resumed.values == one.values, "resumed on 1 rank differs from the uninterrupted run (max relative difference "
                                               << max_relative_difference(one_resumed.values, one.values) << ")");
  std::printf("a checkpoint of 2 ranks resumed on 3 ranks and on 1: both equal the uninterrupted run bit for bit\n");
}

void scenario_fail(const fs::path&) {
  using Net = CuNet<float, Kokkos::DefaultExecutionSpace>;
  require_ranks(2);
  auto data = images();
  if (world_rank() == 1) data[1].target[17] = std::nanf("");  // a damaged copy on one node
  Net net(small_cunet());
  init(net);
  Trainer<Net> trainer(net, options(3, 8, world()));
  trainer.fit(data, {});
  throw Failed("FAILED: training went on with a bad image on rank 1");
}

void scenario_kill(const fs::path& dir) {
  using Net = CuNet<float, Kokkos::DefaultExecutionSpace>;
  require_ranks(2);
  auto o = options(5, 8, world());
  o.checkpoint_path = (dir / "kill.mcsc").string();
  const int rank = world_rank();
  o.rate_hook = [rank](std::int64_t step, double rate) {
    if (rank == 1 && step == 12) std::raise(SIGKILL);  // epoch 3, step 3: epochs 1 and 2 are saved
    return rate;
  };
  train<Net>(small_cunet(), o);
  throw Failed("FAILED: the run went on after rank 1 was killed");
}

void scenario_fista(const fs::path&) {
  using T = double;
  using Space = Kokkos::DefaultExecutionSpace;
  require_ranks(2);
  const int rank = world_rank();
  auto w = make_tensor<T, Space>("d", {1, 6, 5, 5});
  auto all = make_tensor<T, Space>("y", {4, 1, 24, 24});
  fill_normal(w, 73, 0.0, 0.2);
  fill_normal(all, 74);
  auto mine = make_tensor<T, Space>("mine", {2, 1, 24, 24});
  Kokkos::deep_copy(mine, Kokkos::subview(all, Kokkos::make_pair(2 * rank, 2 * rank + 2), Kokkos::ALL, Kokkos::ALL,
                                          Kokkos::ALL));
  ConvDictionary<T, Space> D(w);
  for (int variant = 0; variant < 3; ++variant) {
    FistaOptions o;
    o.lambda = 0.1;
    o.max_iterations = 40;
    if (variant == 1) {
      o.backtracking = true;
      o.restart = FistaRestart::function;
    } else if (variant == 2) {
      o.restart = FistaRestart::gradient;
      o.tolerance = 1e-3;
      o.max_iterations = 300;
    }
    o.communicator = world();
    const auto part = fista(D, mine, o);
    // Every rank's codes, in image order, on every rank.
    const auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), part.codes);
    std::vector<double> codes(2 * h.size());
    o.communicator->allgather(h.data(), codes.data(), h.size());
    if (rank != 0) continue;
    o.communicator = self();
    const auto whole = fista(D, all, o);
    const auto hw = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), whole.codes);
    EXPECT(part.iterations == whole.iterations, "variant " << variant << ": " << part.iterations << " iterations on 2 ranks, "
                                                         << whole.iterations << " alone");
    EXPECT(part.iterations < o.max_iterations || variant != 2, "variant 2 did not stop by its tolerance");
    for (std::size_t k = 0; k < whole.objective.size(); ++k)
      EXPECT(std::abs(part.objective[k] - whole.objective[k]) <= 1e-12 * std::abs(whole.objective[k]),
             "variant " << variant << ": objective " << k + 1 << " " << part.objective[k] << " against " << whole.objective[k]);
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < codes.size(); ++i) {
      diff = std::max(diff, std::abs(codes[i] - hw.data()[i]));
      scale = std::max(scale, std::abs(hw.data()[i]));
    }
    EXPECT(scale > 0 && diff <= 1e-10 * scale, "variant " << variant << ": codes differ by " << diff << " (largest " << scale << ")");
    std::printf("fista variant %d: %d iterations, %d restarts, %d backtracks; codes %s\n", variant, whole.iterations,
                whole.restarts, whole.backtracks, diff == 0 ? "equal bit for bit" : "within 1e-10");
  }
}

void scenario_dictionary(const fs::path&) {
  using T = double;
  using Space = Kokkos::DefaultExecutionSpace;
  require_ranks(2);
  const int rank = world_rank();
  auto all = make_tensor<T, Space>("signals", {4, 1, 24, 24});
  fill_normal(all, 75);
  auto mine = make_tensor<T, Space>("mine", {2, 1, 24, 24});
  Kokkos::deep_copy(mine, Kokkos::subview(all, Kokkos::make_pair(2 * rank, 2 * rank + 2), Kokkos::ALL, Kokkos::ALL,
                                          Kokkos::ALL));
  const auto initial = random_dictionary<T, Space>(1, 6, 5, 11);
  DictionaryLearningOptions o;
  o.lambda = 0.1;
  o.max_iterations = 6;
  o.coding_iterations = 20;
  o.dictionary_iterations = 10;
  o.masked_boundary = true;
  const auto learn = [&](const Tensor4<T, Space>& signals, std::shared_ptr<Communicator> comm) {
    auto w = make_tensor<T, Space>("w", shape_of(initial));
    Kokkos::deep_copy(w, initial);
    ConvDictionary<T, Space> D(w);
    auto options = o;
    options.communicator = std::move(comm);
    const auto result = learn_dictionary(D, signals, options);
    const auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), D.weights());
    return std::make_pair(std::vector<double>(h.data(), h.data() + h.size()), result.objective);
  };
  const auto two = learn(mine, world());
  // Every rank ends with the same dictionary, bit for bit.
  std::vector<double> both(2 * two.first.size());
  world()->allgather(two.first.data(), both.data(), two.first.size());
  EXPECT(std::equal(two.first.begin(), two.first.end(), both.begin() + std::ptrdiff_t(two.first.size())),
         "the ranks' dictionaries differ");
  if (rank != 0) return;
  const auto one = learn(all, self());
  EXPECT(one.second.size() == two.second.size(), "objective histories of different lengths");
  for (std::size_t k = 0; k < one.second.size(); ++k)
    EXPECT(std::abs(one.second[k] - two.second[k]) <= 1e-10 * std::abs(one.second[k]),
           "objective " << k + 1 << ": " << two.second[k] << " on 2 ranks, " << one.second[k] << " alone");
  EXPECT(one.second.back() < one.second.front(), "the objective did not decrease");
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < one.first.size(); ++i) {
    diff = std::max(diff, std::abs(one.first[i] - two.first[i]));
    scale = std::max(scale, std::abs(one.first[i]));
  }
  EXPECT(diff <= 1e-8 * scale, "the dictionaries differ by " << diff << " (largest weight " << scale << ")");
  std::printf("dictionary learning: %zu iterations, objective %.6g -> %.6g; 2 ranks against 1: dictionary %s "
              "(largest difference %.3g)\n", one.second.size(), one.second.front(), one.second.back(),
              diff == 0 ? "equal bit for bit" : "within 1e-8", diff);
}

}  // namespace

int main(int argc, char* argv[]) {
  mpi::Session session(argc, argv);
  return mpi::run_or_abort(
      [&] {
        if (argc != 3) throw Failed("usage: test_mpi equal|resume|fail|kill|fista|dictionary DIR");
        const std::string what = argv[1];
        const fs::path dir = argv[2];
        if (world_rank() == 0) {
          fs::remove_all(dir);
          fs::create_directories(dir);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        if (what == "equal") scenario_equal(dir);
        else if (what == "resume") scenario_resume(dir);
        else if (what == "fail") scenario_fail(dir);
        else if (what == "kill") scenario_kill(dir);
        else if (what == "fista") scenario_fista(dir);
        else if (what == "dictionary") scenario_dictionary(dir);
        else throw Failed("unknown scenario '" + what + "'");
        MPI_Barrier(MPI_COMM_WORLD);
        if (world_rank() == 0) std::printf("%s: passed\n", what.c_str());
      },
      "test_mpi");
}
