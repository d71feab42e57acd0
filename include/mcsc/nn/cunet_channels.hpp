#pragma once
/// \file cunet_channels.hpp
/// A CU-Net for another number of image channels, from a trained one: an RGB model as the start
/// of a grey model's fine-tuning (the CU-Net paper fine-tunes its multi-focus model for medical
/// fusion), or a grey model for RGB images.
///
/// Every weight has an image-channel side or none (the K-channel code side never changes):
///   - weights that read image channels (net_u/net_v/net_z: layer_in, up_conv_i) are summed
///     over the channels of each group (net_z reads two groups, [x; y]) when going to 1 channel,
///     and split evenly (w / C) when going from 1 channel to C;
///   - weights that write image channels (down_conv_i, conv_u, conv_v, the decoders) are
///     averaged over the channels of each group going to 1 channel, and copied into every
///     channel going from 1 to C;
///   - thresholds are copied.
/// So, on a grey image g and its replica (g, ..., g):
///   - from 1 channel to C, the C-channel network outputs the grey one's result in every channel,
///     exactly;
///   - from C channels to 1, the grey network outputs the mean over channels of the C-channel
///     network's output exactly when the C-channel network's image-writing weights of the
///     encoders (down_conv_i, conv_u, conv_v) are equal across channels; otherwise it is an
///     approximation (a start for fine-tuning, not a replacement for it).
/// tests/test_cunet_dictionaries.cpp ("[channels]") checks both statements.
#include <string>

#include "mcsc/nn/cunet.hpp"

namespace mcsc {

/// Fills `to`'s parameters from `from`'s (see the file comment). The two networks must agree in
/// everything but the channel count, and one of them must have 1 channel.
template <class T, class ExecSpace>
void convert_cunet_channels(const CuNet<T, ExecSpace>& from, CuNet<T, ExecSpace>& to) {
  const char* fn = "mcsc::convert_cunet_channels";
  const auto& a = from.config();
  const auto& b = to.config();
  MCSC_REQUIRE(a.filters == b.filters && a.kernel == b.kernel && a.stages == b.stages && a.fusion == b.fusion &&
                   a.per_channel_threshold == b.per_channel_threshold && a.residual == b.residual,
               fn,
               "the networks differ in more than their channels: {" << from.config_string() << "} and {"
                                                                     << to.config_string() << "}");
  MCSC_REQUIRE(a.channels >= 1 && b.channels >= 1 && (a.channels == 1 || b.channels == 1), fn,
               "converts to or from 1 channel only (" << a.channels << " -> " << b.channels << " channels)");
  const auto& src = from.parameters();
  auto& dst = to.parameters();
  MCSC_REQUIRE(src.count() == dst.count(), fn, "the networks have different parameter lists");
  const int Ca = a.channels, Cb = b.channels;
  for (int p = 0; p < dst.count(); ++p) {
    const std::string& name = dst.entries()[std::size_t(p)].name;
    MCSC_REQUIRE(src.contains(name), fn, "'" << name << "' is missing from the source network");
    const auto in = src.value(src.find(name));
    const auto out = dst.value(p);
    const Shape4 si = shape_of(in), so = shape_of(out);
    // Which side carries image channels: the one whose extent differs (or, with equal channel
    // counts, none: a plain copy).
    const bool rows = si.n != so.n, cols = si.c != so.c;
    MCSC_REQUIRE(si.h == so.h && si.w == so.w && !(rows && cols) && (!rows || si.n % Ca == 0) &&
                     (!cols || si.c % Ca == 0),
                 fn, "'" << name << "': " << si << " does not map onto " << so);
    // Group size on each side: an image-channel axis of g groups has extent g * C.
    const std::int64_t n_out = so.n, c_out = so.c, hw = so.h * so.w, W = so.w;
    const int down = Ca > Cb ? Ca : 1;  // source channels per destination channel (to grey)
    const int up = Cb > Ca ? Cb : 1;    // destination channels per source channel (from grey)
    Kokkos::parallel_for(
        "mcsc::convert_cunet_channels", Kokkos::RangePolicy<ExecSpace>(0, n_out * c_out * hw),
        KOKKOS_LAMBDA(const std::int64_t k) {
          const std::int64_t o = k / (c_out * hw), i = (k / hw) % c_out, r = k % hw;
          const int y = int(r / W), x = int(r % W);
          T v = T(0);
          if (rows) {  // the output side is an image-channel axis
            if (down > 1) {
              const std::int64_t g = o;  // destination channel o = group g of `down` source channels
              for (int c = 0; c < down; ++c) v += in(g * down + c, i, y, x);
              v /= T(down);  // mean
            } else {
              v = in(o / up, i, y, x);  // copy into every channel of the group
            }
          } else if (cols) {  // the input side is an image-channel axis
            if (down > 1) {
              for (int c = 0; c < down; ++c) v += in(o, i * down + c, y, x);  // sum
            } else {
              v = in(o, i / up, y, x) / T(up);  // split evenly
            }
          } else {
            v = in(o, i, y, x);
          }
          out(o, i, y, x) = v;
        });
  }
  ExecSpace().fence();
}

}  // namespace mcsc
