#pragma once
/// \file broadcast.hpp
/// A tensor broadcast to a larger shape: the solvers' masks (per pixel, per channel, per image)
/// and l1 weights (per filter, per code). Each extent of the tensor is 1 (repeated along that
/// axis) or the target's. One abstraction for every solver (fista(), coupled_l1l1(),
/// learn_dictionary(), update_dictionary()): read by four indices of the target or by its flat
/// (LayoutRight) index; an absent tensor reads 1.
#include <cstdint>

#include "mcsc/core/tensor.hpp"

namespace mcsc {

/// A view V (rank 4, possibly empty) read as if broadcast to a target shape.
template <class V>
struct Broadcast {
  V view;                            ///< empty: absent (reads 1)
  int n = 1, c = 1, h = 1, w = 1;    ///< the view's extents (1: repeated along that axis)
  int C = 1, H = 1, W = 1;           ///< the target's channels, rows, columns (for flat reads)

  KOKKOS_INLINE_FUNCTION bool present() const { return view.data() != nullptr; }
  /// The value at (i, j, k, l) of the target; the view must be present.
  KOKKOS_INLINE_FUNCTION typename V::value_type operator()(int i, int j, int k, int l) const {
    return view(n == 1 ? 0 : i, c == 1 ? 0 : j, h == 1 ? 0 : k, w == 1 ? 0 : l);
  }
  /// The value at flat index idx of the target (LayoutRight), 1 when absent.
  KOKKOS_INLINE_FUNCTION typename V::value_type at(std::int64_t idx) const {
    using T = typename V::value_type;
    if (!present()) return T(1);
    const Pixel p = unflatten(idx, C, H, W);
    return (*this)(p.n, p.c, p.i, p.j);
  }
};

/// v read as broadcast to `to`, unchecked (check_broadcast() checks).
template <class V>
Broadcast<V> broadcast_view(const V& v, const Shape4& to) {
  Broadcast<V> b{v};
  b.C = int(to.c), b.H = int(to.h), b.W = int(to.w);
  if (v.data() == nullptr) return b;
  b.n = int(v.extent(0)), b.c = int(v.extent(1)), b.h = int(v.extent(2)), b.w = int(v.extent(3));
  return b;
}

/// Checks v (when given; `what` names it in messages of function fn): it broadcasts to `to`, is
/// finite and >= 0, and with require_nonzero is not zero everywhere. Reads back two scalars (three
/// with require_nonzero).
template <class V>
void check_broadcast(const char* fn, const char* what, const V& v, const Shape4& to, bool require_nonzero = false) {
  if (v.data() == nullptr) return;
  const Shape4 sv = shape_of(v);
  MCSC_REQUIRE((sv.n == 1 || sv.n == to.n) && (sv.c == 1 || sv.c == to.c) && (sv.h == 1 || sv.h == to.h) &&
                   (sv.w == 1 || sv.w == to.w),
               fn, what << " " << sv << " does not broadcast to " << to << " (each extent must be 1 or equal)");
  require_finite(fn, v);
  auto fv = Impl::flat(v);
  double lowest = 0, highest = 0;
  Kokkos::parallel_reduce(
      "mcsc::check_broadcast::min", Kokkos::RangePolicy<Impl::exec_of<V>>(0, fv.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i, double& m) { m = double(fv(i)) < m ? double(fv(i)) : m; },
      Kokkos::Min<double>(lowest));
  MCSC_REQUIRE(lowest >= 0, fn, what << " must be >= 0, has a negative entry, " << lowest << " (" << what << " " << sv << ")");
  if (!require_nonzero) return;
  Kokkos::parallel_reduce(
      "mcsc::check_broadcast::max", Kokkos::RangePolicy<Impl::exec_of<V>>(0, fv.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i, double& m) { m = double(fv(i)) > m ? double(fv(i)) : m; },
      Kokkos::Max<double>(highest));
  MCSC_REQUIRE(highest > 0, fn, what << " " << sv << " is zero everywhere: no pixel is fitted");
}

/// check_broadcast(), then broadcast_view().
template <class V>
Broadcast<V> broadcast_to(const char* fn, const char* what, const V& v, const Shape4& to) {
  check_broadcast(fn, what, v, to);
  return broadcast_view(v, to);
}

}  // namespace mcsc
