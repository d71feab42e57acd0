#pragma once
/// \file conv2d_fft.hpp
/// conv2d, conv2d_adjoint and conv2d_weight_grad through the FFT: the same operators as
/// conv2d.hpp (same "same"-padding convention, same results), computed as pointwise products of
/// spectra. With Boundary::zero the arrays are zero-padded to at least (H + kh - 1) x (W + kw - 1)
/// so the circular convolution of the padded arrays equals the linear one; with
/// Boundary::circular the transform has the image's own size (periodic convolution).
///
/// Backend chosen at compile time per execution space (FftBackend trait): FFTW on host spaces,
/// cuFFT on Kokkos::Cuda.
#include <cmath>
#include <memory>

#include "mcsc/ops/conv2d.hpp"
#include "mcsc/ops/fft_backend.hpp"

namespace mcsc {

/// Smallest n >= target whose only prime factors are 2, 3, 5, 7 (fast FFT sizes).
inline int fft_good_size(int target) {
  for (int n = target > 1 ? target : 1;; ++n) {
    int m = n;
    for (int p : {2, 3, 5, 7})
      while (m % p == 0) m /= p;
    if (m == 1) return n;
  }
}

/// FFT backend per execution space: `type` is the plan class, `argument(space)` what its
/// constructor needs besides sizes and pointers (FFTW: thread count; cuFFT: the stream).
template <class ExecSpace, class T>
struct FftBackend {
  using type = Impl::FftwPlan2d<T>;
  static int argument(const ExecSpace& space) { return int(space.concurrency()); }
};
#if defined(KOKKOS_ENABLE_CUDA)
template <class T>
struct FftBackend<Kokkos::Cuda, T> {
  using type = Impl::CufftPlan2d<T>;
  static cudaStream_t argument(const Kokkos::Cuda& space) { return space.cuda_stream(); }
};
#endif

/// A batched 2-D real FFT that owns its buffers: real (B, rows, cols) and spectrum
/// (B, rows, cols/2 + 1). forward(): real -> spectrum; inverse(): spectrum -> real (unnormalised,
/// destroys the spectrum). Non-copyable.
template <class ExecSpace, class T>
class FftPlan2d {
 public:
  using device_type = DeviceOf<ExecSpace>;
  using real_view = Kokkos::View<T***, Kokkos::LayoutRight, device_type>;
  using spectrum_view = Kokkos::View<Kokkos::complex<T>***, Kokkos::LayoutRight, device_type>;

  /// Bytes of the buffers of a plan of this geometry (each rounded up to 8 bytes, as Kokkos
  /// allocates them).
  static double bytes(double howmany, double rows, double cols) {
    const auto padded = [](double b) { return std::ceil(b / 8) * 8; };
    return padded(howmany * rows * cols * sizeof(T)) +
           padded(howmany * rows * (std::floor(cols / 2) + 1) * sizeof(Kokkos::complex<T>));
  }

  FftPlan2d(int howmany, int rows, int cols)
      : m_real("mcsc::FftPlan2d::real", howmany, rows, cols),
        m_spectrum("mcsc::FftPlan2d::spectrum", howmany, rows, cols / 2 + 1),
        m_backend(howmany, rows, cols, m_real.data(), reinterpret_cast<std::complex<T>*>(m_spectrum.data()),
                  FftBackend<ExecSpace, T>::argument(ExecSpace())) {
    static_assert(sizeof(Kokkos::complex<T>) == sizeof(std::complex<T>), "complex layouts differ");
  }
  FftPlan2d(const FftPlan2d&) = delete;
  FftPlan2d& operator=(const FftPlan2d&) = delete;

  const real_view& real() const { return m_real; }
  const spectrum_view& spectrum() const { return m_spectrum; }
  void forward() const {
    ExecSpace().fence();
    m_backend.forward(m_real.data(), reinterpret_cast<std::complex<T>*>(m_spectrum.data()));
  }
  void inverse() const {
    ExecSpace().fence();
    m_backend.inverse(reinterpret_cast<std::complex<T>*>(m_spectrum.data()), m_real.data());
  }

