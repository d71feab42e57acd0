#pragma once
/// \file dictionary_learning.hpp
/// Convolutional dictionary learning (CDL):
///
///     min_{D, U}  1/2 ||M .* (S - D*U)||^2 + lambda ||U||_1   s.t.  d_k in C for every filter k,
///
/// over training signals S (N, m, H, W), codes U (N, K, H, W) and the dictionary weights D
/// (m, K, s, s) (the weight of a ConvDictionary or FftConvDictionary: filter k is the slice
/// D(:, k, :, :), all its m channels and s x s taps together). C is the unit sphere
/// ||d_k|| = 1 (as SPORCO normalises) or the unit ball ||d_k|| <= 1 (convex). M is an optional
/// mask (broadcast over images and/or channels), e.g. boundary_mask(), which drops the pixels
/// whose reconstruction needs codes outside the image.
///
/// Block coordinate descent, as SPORCO's ConvBPDNDictLearn (B. Wohlberg, "Efficient algorithms
/// for convolutional sparse representations", IEEE TIP 2016) but with proximal-gradient blocks
/// that work with any dictionary operator:
///   1. sparse coding, D fixed: fista() warm-started from the current codes;
///   2. dictionary update, U fixed (update_dictionary()): projected gradient on the weights,
///      FISTA-accelerated with the monotone safeguard of Beck & Teboulle's MFISTA and a
///      backtracking step size; the gradient J'(M^2 .* (J D - S)) of the linear map J: D -> D*U
///      is the dictionary's weight_gradient().
/// A block's result is kept only if it does not increase the objective, so the objective
/// history is non-increasing (see learn_dictionary()). The dictionary block, its options and the
/// filter helpers are in dictionary_update.hpp.
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "mcsc/solvers/dictionary_update.hpp"
#include "mcsc/solvers/fista.hpp"

namespace mcsc {

/// Options of learn_dictionary().
struct DictionaryLearningOptions {
  double lambda = 0.1;           ///< l1 weight, >= 0
  int max_iterations = 20;       ///< outer iterations (one coding + one dictionary block each), >= 0
  int coding_iterations = 50;    ///< FISTA iterations of each sparse-coding block, >= 1
  int dictionary_iterations = 20;  ///< iterations of each dictionary block, >= 0
  FilterConstraint constraint = FilterConstraint::unit_sphere;
  /// Count only the pixels whose whole filter support lies inside the image: with s x s filters
  /// ("same" padding, (s-1)/2 before and s/2 after), rows (s-1)/2 .. H-1-s/2 and columns
  /// (s-1)/2 .. W-1-s/2 (see boundary_mask()). Multiplies any mask given to learn_dictionary().
  bool masked_boundary = false;
  /// Stop when an outer iteration lowers the objective by at most tolerance * objective (0: never).
  double tolerance = 0;
  double coding_tolerance = 0;      ///< fista()'s relative-change stop inside a coding block
  double dictionary_tolerance = 0;  ///< update_dictionary()'s relative-change stop
  bool accelerate = true;           ///< momentum in both blocks
  int power_iterations = 30;        ///< per Lipschitz estimate (warm-started), >= 1
  /// Data-parallel learning: each rank holds some of the signals (same channels, height and
  /// width; the same initial dictionary, options and mask shape) and their codes; the coding
  /// blocks run fista() over the ranks (FistaOptions::communicator, its step from one image), the
  /// dictionary block sums its data terms and gradients over them, and every objective is summed
  /// over them, so all ranks keep the same dictionary and take the same decisions. Every call is
  /// collective. Null: this process alone (docs/distributed.md).
  std::shared_ptr<Communicator> communicator;

