#pragma once
/// \file dictionary_update.hpp
/// The dictionary block of convolutional dictionary learning on its own (dictionary_learning.hpp
/// has the whole method): with the codes U fixed,
///
///     min_D  1/2 ||M .* (S - D*U)||^2   s.t.  d_k in C for every filter k,
///
/// by projected gradient on the weights (update_dictionary(): FISTA-accelerated with the MFISTA
/// safeguard and backtracking; the gradient is the dictionary's weight_gradient()), with the
/// filter constraints (FilterConstraint, project_filters), random and boundary-mask helpers,
/// and the data term and gradient of the learning objective. Also used by coupled dictionary
/// learning (coupled_dictionary_learning.hpp) for the joint and the target filters.
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "mcsc/core/communicator.hpp"
#include "mcsc/ops/broadcast.hpp"
#include "mcsc/ops/conv2d.hpp"
#include "mcsc/ops/power_iteration.hpp"

namespace mcsc {

/// The set every filter d_k = D(:, k, :, :) is kept in.
enum class FilterConstraint {
  unit_sphere,  ///< ||d_k|| = 1 (non-convex; SPORCO's normalisation)
  unit_ball,    ///< ||d_k|| <= 1 (convex)
  none          ///< unconstrained (least squares, e.g. the target dictionaries of coupled learning)
};

inline const char* to_string(FilterConstraint c) {
  return c == FilterConstraint::unit_sphere ? "unit_sphere" : (c == FilterConstraint::unit_ball ? "unit_ball" : "none");
}

/// Options of update_dictionary() (the dictionary block on its own).
struct DictionaryUpdateOptions {
  int max_iterations = 20;       ///< projected-gradient iterations, >= 0
  FilterConstraint constraint = FilterConstraint::unit_sphere;
  /// stop when ||D_k - D_{k-1}|| <= tolerance ||D_k|| (or, for a refused candidate Z,
  /// ||Z - D_k|| <= tolerance ||D_k||); 0: never
  double tolerance = 0;
  bool accelerate = true;        ///< FISTA momentum with the MFISTA safeguard; false: plain projected gradient
  /// Initial Lipschitz constant of the gradient in D (step 1/L; backtracking raises it when it is
  /// too small). 0: estimated by power iteration on J'M^2 J (warm-started from the workspace).
  double lipschitz = 0;
  int power_iterations = 30;     ///< at most this many power iterations for that estimate, >= 1
  /// Data-parallel: each rank holds some of the codes and signals (same shapes but N, the same
  /// dictionary and options); the data terms and the weight gradient are summed over the ranks
  /// (in rank order), so every rank makes the same steps and ends with the same weights. Every
  /// call is collective. Null: this process alone (docs/distributed.md).
  std::shared_ptr<Communicator> communicator;
};

/// What update_dictionary() returns. Data terms are 1/2 ||M .* (S - D*U)||^2 (the l1 term does
/// not depend on D).
struct DictionaryUpdateResult {
  double initial_data_term = 0;  ///< at the starting weights after projection onto the constraint
  double data_term = 0;          ///< at the returned weights: <= initial_data_term
  int iterations = 0;
  int rejected = 0;              ///< candidates refused by the monotone safeguard
  int backtracks = 0;            ///< step-size reductions
  double lipschitz = 0;          ///< the final L (step 1/L)
};

// ------------------------------------------------------------------ filters

namespace Impl {
namespace cdl {
/// The projected step of the dictionary block, one filter per thread (the constraint couples the
/// m x kh x kw entries of a filter): z = P(y - step * g) for every filter, P the projection of
/// project_filters(); also w = z when w is given, and terms(k) = (<g, z - y>, ||z - y||^2) over
/// filter k when terms is given. Without g (empty), z = P(y) (y may then be z itself).
template <class Wt, class Terms>
void projected_step(const Wt& y, const Wt& g, double step, FilterConstraint constraint, const Wt& z, const Wt& w,
                    const Terms& terms) {
  using T = typename Wt::value_type;
  const int C = int(y.extent(0)), K = int(y.extent(1)), KH = int(y.extent(2)), KW = int(y.extent(3));
  const int pt = same_pad_before(KH), pl = same_pad_before(KW);
  const bool sphere = constraint == FilterConstraint::unit_sphere;
  const bool constrained = constraint != FilterConstraint::none;
  const bool has_g = g.data() != nullptr, has_w = w.data() != nullptr, has_terms = terms.data() != nullptr;
  const T tstep = T(step);
  Kokkos::parallel_for(
      "mcsc::cdl::projected_step", Kokkos::RangePolicy<typename Wt::execution_space>(0, K), KOKKOS_LAMBDA(const int k) {
        double s = 0;
        for (int c = 0; c < C; ++c)
          for (int p = 0; p < KH; ++p)
            for (int q = 0; q < KW; ++q) {
              const T v = has_g ? y(c, k, p, q) - tstep * g(c, k, p, q) : y(c, k, p, q);
              z(c, k, p, q) = v;
              s += double(v) * double(v);
            }
        const double norm = math::sqrt(s);
        const bool zero_to_impulse = sphere && !(norm > 0);
        const bool rescale = sphere ? norm > 0 : (constrained && norm > 1);
        const T f = rescale ? T(1.0 / norm) : T(1);
        double gd = 0, dd = 0;
        for (int c = 0; c < C; ++c)
          for (int p = 0; p < KH; ++p)
            for (int q = 0; q < KW; ++q) {
              T v = z(c, k, p, q);
              if (rescale) v *= f;
              if (zero_to_impulse) v = (c == 0 && p == pt && q == pl) ? T(1) : T(0);
              z(c, k, p, q) = v;
              if (has_w) w(c, k, p, q) = v;
              if (has_terms) {
                const double d = double(v) - double(y(c, k, p, q));
                gd += double(g(c, k, p, q)) * d;
                dd += d * d;
              }
            }
        if (has_terms) {
          terms(k, 0) = gd;
          terms(k, 1) = dd;
        }
      });
}
}  // namespace cdl
}  // namespace Impl

/// Projects every filter d_k = weights(:, k, :, :) of weights (m, K, kh, kw) onto the constraint
/// set, in place: unit_ball scales d_k by 1 / max(1, ||d_k||); unit_sphere by 1 / ||d_k||, and
/// an all-zero filter becomes the unit impulse at the "same"-convolution centre
/// ((kh-1)/2, (kw-1)/2) of channel 0; none leaves d_k as it is. Norms are accumulated in double.
template <class Wt>
void project_filters(const Wt& weights, FilterConstraint constraint) {
  static_assert(is_tensor4_v<Wt>, "mcsc::project_filters: weights must be a rank-4 LayoutRight view");
  const Shape4 sw = shape_of(weights);
  MCSC_REQUIRE(sw.size() > 0, "mcsc::project_filters", "empty dictionary " << sw);
  Impl::cdl::projected_step(weights, Wt(), 0.0, constraint, weights, Wt(),
                            Kokkos::View<double**, Kokkos::LayoutRight, typename Wt::device_type>());
}

/// ||d_k|| for every filter of weights (m, K, kh, kw), on the host.
template <class Wt>
std::vector<double> filter_norms(const Wt& weights) {
  static_assert(is_tensor4_v<Wt>, "mcsc::filter_norms: weights must be a rank-4 LayoutRight view");
  const Shape4 sw = shape_of(weights);
  const int C = int(sw.n), K = int(sw.c), KH = int(sw.h), KW = int(sw.w);
  Kokkos::View<double*, typename Wt::device_type> norms("mcsc::filter_norms", K);
  Kokkos::parallel_for(
      "mcsc::filter_norms", Kokkos::RangePolicy<typename Wt::execution_space>(0, K), KOKKOS_LAMBDA(const int k) {
        double s = 0;
        for (int c = 0; c < C; ++c)
          for (int p = 0; p < KH; ++p)
            for (int q = 0; q < KW; ++q) s += double(weights(c, k, p, q)) * double(weights(c, k, p, q));
        norms(k) = math::sqrt(s);
      });
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), norms);
  return std::vector<double>(h.data(), h.data() + K);
}

