#pragma once
/// \file fft_backend.hpp
/// Batched 2-D real FFT plans over raw device pointers: FFTW on the host, cuFFT on CUDA.
/// Plans are non-copyable RAII objects. Both transforms are unnormalised:
/// inverse(forward(x)) = (rows * cols) * x.
///
/// This header needs no Kokkos, so that the cuFFT backend can be compile-checked with a bare nvcc
/// (tests/cufft_backend_compile.cu, with MCSC_ENABLE_CUFFT). Where Kokkos is on the include path
/// its configuration macros are read first (Kokkos_Macros.hpp), so KOKKOS_ENABLE_CUDA selects
/// cuFFT whatever the order of the includes before this header. Failures throw
/// mcsc::BackendError.
#include <complex>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "mcsc/core/error.hpp"

#if __has_include(<Kokkos_Macros.hpp>)
#include <Kokkos_Macros.hpp>
#endif
#include <fftw3.h>
#if defined(KOKKOS_ENABLE_CUDA) || defined(MCSC_ENABLE_CUFFT)
#include <cufft.h>
#endif

namespace mcsc {
namespace Impl {

/// The FFTW entry points of one precision.
template <class T>
struct FftwApi;

template <>
struct FftwApi<double> {
  using plan_type = fftw_plan;
  using complex_type = fftw_complex;
  static plan_type r2c(int howmany, int rows, int cols, double* in, complex_type* out, unsigned flags) {
    const int n[2] = {rows, cols};
    return fftw_plan_many_dft_r2c(2, n, howmany, in, nullptr, 1, rows * cols, out, nullptr, 1,
                                  rows * (cols / 2 + 1), flags);
  }
  static plan_type c2r(int howmany, int rows, int cols, complex_type* in, double* out, unsigned flags) {
    const int n[2] = {rows, cols};
    return fftw_plan_many_dft_c2r(2, n, howmany, in, nullptr, 1, rows * (cols / 2 + 1), out, nullptr, 1,
                                  rows * cols, flags);
  }
  static void execute_r2c(plan_type p, double* in, complex_type* out) { fftw_execute_dft_r2c(p, in, out); }
  static void execute_c2r(plan_type p, complex_type* in, double* out) { fftw_execute_dft_c2r(p, in, out); }
  static void destroy(plan_type p) { fftw_destroy_plan(p); }
#if defined(MCSC_HAVE_FFTW_THREADS)
  static void init_threads() { fftw_init_threads(); }
  static void plan_with_nthreads(int n) { fftw_plan_with_nthreads(n); }
#else
  static void init_threads() {}
  static void plan_with_nthreads(int) {}
#endif
};

template <>
struct FftwApi<float> {
  using plan_type = fftwf_plan;
  using complex_type = fftwf_complex;
  static plan_type r2c(int howmany, int rows, int cols, float* in, complex_type* out, unsigned flags) {
    const int n[2] = {rows, cols};
    return fftwf_plan_many_dft_r2c(2, n, howmany, in, nullptr, 1, rows * cols, out, nullptr, 1,
                                   rows * (cols / 2 + 1), flags);
  }
  static plan_type c2r(int howmany, int rows, int cols, complex_type* in, float* out, unsigned flags) {
    const int n[2] = {rows, cols};
    return fftwf_plan_many_dft_c2r(2, n, howmany, in, nullptr, 1, rows * (cols / 2 + 1), out, nullptr, 1,
                                   rows * cols, flags);
  }
  static void execute_r2c(plan_type p, float* in, complex_type* out) { fftwf_execute_dft_r2c(p, in, out); }
  static void execute_c2r(plan_type p, complex_type* in, float* out) { fftwf_execute_dft_c2r(p, in, out); }
  static void destroy(plan_type p) { fftwf_destroy_plan(p); }
#if defined(MCSC_HAVE_FFTW_THREADS)
  static void init_threads() { fftwf_init_threads(); }
  static void plan_with_nthreads(int n) { fftwf_plan_with_nthreads(n); }
#else
  static void init_threads() {}
  static void plan_with_nthreads(int) {}
#endif
};

/// FFTW's planner is not thread-safe: every plan is made and destroyed under this lock.
inline std::mutex& fftw_planner_mutex() {
  static std::mutex m;
  return m;
}

/// Batched r2c / c2r plan pair for `howmany` arrays of rows x cols, on host memory.
/// The plan is made (FFTW_ESTIMATE, which leaves the arrays untouched) on the arrays given to the
/// constructor; execute() must be given arrays of the same size and alignment (mcsc passes the
/// very same buffers).
template <class T>
class FftwPlan2d {
 public:
  using api = FftwApi<T>;
  using complex_type = std::complex<T>;

  FftwPlan2d(int howmany, int rows, int cols, T* real, complex_type* spectrum, int nthreads) {
    std::lock_guard<std::mutex> lock(fftw_planner_mutex());
    static std::once_flag threads_once;
    std::call_once(threads_once, [] { api::init_threads(); });
    api::plan_with_nthreads(nthreads > 0 ? nthreads : 1);
    auto* c = reinterpret_cast<typename api::complex_type*>(spectrum);
    m_forward = api::r2c(howmany, rows, cols, real, c, FFTW_ESTIMATE);
    m_inverse = api::c2r(howmany, rows, cols, c, real, FFTW_ESTIMATE | FFTW_DESTROY_INPUT);
    if (!m_forward || !m_inverse) {
      destroy_plans();
      throw BackendError(__FILE__, __LINE__, "mcsc::FftwPlan2d",
                         "FFTW could not plan " + std::to_string(howmany) + " x " + std::to_string(rows) + "x" +
                             std::to_string(cols));
    }
  }
  FftwPlan2d(const FftwPlan2d&) = delete;
  FftwPlan2d& operator=(const FftwPlan2d&) = delete;
  ~FftwPlan2d() {
    std::lock_guard<std::mutex> lock(fftw_planner_mutex());
    destroy_plans();
  }