 private:
  real_view m_real;
  spectrum_view m_spectrum;
  typename FftBackend<ExecSpace, T>::type m_backend;
};

/// The convolution operators of conv2d.hpp for a fixed geometry, computed with FFTs.
/// input (N, C, H, W), weight (O, C, kh, kw), output (N, O, H, W). Plans and buffers are made
/// once in the constructor and reused by every call; set_weights() stores the weight spectra
/// used by forward() and adjoint(). Calls on one object must not run concurrently.
template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
class FftConv2d {
 public:
  using tensor_type = Tensor4<T, ExecSpace>;
  using plan_type = FftPlan2d<ExecSpace, T>;
  using spectrum_view = typename plan_type::spectrum_view;

  FftConv2d(const Shape4& input, int out_channels, int kernel_rows, int kernel_cols,
            Boundary boundary = Boundary::zero)
      : m_input(input), m_out(out_channels), m_kh(kernel_rows), m_kw(kernel_cols), m_boundary(boundary) {
    MCSC_REQUIRE(input.size() > 0 && out_channels > 0 && kernel_rows > 0 && kernel_cols > 0, "mcsc::FftConv2d",
                 "zero-size geometry: input " << input << ", " << out_channels << " output channels, kernel "
                                              << kernel_rows << "x" << kernel_cols);
    MCSC_REQUIRE(kernel_rows <= input.h && kernel_cols <= input.w, "mcsc::FftConv2d",
                 "kernel " << kernel_rows << "x" << kernel_cols << " is larger than the image of input " << input);
    m_rows = fft_rows_for(input, kernel_rows, boundary);
    m_cols = fft_rows_for(Shape4{input.n, input.c, input.w, input.h}, kernel_cols, boundary);
    const int N = int(input.n), C = int(input.c);
    m_input_plan = std::make_unique<plan_type>(N * C, m_rows, m_cols);
    m_output_plan = std::make_unique<plan_type>(N * m_out, m_rows, m_cols);
    m_weight_plan = std::make_unique<plan_type>(m_out * C, m_rows, m_cols);
    m_weight_spectra = spectrum_view("mcsc::FftConv2d::weight_spectra", m_out * C, m_rows, m_cols / 2 + 1);
  }

  /// The FFT size along the rows (zero boundary: padded to a fast size; circular: the image's).
  static int fft_rows_for(const Shape4& input, int kernel_rows, Boundary boundary) {
    return boundary == Boundary::zero ? fft_good_size(int(input.h) + kernel_rows - 1) : int(input.h);
  }
  /// Bytes of the buffers an operator of this geometry allocates (three plans, weight spectra),
  /// for the memory estimates made before allocating (core/memory.hpp).
  static double bytes(const Shape4& input, int out_channels, int kernel_rows, int kernel_cols, Boundary boundary) {
    const double rows = fft_rows_for(input, kernel_rows, boundary);
    const double cols = fft_rows_for(Shape4{input.n, input.c, input.w, input.h}, kernel_cols, boundary);
    const double N = double(input.n), C = double(input.c), O = out_channels;
    return plan_type::bytes(N * C, rows, cols) + plan_type::bytes(N * O, rows, cols) +
           plan_type::bytes(O * C, rows, cols) + O * C * rows * (std::floor(cols / 2) + 1) * sizeof(Kokkos::complex<T>);
  }

  const Shape4& input_shape() const { return m_input; }
  Shape4 output_shape() const { return Shape4{m_input.n, m_out, m_input.h, m_input.w}; }
  Shape4 weight_shape() const { return Shape4{m_out, m_input.c, m_kh, m_kw}; }
  Boundary boundary() const { return m_boundary; }
  int fft_rows() const { return m_rows; }
  int fft_cols() const { return m_cols; }
  bool has_weights() const { return m_has_weights; }
  /// Spectra of the weights, (O * C, fft_rows, fft_cols/2 + 1), index o * C + c.
  const spectrum_view& weight_spectra() const { return m_weight_spectra; }

  /// Stores the spectra of w (O, C, kh, kw).
  void set_weights(const tensor_type& w) {
    check_weight("mcsc::FftConv2d::set_weights", w);
    place_kernel(w, m_weight_plan->real());
    m_weight_plan->forward();
    Kokkos::deep_copy(m_weight_spectra, m_weight_plan->spectrum());
    m_has_weights = true;
  }

