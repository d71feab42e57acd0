// Prints "epoch N" of a checkpoint after verifying it whole (its checksum): mpi_trainer_kill's
// check that the checkpoint a killed run left behind is intact.
#include <cstdio>
#include <exception>

#include "mcsc/train/checkpoint.hpp"

int main(int argc, char* argv[]) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CHECKPOINT\n", argv[0]);
    return 2;
  }
  try {
    const auto info = mcsc::read_checkpoint_info(argv[1]);
    std::printf("%s checkpoint, epoch %lld\n", info.model_type.c_str(), static_cast<long long>(info.epoch));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 1;
  }
}
