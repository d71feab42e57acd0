// libFuzzer harness: raw state-dict exports (mcsc::load_raw_state_dict: a folder with index.txt,
// "key file ndim d1 .. dn" per line, and one raw float32 file per parameter), as mcsc-solve and
// the parity tests read official weights. The input is index.txt up to the first NUL byte; the
// rest is written to each file the index names (at most 64), so that both the index parser and the
// size checks of the raw reader are reached.
#include <filesystem>
#include <set>
#include <sstream>

#include "fuzz_common.hpp"
#include "mcsc/nn/cunet.hpp"
#include "mcsc/nn/state_dict.hpp"

namespace {
using Net = mcsc::CuNet<float, Kokkos::DefaultHostExecutionSpace>;

Net small_net() {
  mcsc::CuNetConfig c;
  c.filters = 2;
  c.kernel = 3;
  c.stages = 1;
  return Net(c);
}

// Seeds: the index of the harness's model (every key, its file and torch shape) with the data of
// a 3x3 filter, and a one-line index.
void write_seeds(const std::string& dir) {
  auto net = small_net();
  std::ostringstream index;
  int k = 0;
  for (const auto& e : net.parameters().entries()) {
    index << e.name << " p" << k++ << ".f32 4 " << e.shape.n << " " << e.shape.c << " " << e.shape.h << " "
          << e.shape.w << "\n";
  }
  const std::string zeros(4 * 9, '\0');
  std::ofstream(dir + "/all", std::ios::binary) << index.str() << '\0' << zeros;
  std::ofstream(dir + "/one", std::ios::binary) << "conv_u.weight w.f32 4 1 2 3 3\n" << '\0' << zeros;
}
[[maybe_unused]] const bool registered = (mcsc_fuzz::seed_writer = &write_seeds, true);
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fs = std::filesystem;
  std::size_t split = 0;
  while (split < size && data[split] != 0) ++split;
  const std::string index(reinterpret_cast<const char*>(data), split);
  const std::size_t rest = split < size ? split + 1 : size;
  const fs::path dir = mcsc_fuzz::write_input(data, 0, ".state_dict");
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "index.txt", std::ios::binary) << index;
  std::istringstream lines(index);
  std::string line;
  std::set<std::string> written;
  while (std::getline(lines, line) && written.size() < 64) {
    std::istringstream ls(line);
    std::string key, file;
    ls >> key >> file;
    // a plain file name inside the folder (the harness must not write elsewhere)
    if (file.empty() || file.find('/') != std::string::npos || file == "." || file == ".." || file == "index.txt")
      continue;
    if (written.insert(file).second)
      std::ofstream(dir / file, std::ios::binary)
          .write(reinterpret_cast<const char*>(data + rest), std::streamsize(size - rest));
  }
  auto net = small_net();
  mcsc_fuzz::expect_clear_error([&] { mcsc::load_raw_state_dict(dir.string(), net.parameters()); });
  fs::remove_all(dir);
  return 0;
}