/// A dictionary weight (channels, filters, size, size) of Gaussian filters normalised to unit
/// norm, from a seeded host generator (the same values on every execution space).
template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
Tensor4<T, ExecSpace> random_dictionary(int channels, int filters, int size, std::uint64_t seed = 1) {
  MCSC_REQUIRE(channels > 0 && filters > 0 && size > 0, "mcsc::random_dictionary",
               "empty dictionary: " << channels << " channels, " << filters << " filters of " << size << "x" << size);
  auto w = make_tensor<T, ExecSpace>("mcsc::random_dictionary", Shape4{channels, filters, size, size});
  fill_normal(w, seed);
  project_filters(w, FilterConstraint::unit_sphere);
  return w;
}

/// The boundary mask of masked_boundary: (1, 1, height, width), 1 where the whole support of a
/// kh x kw filter lies inside the image, i.e. rows (kh-1)/2 .. height-1-kh/2 and columns
/// (kw-1)/2 .. width-1-kw/2 (the "same" padding convention of conv2d), 0 elsewhere. Those are
/// the pixels of D*U that depend on codes inside the image only.
template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
Tensor4<T, ExecSpace> boundary_mask(int height, int width, int kh, int kw) {
  MCSC_REQUIRE(kh > 0 && kw > 0 && height >= kh && width >= kw, "mcsc::boundary_mask",
               "image " << height << "x" << width << " is smaller than the filter " << kh << "x" << kw);
  auto m = make_tensor<T, ExecSpace>("mcsc::boundary_mask", Shape4{1, 1, height, width});
  const int r0 = same_pad_before(kh), r1 = height - kh / 2, c0 = same_pad_before(kw), c1 = width - kw / 2;
  Kokkos::parallel_for(
      "mcsc::boundary_mask", Kokkos::RangePolicy<ExecSpace>(0, std::int64_t(height) * width),
      KOKKOS_LAMBDA(const std::int64_t idx) {
        const int i = int(idx / width), j = int(idx % width);
        m(0, 0, i, j) = (i >= r0 && i < r1 && j >= c0 && j < c1) ? T(1) : T(0);
      });
  return m;
}

