/// \file bench_networks.cpp
/// Learned networks benchmark (../shared/BENCHMARKS.md, sections "Networks" and "Scaling").
///
/// Workloads, float32 on Kokkos::DefaultExecutionSpace:
///   NAME/train  one training step: forward(x, y, out, training = true), MSE loss and its
///               gradient, zero_grad, backward, Adam update (as mcsc::Trainer::train_step, without
///               the patch sampling), on the fixed batch of ../shared/bench/inputs
///               (torch_batch_{x,guide_y,target}_16x1x64x64);
///   NAME/infer  one inference forward(x, y, out, training = false) of the 512x512 pair
///               (skimage camera = x, moon = y);
/// for the networks
///   cunet-official  mcsc::CuNet, CuNetConfig{}: K = 64, 9x9, 4 untied stages, scalar thresholds
///   cunet-paper     the same with 8x8 filters
///   lcsc            mcsc::LcscNet: K = 64, 8x8, 4 tied stages, per-channel thresholds, decoder K->1
///   lmcsc           mcsc::LmcscNet: K = 85, 5x5, 4 tied stages, per-channel mu (0.2), decoder K->1
/// and, with --scaling, CU-Net official inference at image sides 128 ... 2048 and at 512 with
/// 2, 4 and 8 stages.
///
/// FLOP of a workload: 2 x the multiply-adds of every convolution the step performs (nominal
/// N H W C_in C_out s^2 per pass, forward, input gradient and weight gradient alike; see
/// conv_passes() for the count per network); the elementwise work (thresholds, loss, Adam) is
/// not counted. Memory: every Kokkos allocation and deallocation is tracked through
/// Kokkos::Tools' data callbacks; a workload's peak is the largest number of bytes live at once
/// from the construction of its network to its end, minus what was live before (the inputs):
/// parameters, gradients, Adam's moments and every buffer of the network. The process-wide
/// VmHWM of /proc/self/status is printed too. The number of Kokkos allocations made inside
/// the timed calls is counted (0 expected: buffers are made by the first, untimed, call).
///
/// With --reference-weights DIR (raw state dicts made by benchmarks/compare_torch.py from
/// ../shared/bench/inputs/torch_*_init_weights.npz) the program first runs the same-computation
/// check: the mcsc networks loaded with the PyTorch reference's initial weights against the
/// reference's forward output on the same batch; the timed networks then start from those
/// weights too (cunet-paper with scalar thresholds: the reference's per-channel ones, which are
/// all equal, averaged).
#include "bench_common.hpp"  // first: it includes Eigen

#include <boost/program_options.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "mcsc/io/raw.hpp"
#include "mcsc/nn/cunet.hpp"
#include "mcsc/nn/init.hpp"
#include "mcsc/nn/lmcsc_net.hpp"
#include "mcsc/nn/state_dict.hpp"
#include "mcsc/train/loss.hpp"
#include "mcsc/train/optim.hpp"

#ifndef MCSC_DEFAULT_BENCH_INPUTS
#define MCSC_DEFAULT_BENCH_INPUTS "../shared/bench/inputs"
#endif

namespace po = boost::program_options;