  /// y = conv2d(x, w) (or += with accumulate) for the weights given to set_weights().
  void forward(const tensor_type& x, const tensor_type& y, bool accumulate = false) const {
    MCSC_REQUIRE(m_has_weights, "mcsc::FftConv2d::forward", "set_weights() was not called");
    check_shape("mcsc::FftConv2d::forward", "input", x, m_input);
    check_shape("mcsc::FftConv2d::forward", "output", y, output_shape());
    pad(x, m_input_plan->real());
    m_input_plan->forward();
    multiply_sum(m_weight_spectra, m_input_plan->spectrum(), m_output_plan->spectrum(), int(m_input.n), m_out,
                 int(m_input.c), /*adjoint=*/false);
    m_output_plan->inverse();
    crop(m_output_plan->real(), y, accumulate);
  }

  /// x = conv2d_adjoint(y, w) (or += with accumulate).
  void adjoint(const tensor_type& y, const tensor_type& x, bool accumulate = false) const {
    MCSC_REQUIRE(m_has_weights, "mcsc::FftConv2d::adjoint", "set_weights() was not called");
    check_shape("mcsc::FftConv2d::adjoint", "input", x, m_input);
    check_shape("mcsc::FftConv2d::adjoint", "output", y, output_shape());
    pad(y, m_output_plan->real());
    m_output_plan->forward();
    multiply_sum(m_weight_spectra, m_output_plan->spectrum(), m_input_plan->spectrum(), int(m_input.n),
                 int(m_input.c), m_out, /*adjoint=*/true);
    m_input_plan->inverse();
    crop(m_input_plan->real(), x, accumulate);
  }

  /// gw = conv2d_weight_grad(x, gy) (or += with accumulate); does not need set_weights().
  void weight_grad(const tensor_type& x, const tensor_type& gy, const tensor_type& gw, bool accumulate = false) const {
    check_shape("mcsc::FftConv2d::weight_grad", "input", x, m_input);
    check_shape("mcsc::FftConv2d::weight_grad", "output gradient", gy, output_shape());
    check_weight("mcsc::FftConv2d::weight_grad", gw);
    pad(x, m_input_plan->real());
    m_input_plan->forward();
    pad(gy, m_output_plan->real());
    m_output_plan->forward();
    correlate_batch(m_output_plan->spectrum(), m_input_plan->spectrum(), m_weight_plan->spectrum());
    m_weight_plan->inverse();
    extract_kernel(m_weight_plan->real(), gw, accumulate);
  }

  // The kernels below are public only because nvcc does not allow KOKKOS_LAMBDA in private
  // member functions; they are not part of the API.

  /// real (N*C, rows, cols) = src (N, C, H, W) zero-padded.
  void pad(const tensor_type& src, const typename plan_type::real_view& real) const {
    const int C = int(src.extent(1)), H = int(src.extent(2)), W = int(src.extent(3));
    for_each_pixel<ExecSpace>(
        "mcsc::FftConv2d::pad", Shape4{std::int64_t(real.extent(0)) / C, C, m_rows, m_cols},
        KOKKOS_LAMBDA(const int n, const int c, const int i, const int j) {
          real(n * C + c, i, j) = (i < H && j < W) ? src(n, c, i, j) : T(0);
        });
  }

  /// dst (N, C, H, W) (+)= real (N*C, rows, cols)[:H, :W] / (rows * cols).
  void crop(const typename plan_type::real_view& real, const tensor_type& dst, bool accumulate) const {
    const int C = int(dst.extent(1));
    const T scale = T(1) / (T(m_rows) * T(m_cols));
    for_each_pixel<ExecSpace>(
        "mcsc::FftConv2d::crop", shape_of(dst), KOKKOS_LAMBDA(const int n, const int c, const int i, const int j) {
          const T v = scale * real(n * C + c, i, j);
          dst(n, c, i, j) = accumulate ? dst(n, c, i, j) + v : v;
        });
  }