// ------------------------------------------------------------------ kernels

namespace Impl {
namespace cdl {  // internals of dictionary learning

/// 1/2 sum (M .* (reconstruction - signals))^2, accumulated in double.
template <class T, class ExecSpace>
double data_term(const Tensor4<T, ExecSpace>& reconstruction, const Tensor4<T, ExecSpace>& signals,
                 const Broadcast<Tensor4<T, ExecSpace>>& mask) {
  auto fr = flat(reconstruction);
  auto fs = flat(signals);
  double result = 0;
  Kokkos::parallel_reduce(
      "mcsc::cdl::data_term", Kokkos::RangePolicy<ExecSpace>(0, fr.extent(0)),
      KOKKOS_LAMBDA(const std::int64_t i, double& acc) {
        const double d = double(mask.at(i)) * (double(fr(i)) - double(fs(i)));
        acc += d * d;
      },
      result);
  return 0.5 * result;
}

/// residual = M^2 .* (a A + b B - signals), the gradient of the data term at the reconstruction
/// a A + b B (a linear combination of two, never formed); returns the data term there,
/// 1/2 sum (M .* (a A + b B - signals))^2. (b = 0: at A alone.)
template <class T, class ExecSpace>
double residual(T a, const Tensor4<T, ExecSpace>& A, T b, const Tensor4<T, ExecSpace>& B,
                const Tensor4<T, ExecSpace>& signals, const Broadcast<Tensor4<T, ExecSpace>>& mask,
                const Tensor4<T, ExecSpace>& out) {
  auto fa = flat(A);
  auto fb = flat(B);
  auto fs = flat(signals);
  auto fo = flat(out);
  double result = 0;
  Kokkos::parallel_reduce(
      "mcsc::cdl::residual", Kokkos::RangePolicy<ExecSpace>(0, fo.extent(0)),
      KOKKOS_LAMBDA(const std::int64_t i, double& acc) {
        const T m = mask.at(i);
        const T d = a * fa(i) + b * fb(i) - fs(i);
        fo(i) = m * m * d;
        const double md = double(m) * double(d);
        acc += md * md;
      },
      result);
  return 0.5 * result;
}

/// v *= M^2, elementwise.
template <class T, class ExecSpace>
void multiply_mask_squared(const Tensor4<T, ExecSpace>& v, const Broadcast<Tensor4<T, ExecSpace>>& mask) {
  if (!mask.present()) return;
  auto fv = flat(v);
  Kokkos::parallel_for(
      "mcsc::cdl::multiply_mask_squared", Kokkos::RangePolicy<ExecSpace>(0, fv.extent(0)),
      KOKKOS_LAMBDA(const std::int64_t i) {
        const T m = mask.at(i);
        fv(i) *= m * m;
      });
}

/// The options of dictionary learning's warm-started power iterations (power_iteration_warm):
/// at most `iterations`, stopping at a relative change of 1e-4 of the Rayleigh quotient.
inline PowerIterationOptions power_options(int iterations) {
  PowerIterationOptions o;
  o.max_iterations = iterations;
  o.tolerance = 1e-4;
  o.seed = 20240611;
  return o;
}

/// Checks what learn_dictionary() and update_dictionary() share: the weights (non-empty,
/// finite), the signals (non-empty, the dictionary's channels, not smaller than the filters,
/// finite) and the mask.
template <class Dictionary>
void check_inputs(const char* fn, const Dictionary& D, const typename Dictionary::tensor_type& signals,
                  const typename Dictionary::tensor_type& mask) {
  const Shape4 sw = shape_of(D.weights()), sy = shape_of(signals);
  MCSC_REQUIRE(sw.size() > 0, fn, "empty dictionary " << sw);
  MCSC_REQUIRE(sy.size() > 0, fn, "zero-size signals " << sy);
  MCSC_REQUIRE(sy.c == sw.n, fn, "signals " << sy << " have " << sy.c << " channels but the dictionary " << sw
                                            << " (m, K, s, s) has " << sw.n);
  MCSC_REQUIRE(sy.h >= sw.h && sy.w >= sw.w, fn,
               "signals " << sy << " are smaller than the " << sw.h << "x" << sw.w << " filters of dictionary " << sw);
  require_finite(fn, D.weights());
  require_finite(fn, signals);
  check_broadcast(fn, "mask", mask, sy, true);
}

/// The mask learn_dictionary() uses: the given one (possibly absent), times boundary_mask() when
/// masked_boundary is set (then of shape (mask n, mask c, H, W), or (1, 1, H, W)).
template <class T, class ExecSpace>
Tensor4<T, ExecSpace> effective_mask(const Tensor4<T, ExecSpace>& mask, bool masked_boundary, const Shape4& signal,
                                     int kh, int kw) {
  if (!masked_boundary) return mask;
  auto boundary = boundary_mask<T, ExecSpace>(int(signal.h), int(signal.w), kh, kw);
  if (mask.data() == nullptr) return boundary;
  const Shape4 so{std::int64_t(mask.extent(0)), std::int64_t(mask.extent(1)), signal.h, signal.w};
  auto out = make_tensor<T, ExecSpace>("mcsc::learn_dictionary::mask", so);
  const auto m = broadcast_view(mask, so);
  auto fo = flat(out);
  const std::int64_t W = signal.w, HW = signal.h * signal.w;
  Kokkos::parallel_for(
      "mcsc::cdl::effective_mask", Kokkos::RangePolicy<ExecSpace>(0, fo.extent(0)),
      KOKKOS_LAMBDA(const std::int64_t i) {
        const std::int64_t ij = i % HW;
        fo(i) = m.at(i) * boundary(0, 0, int(ij / W), int(ij % W));
      });
  return out;
}

}  // namespace cdl
}  // namespace Impl