namespace {

using Real = float;
using ExecSpace = Kokkos::DefaultExecutionSpace;
using Tensor = mcsc::Tensor4<Real, ExecSpace>;
using mcsc_bench::GemmResult;
using mcsc_bench::json_number;
using mcsc_bench::json_string;
using mcsc_bench::Timing;

constexpr int kBatch = 16, kPatch = 64, kImage = 512;

// ------------------------------------------------------------------ memory tracking

/// Bytes live in Kokkos allocations (all memory spaces), their high-water mark and the number of
/// allocations, kept up to date by Kokkos::Tools' data callbacks (host thread only: Kokkos
/// allocates outside parallel regions).
namespace memory {
std::int64_t g_live = 0, g_peak = 0, g_allocations = 0;
void on_allocate(const Kokkos::Tools::SpaceHandle, const char*, const void*, const std::uint64_t bytes) {
  g_live += std::int64_t(bytes);
  g_peak = std::max(g_peak, g_live);
  ++g_allocations;
}
void on_deallocate(const Kokkos::Tools::SpaceHandle, const char*, const void*, const std::uint64_t bytes) {
  g_live -= std::int64_t(bytes);
}
void install() {
  Kokkos::Tools::Experimental::set_allocate_data_callback(on_allocate);
  Kokkos::Tools::Experimental::set_deallocate_data_callback(on_deallocate);
}
void uninstall() {
  Kokkos::Tools::Experimental::set_allocate_data_callback(nullptr);
  Kokkos::Tools::Experimental::set_deallocate_data_callback(nullptr);
}
/// Starts a measurement: returns the bytes live now and resets the high-water mark to them.
std::int64_t start() {
  g_peak = g_live;
  return g_live;
}
/// "MemAvailable:  123456 kB" of /proc/meminfo in bytes; -1 where there is none.
std::int64_t available() {
  std::ifstream f("/proc/meminfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("MemAvailable:", 0) == 0) return std::int64_t(std::stoll(line.substr(13))) * 1024;
  return -1;
}
/// "VmHWM:    123456 kB" of /proc/self/status in bytes; -1 where there is none.
std::int64_t process_hwm() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::int64_t(std::stoll(line.substr(6))) * 1024;
  return -1;
}
}  // namespace memory

// ------------------------------------------------------------------ networks

enum class Kind { cunet, lcsc, lmcsc };

/// One network of BENCHMARKS.md.
struct NetSpec {
  const char* name;
  Kind kind;
  int filters, kernel, stages;
  const char* reference;  ///< the PyTorch reference network with the same structure ("" if none)
  const char* description;
};

const NetSpec kNets[] = {
    {"cunet-official", Kind::cunet, 64, 9, 4, "",
     "mcsc::CuNet, CuNetConfig{}: K=64, 9x9, 4 untied stages, scalar thresholds"},
    {"cunet-paper", Kind::cunet, 64, 8, 4, "cunet", "mcsc::CuNet: K=64, 8x8, 4 untied stages, scalar thresholds"},
    {"lcsc", Kind::lcsc, 64, 8, 4, "lcsc",
     "mcsc::LcscNet: K=64, 8x8, 4 tied stages, per-channel thresholds, decoder K->1"},
    {"lmcsc", Kind::lmcsc, 85, 5, 4, "lmcsc",
     "mcsc::LmcscNet: K=85, 5x5, 4 tied stages (guide and target), per-channel mu, decoder K->1"},
};

mcsc::CuNetConfig cunet_config(const NetSpec& spec, int stages, bool per_channel) {
  mcsc::CuNetConfig c;
  c.filters = spec.filters;
  c.kernel = spec.kernel;
  c.stages = stages;
  c.per_channel_threshold = per_channel;
  return c;
}

mcsc::UnrolledNetConfig unrolled_config(const NetSpec& spec, int stages) {
  mcsc::UnrolledNetConfig c;
  c.channels = 1;
  c.filters = spec.filters;
  c.kernel = spec.kernel;
  c.stages = stages;
  c.tied = true;
  c.per_channel_threshold = true;
  c.residual = false;
  return c;
}

/// Convolution passes of one workload, in units of one 1->K (or K->1) "same" convolution of the
/// batch (N H W K s^2 multiply-adds); a 2->K pass counts 2. An LCSC encoder of S stages on c
/// channels: forward (1 + 2S) c (E0 x; D_j U and E_j(D_j U) per stage); backward (4S + 1) c
/// (weight and input gradients of E_j and D_j per stage, the weight gradient of E0) plus c for
/// the input gradient of E0 where the input needs one (CU-Net's c-module).
///   CU-Net: forward 2(1+2S) + 2(1+2S) + 4 (u-, v-, c-modules; conv_u, conv_v, G_u, G_c);
///           backward 4 (G_u, G_c) + 2(4S+2) (c-module) + 4 (conv_u, conv_v) + 2(4S+1) (u, v).
///   LCSC:   forward (1+2S) + 1; backward 2 + (4S+1).
///   LMCSC:  forward 2(1+2S) + 1; backward 2 + 2(4S+1).
/// PyTorch's autograd does the same passes (it skips the input gradient of the convolutions on
/// x and y, which need none, as mcsc does).
double conv_passes(Kind kind, int S, bool training) {
  const double enc_f = 1 + 2.0 * S, enc_b = 4.0 * S + 1;
  switch (kind) {
    case Kind::cunet:
      return 4 * enc_f + 4 + (training ? 4 + 2 * (enc_b + 1) + 4 + 2 * enc_b : 0);
    case Kind::lcsc:
      return enc_f + 1 + (training ? 2 + enc_b : 0);
    case Kind::lmcsc:
      return 2 * enc_f + 1 + (training ? 2 + 2 * enc_b : 0);
  }
  return 0;
}

/// 2 x multiply-adds of one workload on n images of h x w.
double workload_flop(const NetSpec& spec, int stages, bool training, int n, int h, int w) {
  const double unit = double(n) * h * w * spec.filters * double(spec.kernel) * spec.kernel;
  return 2 * unit * conv_passes(spec.kind, stages, training);
}

/// Default initialisation when no reference weights are given: weights N(0, 0.01^2) (both
/// papers), thresholds 0.01, LMCSC's mu 0.2; seeded.
template <class Params>
void default_init(Params& params, Kind kind) {
  mcsc::InitOptions o;
  o.weights = mcsc::WeightInit::normal;
  o.stddev = 0.01;
  o.threshold = 0.01;
  o.seed = 1;
  mcsc::initialize(params, o);
  if (kind == Kind::lmcsc)
    for (const auto& e : params.entries())
      if (e.name.rfind("target.lam", 0) == 0) mcsc::fill(e.value, Real(0.2));
}

/// Loads a raw state dict (index.txt + .f32, see mcsc/nn/state_dict.hpp) into params by name,
/// where a scalar parameter (1,1,1,1) may take the mean of a per-channel one (K,1,1,1): the
/// reference CU-Net's thresholds into the BENCHMARKS.md CU-Net with scalar thresholds.
template <class Params>
void load_weights_for_timing(const std::string& folder, Params& params) {
  std::ifstream index(folder + "/index.txt");
  MCSC_REQUIRE(index.good(), "bench_networks", "cannot open '" << folder << "/index.txt'");
  std::map<std::string, std::pair<std::string, mcsc::Shape4>> entries;
  std::string line;
  while (std::getline(index, line)) {
    std::istringstream ls(line);
    std::string key, file;
    int ndim = 0;
    if (!(ls >> key >> file >> ndim) || ndim < 1) continue;
    std::vector<std::int64_t> dims(std::size_t(ndim), 1);
    for (auto& d : dims) ls >> d;
    entries[key] = {file, mcsc::torch_shape_to_shape4(dims)};
  }
  for (const auto& e : params.entries()) {
    const auto it = entries.find(e.name);
    MCSC_REQUIRE(it != entries.end(), "bench_networks", "'" << e.name << "' is missing from '" << folder << "'");
    const mcsc::Shape4 file_shape = it->second.second;
    const auto values = mcsc::read_raw_f32(folder + "/" + it->second.first, std::size_t(file_shape.size()));
    auto h = mcsc::to_host(e.value);
    if (file_shape == e.shape) {
      for (std::size_t i = 0; i < values.size(); ++i) h.data()[i] = Real(values[i]);
    } else {
      MCSC_REQUIRE(e.shape.size() == 1 && file_shape.c == 1 && file_shape.h == 1 && file_shape.w == 1, "bench_networks",
                   "'" << e.name << "' is " << file_shape << " in '" << folder << "' but " << e.shape << " here");
      double sum = 0;
      for (float v : values) sum += v;
      h.data()[0] = Real(sum / double(values.size()));
    }
    Kokkos::deep_copy(e.value, h);
  }
}

// ------------------------------------------------------------------ inputs

struct Inputs {
  Tensor batch_x, batch_y, batch_target;  ///< (n, 1, p, p)
  Tensor image_x, image_y;                ///< (1, 1, side, side)
};

/// (n, 1, p, p): the first n images of a (16, 1, 64, 64) file, centre-cropped to p x p.
Tensor read_batch(const std::string& path, int n, int p) {
  const auto full = mcsc::read_raw_f32(path, std::size_t(kBatch) * kPatch * kPatch);
  Tensor t = mcsc::make_tensor<Real, ExecSpace>(path, {n, 1, p, p});
  auto h = Kokkos::create_mirror_view(t);
  const int o = (kPatch - p) / 2;
  for (int i = 0; i < n; ++i)
    for (int r = 0; r < p; ++r)
      for (int c = 0; c < p; ++c) h(i, 0, r, c) = full[std::size_t((i * kPatch + r + o) * kPatch + c + o)];
  Kokkos::deep_copy(t, h);
  return t;
}

/// (1, 1, side, side) from a 512x512 image: centre crop for side <= 512, mirrored tiling beyond.
Tensor read_image(const std::string& path, int side) {
  const auto full = mcsc::read_raw_f32(path, std::size_t(kImage) * kImage);
  Tensor t = mcsc::make_tensor<Real, ExecSpace>(path, {1, 1, side, side});
  auto h = Kokkos::create_mirror_view(t);
  const int o = side <= kImage ? (kImage - side) / 2 : 0;
  const auto fold = [](int i) {  // mirrored index into [0, 512)
    const int period = 2 * kImage, m = i % period;
    return m < kImage ? m : period - 1 - m;
  };
  for (int r = 0; r < side; ++r)
    for (int c = 0; c < side; ++c)
      h(0, 0, r, c) = full[std::size_t(fold(r + o) * kImage + fold(c + o))];
  Kokkos::deep_copy(t, h);
  return t;
}

// ------------------------------------------------------------------ measurements

struct Options {
  std::string inputs = MCSC_DEFAULT_BENCH_INPUTS;
  std::string reference_weights;
  std::vector<std::string> only;
  int repeats = 3;
  int warmup = 1;
  double min_time = 0;
  int gemm_size = 2048;
  int batch = kBatch, patch = kPatch, image = kImage;
  int check_images = kBatch;
  double check_tolerance = 1e-4;
  bool quick = false, scaling = false, check_only = false, no_check = false, profile = false;
  std::vector<int> sides = {128, 256, 512, 1024, 2048};
  std::vector<int> stage_counts = {2, 4, 8};
  int stages_side = 512;
  int rounds = 1;
  std::string json_path = "bench_networks.json";
};

struct Result {
  std::string workload, network, kind, detail;  ///< kind: "train" or "infer"
  int n = 0, h = 0, w = 0, stages = 0;
  double flop = 0;
  Timing timing;
  double gflops = 0, ratio_to_gemm = 0;
  std::int64_t peak_bytes = 0, parameter_bytes = 0;
  std::int64_t timed_allocations = 0;
  double loss = NAN;  ///< training: the loss of the last timed step
};

/// Times `call` (warm-up calls untimed, then the timed ones) and fills timing, allocations.
void time_workload(Result& r, const std::function<void()>& call, const Options& opt) {
  for (int i = 0; i < opt.warmup; ++i) call();
  Kokkos::fence();
  const std::int64_t before = memory::g_allocations;
  mcsc_bench::TimingOptions t;
  t.repeats = opt.repeats;
  t.warmup = 0;
  t.min_time = opt.min_time;
  r.timing = mcsc_bench::time_kernel(call, t);
  r.timed_allocations = memory::g_allocations - before;
  if (opt.profile) {
    // as many calls again, each kernel between fences: time per kernel label (to stdout)
    namespace kp = mcsc_bench::kernel_profile;
    kp::install();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < opt.repeats; ++i) call();
    Kokkos::fence();
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    kp::uninstall();
    std::cerr << "\n";
    kp::print(std::cout, r.workload, opt.repeats, total);
  }
}

