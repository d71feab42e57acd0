#pragma once
/// \file mcsc.hpp
/// Umbrella header of mcsc, multimodal convolutional sparse coding over Kokkos.
#include "mcsc/core/compat.hpp"
#include "mcsc/core/error.hpp"
#include "mcsc/core/tensor.hpp"
#include "mcsc/ops/conv2d.hpp"
#include "mcsc/ops/conv2d_fft.hpp"
#include "mcsc/ops/fft_backend.hpp"
#include "mcsc/ops/lipschitz.hpp"
#include "mcsc/ops/prox.hpp"
#include "mcsc/solvers/fista.hpp"