// ------------------------------------------------------------------ objective and gradient

/// 1/2 ||M .* (S - D*U)||^2 + lambda ||U||_1 for dictionary D, codes U (N, K, H, W), signals S
/// (N, m, H, W) and an optional mask M (each extent 1 or the signals'; empty: none). Allocates a
/// reconstruction; for evaluation, not for inner loops.
template <class Dictionary>
double dictionary_learning_objective(const Dictionary& D, const typename Dictionary::tensor_type& codes,
                                     const typename Dictionary::tensor_type& signals,
                                     const typename Dictionary::tensor_type& mask, double lambda) {
  using T = typename Dictionary::scalar_type;
  using ExecSpace = typename Dictionary::execution_space;
  const char* fn = "mcsc::dictionary_learning_objective";
  const Shape4 sy = shape_of(signals);
  Impl::cdl::check_inputs(fn, D, signals, mask);
  MCSC_REQUIRE(shape_of(codes) == D.code_shape(sy), fn,
               "codes " << shape_of(codes) << " should be " << D.code_shape(sy) << " for signals " << sy);
  auto reconstruction = make_tensor<T, ExecSpace>("mcsc::dictionary_learning_objective::reconstruction", sy);
  D.apply(codes, reconstruction);
  return Impl::cdl::data_term(reconstruction, signals, broadcast_view(mask, sy)) + lambda * sum_abs(codes);
}