/// Runs one workload of a constructed network `net` (params already initialised).
template <class Net>
void run_workload(Net& net, Result& r, const Tensor& x, const Tensor& y, const Tensor& target, const Options& opt) {
  Tensor out = mcsc::make_tensor_like("bench_networks::output", x);
  if (r.kind == "infer") {
    time_workload(r, [&] { net.forward(x, y, out, false); }, opt);
    mcsc::require_finite("bench_networks: inference output", out);
    return;
  }
  Tensor grad = mcsc::make_tensor_like("bench_networks::grad_output", x);
  mcsc::AdamOptions adam_options;
  adam_options.learning_rate = 1e-4;
  mcsc::Adam<Real, ExecSpace> adam(net.parameters(), adam_options);
  double loss = 0;
  time_workload(
      r,
      [&] {
        net.forward(x, y, out, true);
        loss = mcsc::mse_loss(out, target, grad);
        net.parameters().zero_grad();
        net.backward(grad);
        adam.step();
      },
      opt);
  r.loss = loss;
  MCSC_REQUIRE(std::isfinite(loss), "bench_networks", r.workload << ": the loss is " << loss);
}

/// Constructs the network of `spec` (with `stages`), initialises it and runs one workload;
/// the memory figures cover the network's whole life.
void measure(const NetSpec& spec, int stages, Result& r, const Tensor& x, const Tensor& y, const Tensor& target,
             const Options& opt, double gemm_gflops) {
  std::cerr << "[" << r.workload << "] " << r.n << "x" << r.h << "x" << r.w << ", " << std::setprecision(4)
            << r.flop * 1e-9 << " GFLOP per call ..." << std::flush;
  const std::int64_t baseline = memory::start();
  const bool reference = !opt.reference_weights.empty() && spec.reference[0] != '\0';
  auto prepare = [&](auto& params) {
    if (reference)
      load_weights_for_timing(opt.reference_weights + "/" + spec.reference, params);
    else
      default_init(params, spec.kind);
    r.parameter_bytes = std::int64_t(params.flat_size() * sizeof(Real));
  };
  r.detail = std::string(spec.description) + (reference ? "; reference initial weights" : "; default init");
  r.stages = stages;
  if (spec.kind == Kind::cunet) {
    mcsc::CuNet<Real, ExecSpace> net(cunet_config(spec, stages, false));
    prepare(net.parameters());
    run_workload(net, r, x, y, target, opt);
  } else if (spec.kind == Kind::lcsc) {
    mcsc::LcscNet<Real, ExecSpace> net(unrolled_config(spec, stages));
    prepare(net.parameters());
    run_workload(net, r, x, y, target, opt);
  } else {
    mcsc::LmcscNet<Real, ExecSpace> net(unrolled_config(spec, stages));
    prepare(net.parameters());
    run_workload(net, r, x, y, target, opt);
  }
  r.peak_bytes = memory::g_peak - baseline;
  r.gflops = r.flop / r.timing.median * 1e-9;
  r.ratio_to_gemm = r.gflops / gemm_gflops;
  std::cerr << " median " << std::fixed << std::setprecision(1) << r.timing.median * 1e3 << " ms, "
            << std::setprecision(2) << r.gflops << " GFLOP/s, peak " << std::setprecision(1)
            << double(r.peak_bytes) / (1 << 20) << " MiB" << std::defaultfloat << std::endl;
  if (r.timed_allocations != 0)
    std::cerr << "bench_networks: warning: " << r.timed_allocations << " Kokkos allocation(s) inside the timed calls of "
              << r.workload << "\n";
}

