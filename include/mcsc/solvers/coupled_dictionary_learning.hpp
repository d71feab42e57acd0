#pragma once
/// \file coupled_dictionary_learning.hpp
/// Coupled convolutional dictionary learning for two aligned modalities: the dictionaries of the
/// CU-Net paper's multimodal model (eq. 1-5), learned from training pairs (x, y) and, for the
/// target dictionaries, targets z:
///
///     min  1/2 ||x - Dc*C - Du*U||^2 + 1/2 ||y - Hc*C - Hv*V||^2 + lambda (||C||_1 + ||U||_1 + ||V||_1)
///     over the codes C, U, V and the filters of Dc, Du, Hc, Hv, each filter of unit norm
///
/// by block coordinate descent: (1) the codes by common_unique() warm-started from the previous
/// ones, (2) the filters of x, [Dc Du], with the codes [C; U] fixed and (3) the filters of y,
/// [Hc Hv], with [C; V] fixed, both by update_dictionary() (a convolutional dictionary of
/// Kc + Ku (Kc + Kv) filters whose codes are the stacked blocks). Every block is accepted only if
/// it does not increase eq. 5, so the objective history is non-increasing.
///
/// The target dictionaries are then fitted to z with the codes of the final (x, y) fixed:
///     min_{Gc, Gu (, Gv)}  1/2 ||z - Gc*C - Gu*U (- Gv*V)||^2    (eq. 3 restoration, eq. 4 fusion)
/// a least-squares problem without norm constraint (z may have another scale than x), solved by
/// update_dictionary() with FilterConstraint::none. At test time common_unique() on a new pair
/// followed by common_unique_restoration()/common_unique_fusion() gives the classical estimate of
/// z, the classical counterpart of CU-Net.
#include <functional>
#include <vector>

#include "mcsc/solvers/common_unique.hpp"
#include "mcsc/solvers/dictionary_learning.hpp"