/// gradient (m, K, s, s) = the gradient with respect to the weights of the data term
/// 1/2 ||M .* (S - D*U)||^2, i.e. J'(M^2 .* (D*U - S)) with J: D -> D*U; returns the data term.
/// Allocates two signal-sized buffers; for evaluation, not for inner loops.
template <class Dictionary>
double dictionary_gradient(const Dictionary& D, const typename Dictionary::tensor_type& codes,
                           const typename Dictionary::tensor_type& signals,
                           const typename Dictionary::tensor_type& mask,
                           const typename Dictionary::tensor_type& gradient) {
  using T = typename Dictionary::scalar_type;
  using ExecSpace = typename Dictionary::execution_space;
  const char* fn = "mcsc::dictionary_gradient";
  const Shape4 sy = shape_of(signals);
  Impl::cdl::check_inputs(fn, D, signals, mask);
  MCSC_REQUIRE(shape_of(codes) == D.code_shape(sy), fn,
               "codes " << shape_of(codes) << " should be " << D.code_shape(sy) << " for signals " << sy);
  MCSC_REQUIRE(shape_of(gradient) == shape_of(D.weights()), fn,
               "gradient " << shape_of(gradient) << " should have the weights' shape " << shape_of(D.weights()));
  auto reconstruction = make_tensor<T, ExecSpace>("mcsc::dictionary_gradient::reconstruction", sy);
  auto residual = make_tensor<T, ExecSpace>("mcsc::dictionary_gradient::residual", sy);
  D.apply(codes, reconstruction);
  const auto M = broadcast_view(mask, sy);
  const double value = Impl::cdl::residual(T(1), reconstruction, T(0), reconstruction, signals, M, residual);
  D.weight_gradient(codes, residual, gradient);
  return value;
}

// ------------------------------------------------------------------ dictionary update

/// Buffers of update_dictionary(), reused across calls (learn_dictionary() keeps one): weight-
/// and signal-sized tensors, (re)allocated when the shapes change, and the power-iteration
/// vector that warm-starts the Lipschitz estimate.
template <class T, class ExecSpace>
struct DictionaryUpdateWorkspace {
  using tensor_type = Tensor4<T, ExecSpace>;
  tensor_type x, x_prev, z, y, g, power, power_tmp;  // weight-sized
  tensor_type rx, rx_prev, rz, r;                    // signal-sized
  Kokkos::View<double**, Kokkos::LayoutRight, DeviceOf<ExecSpace>> terms;  // (K, 2) per-filter sums
  typename Kokkos::View<double**, Kokkos::LayoutRight, DeviceOf<ExecSpace>>::HostMirror terms_host;

  void reserve(const Shape4& signal, const Shape4& weight) {
    if (shape_of(x) != weight) {
      for (auto* v : {&x, &x_prev, &z, &y, &g, &power, &power_tmp})
        *v = make_tensor<T, ExecSpace>("mcsc::DictionaryUpdateWorkspace::weights", weight);
      terms = decltype(terms)("mcsc::DictionaryUpdateWorkspace::terms", weight.c, 2);
      terms_host = Kokkos::create_mirror_view(terms);
    }
    if (shape_of(rx) != signal) {
      for (auto* v : {&rx, &rx_prev, &rz, &r})
        *v = make_tensor<T, ExecSpace>("mcsc::DictionaryUpdateWorkspace::signal", signal);
    }
  }
};