// ------------------------------------------------------------------ same-computation check

struct CheckResult {
  std::string network, mcsc_model, mapping;
  int images = 0;
  double max_abs_diff = 0, max_abs_ref = 0, rel_max = 0, rel_l2 = 0;
  double loss = NAN, reference_loss = NAN;
  bool pass = false;
};

/// What the check compares and how the reference's parameters were mapped (for the report).
const char* check_mapping(const std::string& name) {
  if (name == "cunet")
    return "CuNet(K=64, s=8, 4 stages, per-channel thresholds): net_{u,v,z}.layer_in = l{u,v,c}.E.0, "
           "up_conv_j = E.{j+1}, down_conv_j = D.j, lam_in = theta.0, lam_j = theta.{j+1}; conv_u/v = Du/Dv; "
           "decoder.conv_1/2 = Gu/Gc. The reference stage is U + E_j(x - D_j U), mcsc's p1 + U - E_j D_j U: "
           "equal while E_j = E_0 (true of these initial weights), so this checks the initial forward only";
  if (name == "lcsc")
    return "LcscNet(K=64, s=8, 4 tied stages, per-channel): encoder.layer_in = encoder.up_conv = enc.E.0, "
           "encoder.down_conv = enc.D.0, encoder.lam_in = encoder.lam = enc.theta.0, decoder = dec (the reference "
           "ties E0 to E and theta0 to theta; mcsc unties them: same forward, same cost, one more E and threshold "
           "to train)";
  return "LmcscNet(K=85, s=5, 4 tied stages, per-channel): guide.layer_in = guide.up_conv = guide.E.0, "
         "guide.down_conv = guide.D.0, guide.lam_in = guide.lam = guide.theta.0; target.layer_in = P, "
         "target.up_conv = Q, target.down_conv = R, target.lam_in = target.lam = mu; decoder = dec (ties as for "
         "lcsc)";
}

std::vector<CheckResult> run_check(const Options& opt) {
  std::vector<CheckResult> results;
  const int n = opt.check_images;
  const Tensor x = read_batch(opt.inputs + "/torch_batch_x_16x1x64x64.f32", n, kPatch);
  const Tensor y = read_batch(opt.inputs + "/torch_batch_guide_y_16x1x64x64.f32", n, kPatch);
  const Tensor target = read_batch(opt.inputs + "/torch_batch_target_16x1x64x64.f32", n, kPatch);
  for (const std::string name : {"cunet", "lcsc", "lmcsc"}) {
    CheckResult c;
    c.network = name;
    c.images = n;
    c.mapping = check_mapping(name);
    std::cerr << "[check " << name << "] forward of " << n << " image(s) ..." << std::flush;
    const Tensor expected =
        read_batch(opt.inputs + "/torch_" + name + "_forward_out_init_16x1x64x64.f32", n, kPatch);
    Tensor out = mcsc::make_tensor_like("bench_networks::check_output", x);
    const std::string folder = opt.reference_weights + "/" + name;
    if (name == "cunet") {
      const NetSpec& spec = kNets[1];
      mcsc::CuNet<Real, ExecSpace> net(cunet_config(spec, 4, true));
      mcsc::load_raw_state_dict(folder, net.parameters());
      net.forward(x, y, out, false);
      c.mcsc_model = "CuNet " + net.config_string();
    } else if (name == "lcsc") {
      mcsc::LcscNet<Real, ExecSpace> net(unrolled_config(kNets[2], 4));
      mcsc::load_raw_state_dict(folder, net.parameters());
      net.forward(x, y, out, false);
      c.mcsc_model = "LcscNet " + net.config_string();
    } else {
      mcsc::LmcscNet<Real, ExecSpace> net(unrolled_config(kNets[3], 4));
      mcsc::load_raw_state_dict(folder, net.parameters());
      net.forward(x, y, out, false);
      c.mcsc_model = "LmcscNet " + net.config_string();
    }
    c.max_abs_diff = mcsc::max_abs_diff(out, expected);
    c.max_abs_ref = mcsc::max_abs_diff(expected, mcsc::make_tensor_like("zero", expected));
    c.rel_max = c.max_abs_diff / c.max_abs_ref;
    c.rel_l2 = std::sqrt(mcsc::distance_squared(out, expected) / mcsc::sum_squares(expected));
    c.loss = mcsc::mse_loss(out, target, Tensor());
    c.pass = c.rel_max <= opt.check_tolerance;
    std::cerr << " max|diff|/max|ref| " << std::scientific << std::setprecision(2) << c.rel_max << ", rel. L2 "
              << c.rel_l2 << std::defaultfloat << (c.pass ? " (match)" : " (MISMATCH)") << std::endl;
    results.push_back(c);
  }
  return results;
}