namespace mcsc {

/// The weights of the multimodal model: x = Dc*C + Du*U, y = Hc*C + Hv*V, z = Gc*C + Gu*U (+ Gv*V).
/// Dc (mx, Kc, s, s), Du (mx, Ku, s, s), Hc (my, Kc, s, s), Hv (my, Kv, s, s); Gc (mz, Kc, s, s),
/// Gu (mz, Ku, s, s), Gv (mz, Kv, s, s) (Gv only for fusion). Views: learning updates them in place.
template <class T, class ExecSpace>
struct MultimodalDictionaries {
  Tensor4<T, ExecSpace> Dc, Du, Hc, Hv, Gc, Gu, Gv;
};

/// Random unit-norm dictionaries (random_dictionary()) of the shapes above, targets included
/// (Gv when `fusion`). Seeds derive from `seed`.
template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
MultimodalDictionaries<T, ExecSpace> random_multimodal_dictionaries(int mx, int my, int mz, int Kc, int Ku, int Kv,
                                                                    int size, bool fusion, std::uint64_t seed = 1) {
  MultimodalDictionaries<T, ExecSpace> d;
  d.Dc = random_dictionary<T, ExecSpace>(mx, Kc, size, seed);
  d.Du = random_dictionary<T, ExecSpace>(mx, Ku, size, seed + 1);
  d.Hc = random_dictionary<T, ExecSpace>(my, Kc, size, seed + 2);
  d.Hv = random_dictionary<T, ExecSpace>(my, Kv, size, seed + 3);
  d.Gc = random_dictionary<T, ExecSpace>(mz, Kc, size, seed + 4);
  d.Gu = random_dictionary<T, ExecSpace>(mz, Ku, size, seed + 5);
  if (fusion) d.Gv = random_dictionary<T, ExecSpace>(mz, Kv, size, seed + 6);
  return d;
}

/// Options of learn_coupled_dictionaries().
struct CoupledDictionaryLearningOptions {
  int max_iterations = 10;  ///< outer iterations (codes, then the x and y filters), >= 0
  /// The coding block: lambda(s) and the common_unique() sweeps per outer iteration
  /// (max_iterations) with their inner FISTA iterations.
  CommonUniqueOptions coding = [] {
    CommonUniqueOptions o;
    o.lambda = 0.05;
    o.max_iterations = 3;
    o.inner_iterations = 10;
    return o;
  }();
  /// The filter blocks of x and y (constraint: unit sphere by default, or unit ball).
  DictionaryUpdateOptions dictionary = [] {
    DictionaryUpdateOptions o;
    o.max_iterations = 10;
    return o;
  }();
  /// The fit of the target dictionaries (the constraint is ignored: none).
  DictionaryUpdateOptions target = [] {
    DictionaryUpdateOptions o;
    o.max_iterations = 200;
    o.tolerance = 1e-6;
    return o;
  }();
  /// Stop when an outer iteration lowers eq. 5 by at most tolerance times its value (0: never).
  double tolerance = 0;
};

/// What learn_coupled_dictionaries() returns. objective[k]: eq. 5 after outer iteration k+1.
template <class T, class ExecSpace>
struct CoupledDictionaryLearningResult {
  CommonUniqueResult<T, ExecSpace> codes;  ///< the codes of the training pairs at the end
  double initial_objective = 0;            ///< eq. 5 before learning: the initial filters, codes from one coding block
  std::vector<double> objective;
  std::vector<double> seconds;
  int iterations = 0;
  double target_data_term = 0;             ///< 1/2 ||z - Gc*C - Gu*U (- Gv*V)||^2 after the fit (z given)
  double initial_target_data_term = 0;     ///< the same before the fit
};

/// What learn_coupled_dictionaries() shows its callback after every outer iteration.
struct CoupledDictionaryLearningIterate {
  int iteration;
  double objective;
  double seconds;
};

namespace Impl {
/// [a b] along the filter axis: (m, Ka, s, s) and (m, Kb, s, s) -> (m, Ka + Kb, s, s).
template <class T, class ExecSpace>
Tensor4<T, ExecSpace> join_filters(const char* fn, const char* name_a, const Tensor4<T, ExecSpace>& a,
                                   const char* name_b, const Tensor4<T, ExecSpace>& b) {
  const Shape4 sa = shape_of(a), sb = shape_of(b);
  MCSC_REQUIRE(sa.n == sb.n && sa.h == sb.h && sa.w == sb.w, fn,
               name_a << " " << sa << " and " << name_b << " " << sb
                      << " must have the same channels and filter size to be learned together");
  auto out = make_tensor<T, ExecSpace>("mcsc::join_filters", Shape4{sa.n, sa.c + sb.c, sa.h, sa.w});
  concat_channels(a, b, out);
  return out;
}

/// The codes [a; b] along the channel axis (into out, allocated on first use).
template <class T, class ExecSpace>
void join_codes(const Tensor4<T, ExecSpace>& a, const Tensor4<T, ExecSpace>& b, Tensor4<T, ExecSpace>& out) {
  const Shape4 sa = shape_of(a), sb = shape_of(b);
  const Shape4 so{sa.n, sa.c + sb.c, sa.h, sa.w};
  if (shape_of(out) != so) out = make_tensor<T, ExecSpace>("mcsc::join_codes", so);
  concat_channels(a, b, out);
}

/// One filter block: the joint dictionary [a b] (weights `joint`) with codes [ca; cb] fitted to
/// `signal`; a and b get the result. Returns the update's result.
template <class Dictionary>
DictionaryUpdateResult update_joint_filters(
    const typename Dictionary::tensor_type& joint, Boundary boundary, const typename Dictionary::tensor_type& codes,
    const typename Dictionary::tensor_type& signal, const DictionaryUpdateOptions& options,
    const typename Dictionary::tensor_type& a, const typename Dictionary::tensor_type& b,
    DictionaryUpdateWorkspace<typename Dictionary::scalar_type, typename Dictionary::execution_space>& ws) {
  concat_channels(a, b, joint);
  Dictionary D(joint, boundary);
  const auto r = update_dictionary(D, codes, signal, typename Dictionary::tensor_type(), options, ws);
  split_channels(joint, a, b);
  return r;
}
}  // namespace Impl

/// Learns Dc, Du, Hc, Hv of `dicts` (in place) from aligned training pairs x (N, mx, H, W) and
/// y (N, my, H, W) (see the file comment), then, when z (N, mz, H, W) is given, fits Gc, Gu (and
/// Gv, when dicts.Gv is set: fusion) to z. Dictionary is the operator type used throughout
/// (ConvDictionary or FftConvDictionary), with `boundary`. The initial filters are projected
/// onto the constraint first. `callback` (when given) after every outer iteration; false stops.
template <class Dictionary>
CoupledDictionaryLearningResult<typename Dictionary::scalar_type, typename Dictionary::execution_space>
learn_coupled_dictionaries(
    MultimodalDictionaries<typename Dictionary::scalar_type, typename Dictionary::execution_space>& dicts,
    const typename Dictionary::tensor_type& x, const typename Dictionary::tensor_type& y,
    const typename Dictionary::tensor_type& z, const CoupledDictionaryLearningOptions& options,
    Boundary boundary = Boundary::zero,
    const std::function<bool(const CoupledDictionaryLearningIterate&)>& callback = {}) {
  using T = typename Dictionary::scalar_type;
  using ExecSpace = typename Dictionary::execution_space;
  using tensor_type = typename Dictionary::tensor_type;
  const char* fn = "mcsc::learn_coupled_dictionaries";
  MCSC_REQUIRE(options.max_iterations >= 0, fn, "max_iterations must be >= 0, got " << options.max_iterations);
  MCSC_REQUIRE(options.tolerance >= 0 && std::isfinite(options.tolerance), fn,
               "tolerance must be finite and >= 0, got " << options.tolerance);
  for (auto* w : {&dicts.Dc, &dicts.Du, &dicts.Hc, &dicts.Hv})
    MCSC_REQUIRE(w->data() != nullptr && w->size() > 0, fn, "Dc, Du, Hc and Hv must all be given (non-empty)");
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };

  // The joint filters of x and y, learned together, and their stacked codes.
  tensor_type joint_x = Impl::join_filters(fn, "Dc", dicts.Dc, "Du", dicts.Du);
  tensor_type joint_y = Impl::join_filters(fn, "Hc", dicts.Hc, "Hv", dicts.Hv);
  project_filters(dicts.Dc, options.dictionary.constraint);
  project_filters(dicts.Du, options.dictionary.constraint);
  project_filters(dicts.Hc, options.dictionary.constraint);
  project_filters(dicts.Hv, options.dictionary.constraint);
  Dictionary Dc(dicts.Dc, boundary), Du(dicts.Du, boundary), Hc(dicts.Hc, boundary), Hv(dicts.Hv, boundary);

  CoupledDictionaryLearningResult<T, ExecSpace> result;
  result.codes = common_unique(Dc, Du, Hc, Hv, x, y, options.coding);  // checks every input
  const auto objective = [&] {
    return common_unique_objective(Dc, Du, Hc, Hv, x, y, result.codes.C, result.codes.U, result.codes.V,
                                   options.coding);
  };
  result.initial_objective = result.codes.objective.empty() ? result.codes.initial_objective
                                                            : result.codes.objective.back();
  tensor_type codes_x, codes_y;
  DictionaryUpdateWorkspace<T, ExecSpace> ws_x, ws_y;
  DictionaryUpdateOptions dict_options = options.dictionary;
  double previous = result.initial_objective;
  for (int k = 0; k < options.max_iterations; ++k) {
    // the filters of x, then of y (each decreases its own data term, the rest of eq. 5 unchanged)
    Impl::join_codes(result.codes.C, result.codes.U, codes_x);
    const auto rx = Impl::update_joint_filters<Dictionary>(joint_x, boundary, codes_x, x, dict_options, dicts.Dc,
                                                           dicts.Du, ws_x);
    Impl::join_codes(result.codes.C, result.codes.V, codes_y);
    const auto ry = Impl::update_joint_filters<Dictionary>(joint_y, boundary, codes_y, y, dict_options, dicts.Hc,
                                                           dicts.Hv, ws_y);
    MCSC_REQUIRE_NUMERIC(std::isfinite(rx.data_term) && std::isfinite(ry.data_term), fn,
                 "a filter update diverged at iteration " << k + 1);
    Dictionary* const changed[] = {&Dc, &Du, &Hc, &Hv};  // an array, not a braced list: nvcc 13
    for (Dictionary* d : changed) d->weights_changed();
    // the codes, warm-started
    CommonUniqueCodes<T, ExecSpace> warm{result.codes.C, result.codes.U, result.codes.V};
    result.codes = common_unique(Dc, Du, Hc, Hv, x, y, options.coding, warm);
    const double value = result.codes.objective.empty() ? objective() : result.codes.objective.back();
    result.objective.push_back(value);
    result.seconds.push_back(elapsed());
    result.iterations = k + 1;
    MCSC_REQUIRE_NUMERIC(std::isfinite(value), fn, "eq. 5 became " << value << " at iteration " << k + 1);
    bool stop = callback && !callback(CoupledDictionaryLearningIterate{k + 1, value, result.seconds.back()});
    if (options.tolerance > 0) stop = stop || previous - value <= options.tolerance * std::abs(previous);
    previous = value;
    if (stop) break;
  }