  /// The circular kernel whose convolution is conv2d: k[(pt - p) mod rows, (pl - q) mod cols] = w[p, q].
  void place_kernel(const tensor_type& w, const typename plan_type::real_view& real) const {
    const int C = int(w.extent(1)), KH = m_kh, KW = m_kw, R = m_rows, Q = m_cols;
    const int pt = same_pad_before(KH), pl = same_pad_before(KW);
    for_each_pixel<ExecSpace>(
        "mcsc::FftConv2d::place_kernel", Shape4{std::int64_t(real.extent(0)) / C, C, R, Q},
        KOKKOS_LAMBDA(const int o, const int c, const int i, const int j) {
          const int p = Impl::wrap_index(pt - i, R), q = Impl::wrap_index(pl - j, Q);
          real(o * C + c, i, j) = (p < KH && q < KW) ? w(o, c, p, q) : T(0);
        });
  }

  /// gw[o, c, p, q] (+)= r[(p - pt) mod rows, (q - pl) mod cols] / (rows * cols).
  void extract_kernel(const typename plan_type::real_view& real, const tensor_type& gw, bool accumulate) const {
    const int C = int(gw.extent(1)), KH = m_kh, KW = m_kw, R = m_rows, Q = m_cols;
    const int pt = same_pad_before(KH), pl = same_pad_before(KW);
    const T scale = T(1) / (T(R) * T(Q));
    Kokkos::parallel_for(
        "mcsc::FftConv2d::extract_kernel", Kokkos::RangePolicy<ExecSpace>(0, std::int64_t(gw.size())),
        KOKKOS_LAMBDA(const std::int64_t idx) {
          const int q = int(idx % KW);
          const int p = int((idx / KW) % KH);
          const int b = int(idx / (std::int64_t(KW) * KH));
          const T v = scale * real(b, Impl::wrap_index(p - pt, R), Impl::wrap_index(q - pl, Q));
          gw(b / C, b % C, p, q) = accumulate ? gw(b / C, b % C, p, q) + v : v;
        });
  }

  /// out[n, a] = sum_b K(a, b) * in[n, b] per frequency, with K(a, b) = weight[a * B + b]
  /// (forward, a = o, b = c) or K(a, b) = conj(weight[b * A + a]) (adjoint, a = c, b = o).
  void multiply_sum(const spectrum_view& weight, const spectrum_view& in, const spectrum_view& out, int N, int A,
                    int B, bool adjoint) const {
    const int R = int(in.extent(1)), F = int(in.extent(2));
    Kokkos::parallel_for(
        "mcsc::FftConv2d::multiply_sum", Kokkos::RangePolicy<ExecSpace>(0, std::int64_t(N) * A * R * F),
        KOKKOS_LAMBDA(const std::int64_t idx) {
          const int f = int(idx % F);
          const int r = int((idx / F) % R);
          const std::int64_t na = idx / (std::int64_t(F) * R);
          const int a = int(na % A);
          const int n = int(na / A);
          Kokkos::complex<T> acc(0, 0);
          for (int b = 0; b < B; ++b) {
            const Kokkos::complex<T> k = adjoint ? Kokkos::conj(weight(b * A + a, r, f)) : weight(a * B + b, r, f);
            acc += k * in(n * B + b, r, f);
          }
          out(na, r, f) = acc;
        });
  }

  /// weight[o * C + c] = sum_n conj(gy[n, o]) * x[n, c] per frequency.
  void correlate_batch(const spectrum_view& gy, const spectrum_view& x, const spectrum_view& weight) const {
    const int N = int(m_input.n), C = int(m_input.c), O = m_out;
    const int R = int(x.extent(1)), F = int(x.extent(2));
    Kokkos::parallel_for(
        "mcsc::FftConv2d::correlate_batch", Kokkos::RangePolicy<ExecSpace>(0, std::int64_t(O) * C * R * F),
        KOKKOS_LAMBDA(const std::int64_t idx) {
          const int f = int(idx % F);
          const int r = int((idx / F) % R);
          const int oc = int(idx / (std::int64_t(F) * R));
          const int o = oc / C, c = oc % C;
          Kokkos::complex<T> acc(0, 0);
          for (int n = 0; n < N; ++n) acc += Kokkos::conj(gy(n * O + o, r, f)) * x(n * C + c, r, f);
          weight(oc, r, f) = acc;
        });
  }