// ------------------------------------------------------------------ output

struct RunInfo {
  std::string command;
  int threads = 0;
  std::string load_before, load_after;
  std::int64_t process_hwm = -1;
  std::vector<std::string> skipped;  ///< workloads left out, and why
};

std::string mib(std::int64_t bytes) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(1) << double(bytes) / (1 << 20);
  return os.str();
}

void print_results(std::ostream& os, const Options& opt, const RunInfo& info, const GemmResult* gemm,
                   const std::vector<CheckResult>& checks, const std::vector<Result>& results) {
  os << "bench_networks: float32, Kokkos " << mcsc_bench::kokkos_version() << " (" << ExecSpace::name() << "), "
     << info.threads << " thread(s); Eigen " << mcsc_bench::eigen_version() << "\n";
  if (!results.empty() && opt.scaling)
    os << "scaling: CU-Net official inference of one image pair per side (centre crop or mirrored tiling of the "
          "512x512 pair), stages at side "
       << opt.stages_side << "; repeats >= " << opt.repeats << ", warm-up " << opt.warmup << ", rounds " << opt.rounds
       << " (timings over all rounds' samples)\n";
  else if (!results.empty())
    os << "train: batch " << opt.batch << "x1x" << opt.patch << "x" << opt.patch << ", forward + MSE + backward + Adam; "
     << "infer: one " << opt.image << "x" << opt.image << " pair; repeats >= " << opt.repeats << ", warm-up "
     << opt.warmup << ", min-time " << opt.min_time << " s\n";
  os << "/proc/loadavg before: " << info.load_before << "; after: " << info.load_after << "\n";
  if (gemm) os << mcsc_bench::gemm_summary(*gemm) << "\n";
  if (!checks.empty()) {
    os << "\nsame-computation check (initial weights of the PyTorch reference, forward on " << checks[0].images
       << " image(s) of the batch, tolerance " << opt.check_tolerance << " on max|diff|/max|ref|):\n"
       << std::left << std::setw(8) << "network" << std::right << std::setw(14) << "max|diff|" << std::setw(14)
       << "max|ref|" << std::setw(12) << "rel.max" << std::setw(12) << "rel.L2" << std::setw(14) << "MSE loss"
       << "  result\n";
    for (const CheckResult& c : checks)
      os << std::left << std::setw(8) << c.network << std::right << std::scientific << std::setprecision(3)
         << std::setw(14) << c.max_abs_diff << std::setw(14) << c.max_abs_ref << std::setprecision(2) << std::setw(12)
         << c.rel_max << std::setw(12) << c.rel_l2 << std::defaultfloat << std::setprecision(8) << std::setw(14)
         << c.loss << "  " << (c.pass ? "match" : "MISMATCH") << "\n";
  }
  if (results.empty()) return;
  os << "\n"
     << std::left << std::setw(22) << "workload" << std::right << std::setw(6) << "stage" << std::setw(16) << "shape"
     << std::setw(9) << "GFLOP" << std::setw(11) << "median ms" << std::setw(10) << "min ms" << std::setw(10)
     << "max ms" << std::setw(9) << "GFLOP/s" << std::setw(8) << "/GEMM" << std::setw(10) << "ns/pixel"
     << std::setw(10) << "peak MiB" << std::setw(9) << "allocs" << "\n";
  for (const Result& r : results) {
    std::ostringstream shape;
    shape << r.n << "x1x" << r.h << "x" << r.w;
    const double per_pixel = r.timing.median / (double(r.n) * r.h * r.w) * 1e9;
    os << std::left << std::setw(22) << r.workload << std::right << std::setw(6) << r.stages << std::setw(16)
       << shape.str() << std::fixed << std::setprecision(2) << std::setw(9) << r.flop * 1e-9 << std::setprecision(1)
       << std::setw(11) << r.timing.median * 1e3 << std::setw(10) << r.timing.min * 1e3 << std::setw(10)
       << r.timing.max * 1e3 << std::setprecision(2) << std::setw(9) << r.gflops << std::setprecision(4)
       << std::setw(8) << r.ratio_to_gemm << std::setprecision(1) << std::setw(10) << per_pixel << std::setw(10)
       << mib(r.peak_bytes) << std::setw(9) << r.timed_allocations << std::defaultfloat << "\n";
  }
  os << "\nGFLOP: 2 x multiply-adds of all convolutions of one call (forward, input and weight gradients; elementwise\n"
        "work not counted). peak MiB: largest Kokkos memory live at once during the workload (parameters,\n"
        "gradients, Adam moments, all buffers), inputs excluded. allocs: Kokkos allocations inside the timed calls.\n"
     << "process VmHWM (whole run, all workloads): " << mib(info.process_hwm) << " MiB\n";
  for (const std::string& s : info.skipped) os << "skipped " << s << "\n";
}

