// Compile-only check of the cuFFT backend (no GPU is needed): nvcc must accept
// mcsc::Impl::CufftPlan2d for both precisions. The Kokkos-facing side (FftBackend<Kokkos::Cuda>)
// needs a CUDA-enabled Kokkos and is not covered here.
#include "mcsc/ops/fft_backend.hpp"

template class mcsc::Impl::CufftPlan2d<float>;
template class mcsc::Impl::CufftPlan2d<double>;

int main() { return 0; }