 private:
  void check_shape(const char* function, const char* what, const tensor_type& v, const Shape4& expected) const {
    MCSC_REQUIRE(shape_of(v) == expected, function,
                 what << " '" << v.label() << "' is " << shape_of(v) << " but this operator was made for "
                      << expected << " (input " << m_input << ", weight " << weight_shape() << ")");
  }
  void check_weight(const char* function, const tensor_type& w) const {
    check_shape(function, "weight", w, weight_shape());
  }

  Shape4 m_input;
  int m_out, m_kh, m_kw;
  Boundary m_boundary;
  int m_rows = 0, m_cols = 0;
  bool m_has_weights = false;
  std::unique_ptr<plan_type> m_input_plan, m_output_plan, m_weight_plan;
  spectrum_view m_weight_spectra;
};

/// The FFT counterpart of ConvDictionary: D*U and D'*R for fixed weights (m, K, s, s), with the
/// FftConv2d operator made on first use for the signal size seen (and remade if it changes).
template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
class FftConvDictionary {
 public:
  using scalar_type = T;
  using execution_space = ExecSpace;
  using tensor_type = Tensor4<T, ExecSpace>;
  using operator_type = FftConv2d<T, ExecSpace>;

  explicit FftConvDictionary(tensor_type weights, Boundary boundary = Boundary::zero)
      : m_weights(weights), m_boundary(boundary) {
    MCSC_REQUIRE(weights.size() > 0, "mcsc::FftConvDictionary", "empty dictionary " << shape_of(weights));
  }

  const tensor_type& weights() const { return m_weights; }
  Boundary boundary() const { return m_boundary; }
  int num_filters() const { return int(m_weights.extent(1)); }
  int num_channels() const { return int(m_weights.extent(0)); }
  Shape4 code_shape(const Shape4& signal) const { return Shape4{signal.n, num_filters(), signal.h, signal.w}; }
  /// Bytes the dictionary allocates to code signals of this code shape: its FFT operator's buffers.
  double operator_bytes(const Shape4& codes) const {
    return operator_type::bytes(codes, num_channels(), int(m_weights.extent(2)), int(m_weights.extent(3)), m_boundary);
  }

  /// signal = D * codes (or += with accumulate).
  void apply(const tensor_type& codes, const tensor_type& signal, bool accumulate = false) const {
    operator_for(shape_of(codes), "mcsc::FftConvDictionary::apply").forward(codes, signal, accumulate);
  }
  /// codes = D' * signal (or += with accumulate).
  void adjoint(const tensor_type& signal, const tensor_type& codes, bool accumulate = false) const {
    operator_for(shape_of(codes), "mcsc::FftConvDictionary::adjoint").adjoint(signal, codes, accumulate);
  }
  /// gw = gradient of <D * codes, residual> with respect to the weights, (m, K, s, s) (or +=
  /// with accumulate): with residual = D*U - y, the gradient of 1/2 ||D*U - y||^2 in D.
  void weight_gradient(const tensor_type& codes, const tensor_type& residual, const tensor_type& gw,
                       bool accumulate = false) const {
    operator_for(shape_of(codes), "mcsc::FftConvDictionary::weight_gradient").weight_grad(codes, residual, gw,
                                                                                          accumulate);
  }
  /// To be called after the weights were changed in place (dictionary learning): recomputes the
  /// cached filter spectra. Copies of this dictionary share the operator and see the change.
  void weights_changed() {
    if (m_operator) m_operator->set_weights(m_weights);
  }
  /// The FftConv2d operator for codes of the given shape (N, K, H, W).
  const operator_type& operator_for(const Shape4& codes, const char* function = "mcsc::FftConvDictionary") const {
    MCSC_REQUIRE(codes.c == num_filters(), function,
                 "codes " << codes << " do not have the dictionary's " << num_filters() << " filters (weights "
                          << shape_of(m_weights) << ")");
    if (!m_operator || m_operator->input_shape() != codes) {
      m_operator = std::make_shared<operator_type>(codes, num_channels(), int(m_weights.extent(2)),
                                                   int(m_weights.extent(3)), m_boundary);
      // The codes are the operator's input: its weight is (m, K, s, s), the dictionary itself.
      m_operator->set_weights(m_weights);
    }
    return *m_operator;
  }

 private:
  tensor_type m_weights;
  Boundary m_boundary;
  mutable std::shared_ptr<operator_type> m_operator;
};

}  // namespace mcsc