void write_json(std::ostream& f, const Options& opt, const RunInfo& info, const GemmResult* gemm,
                const std::vector<CheckResult>& checks, const std::vector<Result>& results) {
  f << std::setprecision(10);
  f << "{\n  \"benchmark\": \"bench_networks\",\n  \"command\": " << json_string(info.command) << ",\n"
    << "  \"precision\": \"float32\",\n  \"kokkos_version\": " << json_string(mcsc_bench::kokkos_version())
    << ",\n  \"execution_space\": " << json_string(ExecSpace::name()) << ",\n  \"threads\": " << info.threads
    << ",\n  \"loadavg_before\": " << json_string(info.load_before)
    << ",\n  \"loadavg_after\": " << json_string(info.load_after) << ",\n  \"process_vmhwm_bytes\": "
    << info.process_hwm << ",\n  \"skipped\": [";
  for (std::size_t i = 0; i < info.skipped.size(); ++i) f << (i ? ", " : "") << json_string(info.skipped[i]);
  f << "],\n  \"options\": {\"inputs\": " << json_string(opt.inputs)
    << ", \"reference_weights\": " << json_string(opt.reference_weights) << ", \"repeats\": " << opt.repeats
    << ", \"rounds\": " << opt.rounds
    << ", \"warmup\": " << opt.warmup << ", \"min_time\": " << opt.min_time << ", \"batch\": " << opt.batch
    << ", \"patch\": " << opt.patch << ", \"image\": " << opt.image << ", \"quick\": " << (opt.quick ? "true" : "false")
    << ", \"scaling\": " << (opt.scaling ? "true" : "false") << "},\n"
    << "  \"flop_model\": \"2 x multiply-adds of every convolution pass (forward, input gradient, weight gradient), "
       "N H W C_in C_out s^2 each; elementwise work not counted\",\n"
    << "  \"memory_model\": \"peak bytes of Kokkos allocations live at once during the workload (network "
       "construction to end), minus those live before it (the inputs); Kokkos::Tools data callbacks\",\n"
    << "  \"gemm\": " << (gemm ? mcsc_bench::json_gemm(*gemm) : std::string("null")) << ",\n  \"check\": [";
  for (std::size_t i = 0; i < checks.size(); ++i) {
    const CheckResult& c = checks[i];
    f << (i ? "," : "") << "\n    {\"network\": " << json_string(c.network) << ", \"mcsc_model\": "
      << json_string(c.mcsc_model) << ", \"images\": " << c.images << ", \"max_abs_diff\": " << c.max_abs_diff
      << ", \"max_abs_reference\": " << c.max_abs_ref << ", \"rel_max\": " << c.rel_max << ", \"rel_l2\": " << c.rel_l2
      << ", \"mse_loss\": " << json_number(c.loss) << ", \"tolerance\": " << opt.check_tolerance
      << ", \"match\": " << (c.pass ? "true" : "false") << ", \"mapping\": " << json_string(c.mapping) << "}";
  }
  f << (checks.empty() ? "" : "\n  ") << "],\n  \"results\": [";
  for (std::size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    f << (i ? "," : "") << "\n    {\"workload\": " << json_string(r.workload) << ", \"network\": "
      << json_string(r.network) << ", \"kind\": " << json_string(r.kind) << ", \"detail\": " << json_string(r.detail)
      << ", \"stages\": " << r.stages << ", \"shape\": [" << r.n << ", 1, " << r.h << ", " << r.w << "], \"flop\": "
      << r.flop << ", " << mcsc_bench::json_timing(r.timing) << ", \"gflops\": " << r.gflops
      << ", \"ratio_to_gemm\": " << r.ratio_to_gemm << ", \"seconds_per_pixel\": "
      << r.timing.median / (double(r.n) * r.h * r.w) << ", \"peak_bytes\": " << r.peak_bytes
      << ", \"parameter_bytes\": " << r.parameter_bytes << ", \"timed_allocations\": " << r.timed_allocations
      << ", \"loss\": " << json_number(r.loss) << "}";
  }
  f << (results.empty() ? "" : "\n  ") << "]\n}\n";
}

// ------------------------------------------------------------------ command line

po::options_description make_options(Options& opt) {
  po::options_description desc(
      "Usage: bench_networks [options] [--kokkos-... options]\n"
      "Times a training step and an inference of CU-Net (official and paper configurations), the LCSC and the LMCSC\n"
      "networks (BENCHMARKS.md, \"Networks\"; --scaling: \"Scaling\") against this machine's Eigen SGEMM rate.\n"
      "Run with OMP_NUM_THREADS=2 OMP_PROC_BIND=false.\n\n"
      "Options");
  desc.add_options()("help,h", "print this help and exit")(
      "inputs", po::value<std::string>(&opt.inputs)->default_value(opt.inputs),
      "folder of the benchmark inputs (../shared/bench/inputs)")(
      "reference-weights", po::value<std::string>(&opt.reference_weights),
      "folder with the PyTorch reference's initial weights as raw state dicts (cunet/, lcsc/, lmcsc/; made by "
      "compare_torch.py): run the same-computation check and start the timed networks from them")(
      "check-only", po::bool_switch(&opt.check_only), "only the same-computation check (needs --reference-weights)")(
      "no-check", po::bool_switch(&opt.no_check), "with --reference-weights: skip the check, only start from them")(
      "check-images", po::value<int>(&opt.check_images)->default_value(opt.check_images),
      "images of the batch the check runs (--quick: 2)")(
      "check-tolerance", po::value<double>(&opt.check_tolerance)->default_value(opt.check_tolerance),
      "largest max|diff|/max|ref| that counts as the same output")(
      "only", po::value<std::vector<std::string>>(&opt.only)->multitoken(),
      "run only these workloads: a network (cunet-official, cunet-paper, lcsc, lmcsc), a kind (train, infer) or "
      "one workload (lcsc/train); several allowed")(
      "repeats,r", po::value<int>(&opt.repeats)->default_value(opt.repeats), "timed calls per workload (--quick: 1)")(
      "warmup", po::value<int>(&opt.warmup)->default_value(opt.warmup),
      "untimed calls before them (the first call allocates the buffers)")(
      "min-time", po::value<double>(&opt.min_time)->default_value(opt.min_time),
      "keep adding timed calls until they add up to this many seconds")(
      "batch", po::value<int>(&opt.batch)->default_value(opt.batch), "training images (1-16; --quick: 2)")(
      "patch", po::value<int>(&opt.patch)->default_value(opt.patch), "training patch side (centre crop; --quick: 32)")(
      "image", po::value<int>(&opt.image)->default_value(opt.image),
      "inference image side (centre crop or mirrored tiling of the 512x512 pair; --quick: 64)")(
      "scaling", po::bool_switch(&opt.scaling),
      "instead of the network workloads: CU-Net official inference at --sides, and at --stages-side with "
      "--stages")(
      "sides", po::value<std::vector<int>>(&opt.sides)->multitoken()->default_value(opt.sides, "128 256 512 1024 2048"),
      "image sides of the scaling series (--quick: 32 64)")(
      "stages", po::value<std::vector<int>>(&opt.stage_counts)->multitoken()->default_value(opt.stage_counts, "2 4 8"),
      "stage counts of the scaling series (--quick: 1 2)")(
      "stages-side", po::value<int>(&opt.stages_side)->default_value(opt.stages_side),
      "image side of the stage series (--quick: 64)")(
      "rounds", po::value<int>(&opt.rounds)->default_value(opt.rounds),
      "run the scaling series this many times, each round every workload in turn; a workload's timing is "
      "that of its samples of all rounds")(
      "gemm-size", po::value<int>(&opt.gemm_size)->default_value(opt.gemm_size),
      "side of the square GEMM reference (--quick: 512)")(
      "json", po::value<std::string>(&opt.json_path)->default_value(opt.json_path), "where to write the JSON results")(
      "profile", po::bool_switch(&opt.profile),
      "after each workload's timed calls, as many again with every kernel fenced: the time per Kokkos kernel "
      "label (stdout)")(
      "quick", po::bool_switch(&opt.quick),
      "smoke run (seconds): batch 2 of 32x32, 64x64 inference, 1 timed call, small GEMM");
  return desc;
}