  void forward(T* real, complex_type* spectrum) const {
    api::execute_r2c(m_forward, real, reinterpret_cast<typename api::complex_type*>(spectrum));
  }
  /// Overwrites (destroys) the spectrum.
  void inverse(complex_type* spectrum, T* real) const {
    api::execute_c2r(m_inverse, reinterpret_cast<typename api::complex_type*>(spectrum), real);
  }

 private:
  /// Caller holds fftw_planner_mutex().
  void destroy_plans() {
    if (m_forward) api::destroy(m_forward);
    if (m_inverse) api::destroy(m_inverse);
    m_forward = nullptr;
    m_inverse = nullptr;
  }
  typename api::plan_type m_forward = nullptr;
  typename api::plan_type m_inverse = nullptr;
};

#if defined(KOKKOS_ENABLE_CUDA) || defined(MCSC_ENABLE_CUFFT)
template <class T>
struct CufftTypes;
template <>
struct CufftTypes<float> {
  using real_type = cufftReal;
  using complex_type = cufftComplex;
  static constexpr cufftType r2c = CUFFT_R2C;
  static constexpr cufftType c2r = CUFFT_C2R;
  static cufftResult exec_r2c(cufftHandle p, real_type* in, complex_type* out) { return cufftExecR2C(p, in, out); }
  static cufftResult exec_c2r(cufftHandle p, complex_type* in, real_type* out) { return cufftExecC2R(p, in, out); }
};
template <>
struct CufftTypes<double> {
  using real_type = cufftDoubleReal;
  using complex_type = cufftDoubleComplex;
  static constexpr cufftType r2c = CUFFT_D2Z;
  static constexpr cufftType c2r = CUFFT_Z2D;
  static cufftResult exec_r2c(cufftHandle p, real_type* in, complex_type* out) { return cufftExecD2Z(p, in, out); }
  static cufftResult exec_c2r(cufftHandle p, complex_type* in, real_type* out) { return cufftExecZ2D(p, in, out); }
};

/// cuFFT counterpart of FftwPlan2d (same layout: batch of rows x cols, cols/2+1 complex columns).
template <class T>
class CufftPlan2d {
 public:
  using types = CufftTypes<T>;
  using complex_type = std::complex<T>;

  CufftPlan2d(int howmany, int rows, int cols, T*, complex_type*, cudaStream_t stream) {
    int n[2] = {rows, cols};
    int real_embed[2] = {rows, cols};
    int complex_embed[2] = {rows, cols / 2 + 1};
    check(cufftPlanMany(&m_forward, 2, n, real_embed, 1, rows * cols, complex_embed, 1, rows * (cols / 2 + 1),
                        types::r2c, howmany),
          "cufftPlanMany(r2c)");
    check(cufftPlanMany(&m_inverse, 2, n, complex_embed, 1, rows * (cols / 2 + 1), real_embed, 1, rows * cols,
                        types::c2r, howmany),
          "cufftPlanMany(c2r)");
    check(cufftSetStream(m_forward, stream), "cufftSetStream");
    check(cufftSetStream(m_inverse, stream), "cufftSetStream");
  }
  CufftPlan2d(const CufftPlan2d&) = delete;
  CufftPlan2d& operator=(const CufftPlan2d&) = delete;
  ~CufftPlan2d() {
    if (m_forward) cufftDestroy(m_forward);
    if (m_inverse) cufftDestroy(m_inverse);
  }
  void forward(T* real, complex_type* spectrum) const {
    check(types::exec_r2c(m_forward, reinterpret_cast<typename types::real_type*>(real),
                          reinterpret_cast<typename types::complex_type*>(spectrum)),
          "cufftExec r2c");
  }
  void inverse(complex_type* spectrum, T* real) const {
    check(types::exec_c2r(m_inverse, reinterpret_cast<typename types::complex_type*>(spectrum),
                          reinterpret_cast<typename types::real_type*>(real)),
          "cufftExec c2r");
  }

 private:
  static void check(cufftResult r, const char* what) {
    if (r != CUFFT_SUCCESS)
      throw BackendError(__FILE__, __LINE__, "mcsc::CufftPlan2d", std::string(what) + " failed, code " + std::to_string(int(r)));
  }
  cufftHandle m_forward = 0;
  cufftHandle m_inverse = 0;
};
#endif

}  // namespace Impl

/// A batched 2-D real FFT plan pair (r2c forward, c2r inverse, unnormalised) for `howmany`
/// host arrays of rows x cols, made on the arrays given to the constructor (FFTW_ESTIMATE, which
/// leaves them untouched): FftwPlan2d<T>(howmany, rows, cols, real, spectrum, threads), then
/// forward(real, spectrum) / inverse(spectrum, real) on those arrays (inverse overwrites the
/// spectrum). Non-copyable; planning is
/// serialised by a global mutex, as FFTW requires. Throws mcsc::BackendError when FFTW cannot
/// plan. (The FFT dictionaries use it on the host; programs may use it for their own host FFTs,
/// as examples/solver_common.hpp's Tikhonov filter does.)
template <class T>
using FftwPlan2d = Impl::FftwPlan2d<T>;

}  // namespace mcsc