/// The dictionary block: with the codes U fixed, decreases
///     f(D) = 1/2 ||M .* (S - D*U)||^2   subject to every filter in options.constraint
/// by projected gradient on the weights of `dictionary` (updated in place; weights_changed() is
/// called), FISTA-accelerated (options.accelerate) with the MFISTA safeguard: a candidate
/// P(Y - grad f(Y) / L) becomes the new iterate only if f does not increase, otherwise the
/// iterate stays and only the momentum moves. L starts at options.lipschitz or a (warm-started)
/// power-iteration estimate of lambda_max(J'M^2 J) and is raised by backtracking until the
/// candidate satisfies the sufficient-decrease condition f(Z) <= f(Y) + <g, Z - Y> + L/2 ||Z - Y||^2.
///
/// codes (N, K, H, W), signals (N, m, H, W), mask: >= 0, each extent 1 or the signals' (as
/// fista()'s mask), or empty (none).
/// The starting weights are first projected onto the constraint set; from there the data term
/// never increases (for every constraint), and for the convex ones (unit_ball, none) the iterates
/// converge to the minimiser. Returns data terms before/after and counters.
template <class Dictionary>
DictionaryUpdateResult update_dictionary(
    Dictionary& dictionary, const typename Dictionary::tensor_type& codes,
    const typename Dictionary::tensor_type& signals, const typename Dictionary::tensor_type& mask,
    const DictionaryUpdateOptions& options,
    DictionaryUpdateWorkspace<typename Dictionary::scalar_type, typename Dictionary::execution_space>& ws) {
  using T = typename Dictionary::scalar_type;
  using ExecSpace = typename Dictionary::execution_space;
  const char* fn = "mcsc::update_dictionary";
  MCSC_REQUIRE(options.max_iterations >= 0, fn, "max_iterations must be >= 0, got " << options.max_iterations);
  MCSC_REQUIRE(options.tolerance >= 0 && std::isfinite(options.tolerance), fn,
               "tolerance must be finite and >= 0, got " << options.tolerance);
  MCSC_REQUIRE(options.lipschitz >= 0 && std::isfinite(options.lipschitz), fn,
               "lipschitz must be finite and >= 0 (0: estimate), got " << options.lipschitz);
  MCSC_REQUIRE(options.power_iterations >= 1, fn, "power_iterations must be >= 1, got " << options.power_iterations);
  Dictionary& D = dictionary;
  Impl::cdl::check_inputs(fn, D, signals, mask);
  const Shape4 sy = shape_of(signals), sw = shape_of(D.weights());
  MCSC_REQUIRE(shape_of(codes) == D.code_shape(sy), fn,
               "codes " << shape_of(codes) << " should be " << D.code_shape(sy) << " (N, K, H, W) for signals " << sy
                        << " and dictionary " << sw);
  require_finite(fn, codes);
  ws.reserve(sy, sw);
  const auto M = broadcast_view(mask, sy);
  const auto& W = D.weights();
  auto set_weights = [&](const Tensor4<T, ExecSpace>& v) {
    Kokkos::deep_copy(W, v);
    D.weights_changed();
  };
  // Over ranks: every data term and weight gradient summed over them (nothing alone).
  Communicator* const ranks = options.communicator.get();
  const auto over_ranks = [ranks](double value) {
    if (ranks) sum_over_ranks(*ranks, &value, 1);
    return value;
  };
  const auto gradient_over_ranks = [ranks](const Tensor4<T, ExecSpace>& gradient) {
    if (ranks) sum_over_ranks(*ranks, gradient);
  };

  DictionaryUpdateResult result;
  auto x = ws.x, x_prev = ws.x_prev, z = ws.z, y = ws.y, g = ws.g;
  auto rx = ws.rx, rx_prev = ws.rx_prev, rz = ws.rz, r = ws.r;
  Kokkos::deep_copy(x, W);
  project_filters(x, options.constraint);

  // L: lambda_max of v -> J'(M^2 .* J v), with J v = conv(U, v) (the weights temporarily v).
  double L = options.lipschitz;
  if (!(L > 0)) {
    const auto normal = [&](const Tensor4<T, ExecSpace>& v, const Tensor4<T, ExecSpace>& out) {
      set_weights(v);
      D.apply(codes, r);
      Impl::cdl::multiply_mask_squared(r, M);
      D.weight_gradient(codes, r, out);
      gradient_over_ranks(out);
    };
    L = 1.02 * power_iteration_warm(normal, ws.power, ws.power_tmp, Impl::cdl::power_options(options.power_iterations));
    if (!(L > 0)) L = 1;  // all-zero codes or mask: f does not depend on D, any step works
  }

  set_weights(x);
  D.apply(codes, rx);
  double fx = over_ranks(Impl::cdl::data_term(rx, signals, M));
  result.initial_data_term = fx;
  Kokkos::deep_copy(y, x);
  // Y = x, and J(Y) = a J(x) + b J(x_prev) (kept by linearity, never formed: only its residual is).
  T a = T(1), b = T(0);
  auto rb = rx;  // the second reconstruction of that combination
  const double slack = 64 * double(std::numeric_limits<T>::epsilon());
  constexpr int max_backtracks = 60;
  constexpr double backtrack_factor = 1.5;
  const int K = int(sw.c);
  double t = 1;
  for (int k = 0; k < options.max_iterations; ++k) {
    const double fy = over_ranks(Impl::cdl::residual(a, rx, b, rb, signals, M, r));  // r = M^2 (J Y - S)
    D.weight_gradient(codes, r, g);
    gradient_over_ranks(g);
    double fz = 0;
    for (int bt = 0;; ++bt) {
      // z = P(Y - g / L), written to the dictionary's weights as well
      Impl::cdl::projected_step(y, g, 1.0 / L, options.constraint, z, W, ws.terms);
      D.weights_changed();
      D.apply(codes, rz);
      fz = over_ranks(Impl::cdl::data_term(rz, signals, M));
      Kokkos::deep_copy(ws.terms_host, ws.terms);
      double gd = 0, dd = 0;
      for (int f = 0; f < K; ++f) gd += ws.terms_host(f, 0), dd += ws.terms_host(f, 1);
      const double model = fy + gd + 0.5 * L * dd;
      if (fz <= model + slack * std::abs(fy) || bt == max_backtracks) break;
      L *= backtrack_factor;
      ++result.backtracks;
    }
    MCSC_REQUIRE_NUMERIC(std::isfinite(fz) && std::isfinite(L), fn,
                 "the data term became " << fz << " (L = " << L << ") at iteration " << k + 1);
    result.iterations = k + 1;
    const double t_next = 0.5 * (1 + std::sqrt(1 + 4 * t * t));
    const bool accepted = fz <= fx;
    if (accepted) {
      // x_prev <- x <- z (rotate the handles; the old x_prev becomes the next candidate buffer)
      std::swap(x_prev, x);
      std::swap(x, z);
      std::swap(rx_prev, rx);
      std::swap(rx, rz);
      fx = fz;
      const T beta = options.accelerate ? T((t - 1) / t_next) : T(0);
      lincomb(T(1) + beta, x, -beta, x_prev, y);
      a = T(1) + beta, b = -beta, rb = rx_prev;
    } else {
      ++result.rejected;
      if (!options.accelerate) break;  // the plain projected-gradient step cannot make progress
      // MFISTA: x stays, Y = x + (t / t_next) (z - x). (x_prev is not needed again: an accepted
      // step sets it to x.)
      const T c = T(t / t_next);
      lincomb(T(1) - c, x, c, z, y);
      a = T(1) - c, b = c, rb = rz;
    }
    t = t_next;
    // Converged when the step taken (or, when refused, the candidate) is small.
    if (options.tolerance > 0 && std::sqrt(accepted ? distance_squared(x, x_prev) : distance_squared(z, x)) <=
                                     options.tolerance * std::sqrt(sum_squares(x)))
      break;
  }
  set_weights(x);
  result.data_term = fx;
  result.lipschitz = L;
  return result;
}

/// update_dictionary() with its own workspace (allocated for this call).
template <class Dictionary>
DictionaryUpdateResult update_dictionary(Dictionary& dictionary, const typename Dictionary::tensor_type& codes,
                                         const typename Dictionary::tensor_type& signals,
                                         const typename Dictionary::tensor_type& mask,
                                         const DictionaryUpdateOptions& options) {
  DictionaryUpdateWorkspace<typename Dictionary::scalar_type, typename Dictionary::execution_space> ws;
  return update_dictionary(dictionary, codes, signals, mask, options, ws);
}

}  // namespace mcsc
