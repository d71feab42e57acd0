#pragma once
/// What the training tests share (tests/test_trainer.cpp and the MPI tests, tests/mpi/test_mpi.cpp,
/// which has no Catch2): the tests' initialisation and images of fixed patterns.
#include <string>

#include "mcsc/data/patches.hpp"
#include "mcsc/nn/init.hpp"

namespace mcsc_test {

/// Xavier-uniform weights, thresholds 0.01, seed 7.
template <class Net>
void init_for_training(Net& net) {
  mcsc::InitOptions i;
  i.weights = mcsc::WeightInit::xavier_uniform;
  i.threshold = 0.01;
  i.seed = 7;
  mcsc::initialize(net.parameters(), i);
}

/// A grey h x w triplet of fixed patterns named "synthetic" (no ../shared needed), values in
/// [0, 1]: target ((37 i + shift) mod 101) / 100, guide ((53 i) mod 97) / 96 and input the target
/// plus a small pattern, for pixel i in row-major order.
inline mcsc::ImageTriplet pattern_triplet(int h, int w, int shift = 0) {
  mcsc::ImageTriplet t;
  t.name = "synthetic";
  t.channels = 1;
  t.height = h;
  t.width = w;
  for (int i = 0; i < h * w; ++i) {
    t.target.push_back(float((i * 37 + shift) % 101) / 100.f);
    t.guide.push_back(float((i * 53) % 97) / 96.f);
    t.input.push_back(t.target.back() + 0.05f * float((i * 7) % 11 - 5));
  }
  return t;
}

}  // namespace mcsc_test