int usage_error(const std::string& message, const po::options_description& desc) {
  std::cerr << "bench_networks: " << message << "\n\n" << desc << "\n";
  return 2;
}

bool selected(const Options& opt, const std::string& network, const std::string& kind) {
  if (opt.only.empty()) return true;
  for (const std::string& o : opt.only)
    if (o == network || o == kind || o == network + "/" + kind) return true;
  return false;
}

bool known_selector(const std::string& o) {
  for (const NetSpec& s : kNets)
    for (const char* k : {"", "train", "infer"})
      if (o == s.name || o == k || o == std::string(s.name) + "/" + k) return !o.empty();
  return false;
}

int run(int argc, char** argv, const std::string& command) {
  Options opt;
  const po::options_description desc = make_options(opt);
  po::variables_map vm;
  if (const int status = mcsc_bench::parse_command_line("bench_networks", argc, argv, desc, vm); status >= 0)
    return status;
  if (opt.quick) {
    if (vm["repeats"].defaulted()) opt.repeats = 1;
    if (vm["gemm-size"].defaulted()) opt.gemm_size = 512;
    if (vm["batch"].defaulted()) opt.batch = 2;
    if (vm["patch"].defaulted()) opt.patch = 32;
    if (vm["image"].defaulted()) opt.image = 64;
    if (vm["check-images"].defaulted()) opt.check_images = 2;
    if (vm["sides"].defaulted()) opt.sides = {32, 64};
    if (vm["stages"].defaulted()) opt.stage_counts = {1, 2};
    if (vm["stages-side"].defaulted()) opt.stages_side = 64;
  }
  if (opt.repeats < 1) return usage_error("--repeats must be at least 1", desc);
  if (opt.warmup < 0) return usage_error("--warmup must not be negative", desc);
  if (!(opt.min_time >= 0)) return usage_error("--min-time must not be negative", desc);
  if (opt.gemm_size < 1) return usage_error("--gemm-size must be at least 1", desc);
  if (opt.batch < 1 || opt.batch > kBatch) return usage_error("--batch must be 1 to 16", desc);
  if (opt.patch < 1 || opt.patch > kPatch) return usage_error("--patch must be 1 to 64", desc);
  if (opt.image < 1) return usage_error("--image must be at least 1", desc);
  if (opt.check_images < 1 || opt.check_images > kBatch) return usage_error("--check-images must be 1 to 16", desc);
  if (!(opt.check_tolerance >= 0)) return usage_error("--check-tolerance must not be negative", desc);
  if (opt.stages_side < 1) return usage_error("--stages-side must be at least 1", desc);
  if (opt.rounds < 1) return usage_error("--rounds must be at least 1", desc);
  for (int s : opt.sides)
    if (s < 1) return usage_error("--sides must be at least 1", desc);
  for (int s : opt.stage_counts)
    if (s < 0) return usage_error("--stages must not be negative", desc);
  for (const std::string& o : opt.only)
    if (!known_selector(o)) return usage_error("--only: unknown workload '" + o + "'", desc);
  if (opt.check_only && opt.reference_weights.empty())
    return usage_error("--check-only needs --reference-weights", desc);
  if (opt.check_only && opt.no_check) return usage_error("--check-only and --no-check exclude each other", desc);

  RunInfo info;
  info.command = command;
  info.threads = int(ExecSpace().concurrency());
  info.load_before = mcsc_bench::load_average();
  std::ofstream json(opt.json_path);
  if (!json) throw std::runtime_error("cannot write '" + opt.json_path + "'");
  std::cerr << "bench_networks: Kokkos " << mcsc_bench::kokkos_version() << " " << ExecSpace::name() << ", "
            << info.threads << " thread(s)\n";
  memory::install();

  std::vector<CheckResult> checks;
  if (!opt.reference_weights.empty() && !opt.no_check) checks = run_check(opt);

  GemmResult gemm;
  std::vector<Result> results;
  if (!opt.check_only) {
    mcsc_bench::TimingOptions gemm_timing;
    gemm_timing.repeats = opt.quick ? 1 : 5;
    gemm_timing.warmup = 1;
    gemm = mcsc_bench::measure_gemm(opt.gemm_size, info.threads, gemm_timing, "bench_networks");
    const NetSpec& official = kNets[0];
    if (opt.scaling) {
      // --rounds: the whole series again, each round every workload in turn, so that a spell of
      // foreign load falls on all of them; a workload's timing is that of its samples of all rounds.
      std::map<std::string, std::size_t> index;
      auto record = [&](const Result& r) {
        const auto it = index.find(r.workload);
        if (it == index.end()) {
          index[r.workload] = results.size();
          results.push_back(r);
          return;
        }
        Result& m = results[it->second];
        m.timing = mcsc_bench::merge(m.timing, r.timing);
        m.peak_bytes = std::max(m.peak_bytes, r.peak_bytes);
        m.timed_allocations += r.timed_allocations;
        m.gflops = m.flop / m.timing.median * 1e-9;
        m.ratio_to_gemm = m.gflops / gemm.gflops;
      };
      for (int round = 0; round < opt.rounds; ++round) {
        if (opt.rounds > 1) std::cerr << "round " << round + 1 << " of " << opt.rounds << "\n";
        // Memory grows with the pixels: a side whose peak, extrapolated from the previous side's,
        // would take more than 80 % of MemAvailable is skipped (never risk the OOM killer on a
        // shared machine).
        double bytes_per_pixel = 0;
        for (int side : opt.sides) {
          const double predicted = bytes_per_pixel * double(side) * side;
          const std::int64_t free_bytes = memory::available();
          if (free_bytes > 0 && predicted > 0.8 * double(free_bytes)) {
            std::cerr << "[scaling/side" << side << "] skipped: needs about " << mib(std::int64_t(predicted))
                      << " MiB (extrapolated), " << mib(free_bytes) << " MiB available\n";
            if (round == 0)
              info.skipped.push_back("scaling/side" + std::to_string(side) + ": needs about " +
                                     mib(std::int64_t(predicted)) + " MiB, " + mib(free_bytes) + " MiB available");
            continue;
          }
          const Tensor x = read_image(opt.inputs + "/skimage_camera_512_512x512.f32", side);
          const Tensor y = read_image(opt.inputs + "/skimage_moon_512_512x512.f32", side);
          Result r;
          r.network = official.name;
          r.kind = "infer";
          r.workload = std::string("scaling/side") + std::to_string(side);
          r.n = 1, r.h = side, r.w = side;
          r.flop = workload_flop(official, official.stages, false, 1, side, side);
          measure(official, official.stages, r, x, y, Tensor(), opt, gemm.gflops);
          bytes_per_pixel = std::max(bytes_per_pixel, double(r.peak_bytes) / (double(side) * side));
          record(r);
        }
        const Tensor x = read_image(opt.inputs + "/skimage_camera_512_512x512.f32", opt.stages_side);
        const Tensor y = read_image(opt.inputs + "/skimage_moon_512_512x512.f32", opt.stages_side);
        for (int stages : opt.stage_counts) {
          Result r;
          r.network = official.name;
          r.kind = "infer";
          r.workload = std::string("scaling/stages") + std::to_string(stages);
          r.n = 1, r.h = opt.stages_side, r.w = opt.stages_side;
          r.flop = workload_flop(official, stages, false, 1, opt.stages_side, opt.stages_side);
          measure(official, stages, r, x, y, Tensor(), opt, gemm.gflops);
          record(r);
        }
      }
    } else {
      const Tensor bx = read_batch(opt.inputs + "/torch_batch_x_16x1x64x64.f32", opt.batch, opt.patch);
      const Tensor by = read_batch(opt.inputs + "/torch_batch_guide_y_16x1x64x64.f32", opt.batch, opt.patch);
      const Tensor bt = read_batch(opt.inputs + "/torch_batch_target_16x1x64x64.f32", opt.batch, opt.patch);
      const Tensor ix = read_image(opt.inputs + "/skimage_camera_512_512x512.f32", opt.image);
      const Tensor iy = read_image(opt.inputs + "/skimage_moon_512_512x512.f32", opt.image);
      for (const NetSpec& spec : kNets)
        for (const char* kind : {"train", "infer"}) {
          if (!selected(opt, spec.name, kind)) continue;
          const bool train = std::string(kind) == "train";
          Result r;
          r.network = spec.name;
          r.kind = kind;
          r.workload = std::string(spec.name) + "/" + kind;
          r.n = train ? opt.batch : 1;
          r.h = r.w = train ? opt.patch : opt.image;
          r.flop = workload_flop(spec, spec.stages, train, r.n, r.h, r.w);
          if (train)
            measure(spec, spec.stages, r, bx, by, bt, opt, gemm.gflops);
          else
            measure(spec, spec.stages, r, ix, iy, Tensor(), opt, gemm.gflops);
          results.push_back(r);
        }
    }
  }
  memory::uninstall();
  info.load_after = mcsc_bench::load_average();
  info.process_hwm = memory::process_hwm();
  std::cout << "command: " << command << "\n";
  print_results(std::cout, opt, info, opt.check_only ? nullptr : &gemm, checks, results);
  write_json(json, opt, info, opt.check_only ? nullptr : &gemm, checks, results);
  json.close();
  if (!json) throw std::runtime_error("error while writing '" + opt.json_path + "'");
  std::cerr << "bench_networks: wrote " << opt.json_path << "\n";
  for (const CheckResult& c : checks)
    if (!c.pass) {
      std::cerr << "bench_networks: the same-computation check failed for " << c.network << "\n";
      return 1;
    }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return mcsc_bench::benchmark_main("bench_networks", argc, argv, run); }
