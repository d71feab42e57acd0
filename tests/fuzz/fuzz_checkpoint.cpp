// libFuzzer harness: checkpoints (mcsc::read_checkpoint_info, mcsc::load_checkpoint, and a
// trainer's resume, which also parses the trainer's state). The input is the checkpoint's body:
// the harness adds the magic in front and the checksum behind, so that mutations reach the
// parser instead of stopping at the checksum (a file with a wrong one is tested elsewhere).
// With MCSC_FUZZ_WRITE_SEEDS=DIR it writes seed bodies (tiny CU-Net and LMCSC runs) and exits.
#include "fuzz_common.hpp"
#include "mcsc/nn/cunet.hpp"
#include "mcsc/nn/init.hpp"
#include "mcsc/nn/lmcsc_net.hpp"
#include "mcsc/train/checkpoint.hpp"
#include "mcsc/train/trainer.hpp"

namespace {
using Space = Kokkos::DefaultHostExecutionSpace;
using CuNet = mcsc::CuNet<float, Space>;
using Lmcsc = mcsc::LmcscNet<float, Space>;

mcsc::TrainerOptions small_options() {
  mcsc::TrainerOptions o;
  o.epochs = 2;
  o.steps_per_epoch = 1;
  o.batch_size = 1;
  o.patch_size = 8;
  o.progress = false;
  return o;
}

template <class Net, class Config>
void try_model(const std::string& path, const mcsc::CheckpointInfo& info, const Config& c) {
  Net net(c);
  mcsc::load_checkpoint(path, net.parameters(), Net::type_name, net.config_string());
  mcsc::Trainer<Net> trainer(net, small_options());
  trainer.resume(path);
  (void)info;
}

// Small models only: a crafted configuration must not make the harness allocate gigabytes.
bool small(int channels, int filters, int kernel, int stages) {
  return channels >= 1 && channels <= 3 && filters >= 1 && filters <= 8 && kernel >= 1 && kernel <= 7 && stages >= 0 &&
         stages <= 3;
}

void check(const std::string& path) {
  const auto info = mcsc::read_checkpoint_info(path);
  if (info.model_type == CuNet::type_name) {
    const auto c = CuNet::config_from_string(info.model_config);
    if (small(c.channels, c.filters, c.kernel, c.stages)) try_model<CuNet>(path, info, c);
  } else if (info.model_type == Lmcsc::type_name) {
    const auto c = Lmcsc::config_from_string(info.model_config);
    if (small(c.channels, c.filters, c.kernel, c.stages)) try_model<Lmcsc>(path, info, c);
  }
}

// Writes a checkpoint of a tiny model trained one epoch, and its body as a seed.
template <class Net, class Config>
void write_seed(const std::string& dir, const std::string& name, const Config& c) {
  Net net(c);
  mcsc::InitOptions init;
  mcsc::initialize(net.parameters(), init);
  mcsc::ImageTriplet t;
  t.name = "seed";
  t.channels = c.channels;
  t.height = t.width = 12;
  for (int i = 0; i < 144 * c.channels; ++i) {
    t.target.push_back(float(i % 13) / 13.f);
    t.guide.push_back(float(i % 7) / 7.f);
    t.input.push_back(float(i % 5) / 5.f);
  }
  auto o = small_options();
  o.epochs = 1;
  o.checkpoint_path = dir + "/" + name + ".mcsc";
  mcsc::Trainer<Net>(net, o).fit({t}, {});
  std::ifstream in(o.checkpoint_path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir + "/" + name, std::ios::binary)
      .write(bytes.data() + sizeof(mcsc::Impl::checkpoint_magic), std::streamsize(bytes.size() - sizeof(mcsc::Impl::checkpoint_magic) - 8));
  std::remove(o.checkpoint_path.c_str());
}

void write_seeds(const std::string& dir) {
  mcsc::CuNetConfig c;
  c.filters = 2;
  c.kernel = 3;
  c.stages = 1;
  write_seed<CuNet>(dir, "cunet", c);
  c.fusion = true;
  c.residual = true;
  write_seed<CuNet>(dir, "cunet_fusion", c);
  mcsc::UnrolledNetConfig l;
  l.filters = 2;
  l.kernel = 3;
  l.stages = 1;
  write_seed<Lmcsc>(dir, "lmcsc", l);
}
[[maybe_unused]] const bool registered = (mcsc_fuzz::seed_writer = &write_seeds, true);
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<char> bytes(mcsc::Impl::checkpoint_magic, mcsc::Impl::checkpoint_magic + sizeof(mcsc::Impl::checkpoint_magic));
  bytes.insert(bytes.end(), data, data + size);
  const std::uint64_t sum = mcsc::Impl::fnv1a(bytes.data(), bytes.size());
  const char* p = reinterpret_cast<const char*>(&sum);
  bytes.insert(bytes.end(), p, p + 8);
  const std::string path =
      mcsc_fuzz::write_input(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), ".mcsc");
  mcsc_fuzz::expect_clear_error([&] { check(path); });
  return 0;
}