  /// The options of the dictionary block.
  DictionaryUpdateOptions dictionary_update() const {
    DictionaryUpdateOptions o;
    o.max_iterations = dictionary_iterations;
    o.constraint = constraint;
    o.tolerance = dictionary_tolerance;
    o.accelerate = accelerate;
    o.power_iterations = power_iterations;
    o.communicator = communicator;
    return o;
  }
};

/// What learn_dictionary() returns. objective[k] is the objective after outer iteration k+1.
template <class T, class ExecSpace>
struct DictionaryLearningResult {
  Tensor4<T, ExecSpace> codes;       ///< U (N, K, H, W)
  double initial_objective = 0;      ///< at the (projected) initial weights and initial codes
  std::vector<double> objective;
  std::vector<double> seconds;       ///< wall time since the start, per outer iteration
  std::vector<double> filter_norms;  ///< ||d_k|| of the final weights, k = 0..K-1
  int iterations = 0;
  int rejected_coding_steps = 0;     ///< coding blocks refused (they would have raised the objective)
  int rejected_dictionary_steps = 0; ///< dictionary blocks refused
};

/// What learn_dictionary() shows its callback after every outer iteration (valid during the call).
template <class T, class ExecSpace>
struct DictionaryLearningIterate {
  int iteration;                          ///< 1-based
  double objective;
  const Tensor4<T, ExecSpace>& codes;     ///< U
  const Tensor4<T, ExecSpace>& weights;   ///< D (m, K, s, s)
};

// ------------------------------------------------------------------ sparse coding block

namespace Impl {
namespace cdl {
/// The sparse-coding block: fista() with the mask, from `initial`, with step 1/L, L a
/// warm-started power-iteration estimate (times 1.05) of lambda_max(D'M^2 D); the best iterate
/// (by fista()'s objective) is copied to `best`. Returns whether some iterate beat
/// start_objective (otherwise `best` is not written).
/// power, power_tmp: code-sized; signal_tmp: signal-sized scratch.
template <class Dictionary>
bool sparse_code(const Dictionary& D, const typename Dictionary::tensor_type& signals,
                 const typename Dictionary::tensor_type& mask, FistaOptions options,
                 const typename Dictionary::tensor_type& initial, double start_objective,
                 const typename Dictionary::tensor_type& best, int power_iterations,
                 const typename Dictionary::tensor_type& power, const typename Dictionary::tensor_type& power_tmp,
                 const typename Dictionary::tensor_type& signal_tmp) {
  using T = typename Dictionary::scalar_type;
  using ExecSpace = typename Dictionary::execution_space;
  using tensor_type = typename Dictionary::tensor_type;
  const auto M = broadcast_view(mask, shape_of(signals));
  const auto normal = [&](const tensor_type& v, const tensor_type& out) {  // v -> D'(M^2 .* D v)
    D.apply(v, signal_tmp);
    multiply_mask_squared(signal_tmp, M);
    D.adjoint(signal_tmp, out);
  };
  if (!options.communicator) {  // over ranks: fista()'s own estimate from one image, the same on every rank
    const double L = 1.05 * mcsc::power_iteration_warm(normal, power, power_tmp, power_options(power_iterations));
    options.lipschitz = L > 0 ? L : 1.0;  // zero operator: the minimiser is U = 0, reached with any step
  }
  BestIterate<T, ExecSpace> keep_best;
  keep_best.reset(best, tensor_type(), start_objective);
  fista(D, signals, options, initial, keep_best.callback(), tensor_type(), mask);
  return keep_best.improved();
}
}  // namespace cdl
}  // namespace Impl

// ------------------------------------------------------------------ learning

/// The bytes learn_dictionary() allocates for signals of shape `signal` (it checks them against the
/// memory budget before allocating): 4 code-sized buffers of its own (codes, candidate, power
/// iteration), 6 signal-sized (reconstruction, mask, the dictionary block's 4), 8 weight-sized
/// (backup, the dictionary block's 7), and what each coding block's fista() allocates beside them.
/// test_dictionary_learning "[memory]" checks that a run stays within it.
template <class Dictionary>
double learn_dictionary_memory_bytes(const Dictionary& D, const Shape4& signal) {
  const Shape4 sc = D.code_shape(signal), sw = shape_of(D.weights());
  return double(sizeof(typename Dictionary::scalar_type)) *
             (4.0 * double(sc.size()) + 6.0 * double(signal.size()) + 8.0 * double(sw.size())) +
         fista_memory_bytes(D, signal);
}

/// Learns a convolutional dictionary: alternates the sparse-coding block and the dictionary block
/// for options.max_iterations outer iterations, on
///     F(D, U) = 1/2 ||M .* (S - D*U)||^2 + lambda ||U||_1,   every filter in options.constraint.
///   1. coding: fista() with the mask (options.coding_iterations, warm-started from the current
///      codes, step from a warm-started power iteration); its best iterate is the candidate;
///   2. dictionary: update_dictionary() (options.dictionary_iterations).
///
/// dictionary: a ConvDictionary or FftConvDictionary whose weights (m, K, s, s) are the initial
/// dictionary and are updated in place (its weights_changed() is called). They are first
/// projected onto the constraint set. signals S (N, m, H, W); mask: optional M >= 0, each extent
/// 1 or the signals', multiplied by boundary_mask() when options.masked_boundary;
/// initial_codes: optional (N, K, H, W), zero otherwise. `callback(iterate)` runs after every
/// outer iteration; returning false stops.
///
/// Guarantee (both constraints): a block's candidate is kept only if F, evaluated by one and the
/// same routine, does not increase; otherwise the previous codes/weights are restored. So
/// objective[] is non-increasing and objective[0] <= initial_objective, exactly (no rounding
/// slack). For the unit ball both blocks are convex subproblems solved by convergent descent
/// methods, so this is monotone block-coordinate descent on a problem that is convex in each
/// block. For the unit sphere (non-convex) monotonicity is all that is guaranteed: the
/// dictionary block's projection is a normalisation, the block may stop at a non-stationary
/// point, and the learned filters depend on the start (there is no recovery guarantee).
template <class Dictionary>
DictionaryLearningResult<typename Dictionary::scalar_type, typename Dictionary::execution_space> learn_dictionary(
    Dictionary& dictionary, const typename Dictionary::tensor_type& signals,
    const DictionaryLearningOptions& options,
    const std::function<bool(const DictionaryLearningIterate<typename Dictionary::scalar_type,
                                                             typename Dictionary::execution_space>&)>& callback = {},
    const typename Dictionary::tensor_type& mask = {}, const typename Dictionary::tensor_type& initial_codes = {}) {
  using T = typename Dictionary::scalar_type;
  using ExecSpace = typename Dictionary::execution_space;
  const char* fn = "mcsc::learn_dictionary";
  Dictionary& D = dictionary;
  MCSC_REQUIRE(options.lambda >= 0 && std::isfinite(options.lambda), fn,
               "lambda must be finite and >= 0, got " << options.lambda);
  MCSC_REQUIRE(options.max_iterations >= 0, fn, "max_iterations must be >= 0, got " << options.max_iterations);
  MCSC_REQUIRE(options.coding_iterations >= 1, fn, "coding_iterations must be >= 1, got " << options.coding_iterations);
  MCSC_REQUIRE(options.dictionary_iterations >= 0, fn,
               "dictionary_iterations must be >= 0, got " << options.dictionary_iterations);
  for (double tol : {options.tolerance, options.coding_tolerance, options.dictionary_tolerance})
    MCSC_REQUIRE(tol >= 0 && std::isfinite(tol), fn, "tolerances must be finite and >= 0, got " << tol);
  MCSC_REQUIRE(options.power_iterations >= 1, fn, "power_iterations must be >= 1, got " << options.power_iterations);
  Impl::cdl::check_inputs(fn, D, signals, mask);
  const Shape4 sy = shape_of(signals), sw = shape_of(D.weights()), sc = D.code_shape(sy);
  // Memory, checked before anything is allocated (core/memory.hpp).
  std::ostringstream what;
  what << "learning a dictionary " << sw << " by " << Impl::coding_what(sy, sc);
  require_memory(fn, what.str(), learn_dictionary_memory_bytes(D, sy));
  const auto full_mask = Impl::cdl::effective_mask(mask, options.masked_boundary, sy, int(sw.h), int(sw.w));
  if (options.masked_boundary) check_broadcast(fn, "mask", full_mask, sy, true);
  const auto M = broadcast_view(full_mask, sy);

  DictionaryLearningResult<T, ExecSpace> result;
  result.codes = make_tensor<T, ExecSpace>("mcsc::learn_dictionary::codes", sc);
  if (initial_codes.data() != nullptr) {
    MCSC_REQUIRE(shape_of(initial_codes) == sc, fn,
                 "initial codes " << shape_of(initial_codes) << " should be " << sc << " (N, K, H, W)");
    require_finite(fn, initial_codes);
    Kokkos::deep_copy(result.codes, initial_codes);
  }
  const auto& W = D.weights();
  project_filters(W, options.constraint);
  D.weights_changed();

  // Buffers reused by every outer iteration.
  auto reconstruction = make_tensor<T, ExecSpace>("mcsc::learn_dictionary::reconstruction", sy);
  auto backup = make_tensor<T, ExecSpace>("mcsc::learn_dictionary::weights_backup", sw);
  auto power = make_tensor<T, ExecSpace>("mcsc::learn_dictionary::power", sc);
  auto power_tmp = make_tensor<T, ExecSpace>("mcsc::learn_dictionary::power_tmp", sc);
  auto candidate = make_tensor<T, ExecSpace>("mcsc::learn_dictionary::candidate_codes", sc);
  DictionaryUpdateWorkspace<T, ExecSpace> ws;
  DictionaryUpdateOptions dopts = options.dictionary_update();
  FistaOptions fopts;
  fopts.lambda = options.lambda;
  fopts.max_iterations = options.coding_iterations;
  fopts.tolerance = options.coding_tolerance;
  fopts.accelerate = options.accelerate;
  fopts.communicator = options.communicator;
  Communicator* const ranks = options.communicator.get();
  const auto over_ranks = [ranks](double value) {  // summed over the ranks (nothing alone)
    if (ranks) sum_over_ranks(*ranks, &value, 1);
    return value;
  };

  D.apply(result.codes, reconstruction);
  double l1 = over_ranks(sum_abs(result.codes));
  double F = over_ranks(Impl::cdl::data_term(reconstruction, signals, M)) + options.lambda * l1;
  result.initial_objective = F;
  const auto start = std::chrono::steady_clock::now();
  for (int it = 0; it < options.max_iterations; ++it) {
    const double F_start = F;
    // 1. sparse coding: the best FISTA iterate, kept if it lowers the objective
    bool accepted = Impl::cdl::sparse_code(D, signals, full_mask, fopts, result.codes, F, candidate,
                                           options.power_iterations, power, power_tmp, reconstruction);
    if (accepted) {
      D.apply(candidate, reconstruction);
      const double l1_coded = over_ranks(sum_abs(candidate));
      const double F_coded = over_ranks(Impl::cdl::data_term(reconstruction, signals, M)) + options.lambda * l1_coded;
      accepted = F_coded <= F;
      if (accepted) {
        std::swap(result.codes, candidate);
        l1 = l1_coded;
        F = F_coded;
      }
    }
    if (!accepted) ++result.rejected_coding_steps;
    // 2. dictionary update
    if (options.dictionary_iterations > 0) {
      Kokkos::deep_copy(backup, W);
      const auto up = update_dictionary(D, result.codes, signals, full_mask, dopts, ws);
      const double F_dict = up.data_term + options.lambda * l1;
      if (F_dict <= F) {
        F = F_dict;
      } else {
        Kokkos::deep_copy(W, backup);
        D.weights_changed();
        ++result.rejected_dictionary_steps;
      }
    }
    ExecSpace().fence();
    result.objective.push_back(F);
    result.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    result.iterations = it + 1;
    bool stop = callback && !callback(DictionaryLearningIterate<T, ExecSpace>{it + 1, F, result.codes, W});
    if (options.tolerance > 0) stop = stop || F_start - F <= options.tolerance * std::abs(F);
    if (stop) break;
  }
  result.filter_norms = filter_norms(W);
  return result;
}

}  // namespace mcsc