  if (z.data() != nullptr) {
    const bool fusion = dicts.Gv.data() != nullptr;
    MCSC_REQUIRE(dicts.Gc.data() != nullptr && dicts.Gu.data() != nullptr, fn,
                 "a target z needs initial Gc and Gu (e.g. random_multimodal_dictionaries())");
    const Shape4 sz = shape_of(z), sx = shape_of(x);
    MCSC_REQUIRE(sz.n == sx.n && sz.h == sx.h && sz.w == sx.w, fn,
                 "target z " << sz << " and x " << sx << " differ in batch or image size");
    require_finite(fn, z);
    DictionaryUpdateOptions target = options.target;
    target.constraint = FilterConstraint::none;
    tensor_type joint_g = Impl::join_filters(fn, "Gc", dicts.Gc, "Gu", dicts.Gu);
    tensor_type codes_z;
    Impl::join_codes(result.codes.C, result.codes.U, codes_z);
    if (fusion) {
      joint_g = Impl::join_filters(fn, "[Gc Gu]", joint_g, "Gv", dicts.Gv);
      tensor_type codes_cu = codes_z;
      codes_z = tensor_type();
      Impl::join_codes(codes_cu, result.codes.V, codes_z);
    }
    Dictionary G(joint_g, boundary);
    const auto r = update_dictionary(G, codes_z, z, tensor_type(), target);
    result.initial_target_data_term = r.initial_data_term;
    result.target_data_term = r.data_term;
    if (fusion) {
      const Shape4 sg = shape_of(joint_g);
      auto gcu = make_tensor<T, ExecSpace>("mcsc::learn_coupled_dictionaries::gcu",
                                           Shape4{sg.n, shape_of(dicts.Gc).c + shape_of(dicts.Gu).c, sg.h, sg.w});
      split_channels(joint_g, gcu, dicts.Gv);
      split_channels(gcu, dicts.Gc, dicts.Gu);
    } else {
      split_channels(joint_g, dicts.Gc, dicts.Gu);
    }
  }
  return result;
}

}  // namespace mcsc
