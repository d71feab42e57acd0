// Uses the installed headers: FFT and direct convolution agree on a small problem.
#include <mcsc/mcsc.hpp>

#include <cstdio>

int main(int argc, char* argv[]) {
  Kokkos::initialize(argc, argv);
  int status = 1;
  {
    using T = double;
    auto x = mcsc::make_tensor<T>("x", {1, 2, 12, 12});
    auto w = mcsc::make_tensor<T>("w", {3, 2, 5, 5});
    auto a = mcsc::make_tensor<T>("a", {1, 3, 12, 12});
    auto b = mcsc::make_tensor<T>("b", {1, 3, 12, 12});
    mcsc::fill_normal(x, 1);
    mcsc::fill_normal(w, 2);
    mcsc::conv2d(x, w, a);
    mcsc::FftConv2d<T> op(mcsc::shape_of(x), 3, 5, 5);
    op.set_weights(w);
    op.forward(x, b);
    const double err = mcsc::max_abs_diff(a, b);
    std::printf("consumer: max |direct - fft| = %.3g\n", err);
    status = err < 1e-10 ? 0 : 1;
  }
  Kokkos::finalize();
  return status;
}
