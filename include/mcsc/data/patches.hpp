#pragma once
/// \file patches.hpp
/// Aligned multimodal images and the random patches cut from them: ImageTriplet (input, guide,
/// target), PatchSampler (the trainer's batches: the same crop and flip/rotation of all three)
/// and aligned_patches (a fixed set of patches as device tensors: the classical model's training
/// data). One drawing routine for both, so a patch set and a batch of the same seed agree.
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "mcsc/core/memory.hpp"
#include "mcsc/core/tensor.hpp"

namespace mcsc {

/// One aligned training/validation image: the network input x, the guide y and the target,
/// each `channels` planes of height x width (planar CHW), values typically in [0, 1].
struct ImageTriplet {
  std::string name;
  int channels = 0, height = 0, width = 0;
  std::vector<float> input, guide, target;

  std::size_t plane_size() const { return std::size_t(height) * std::size_t(width); }
  /// Throws naming the image if the sizes disagree or values are not finite.
  void check(const char* function) const {
    const std::size_t n = std::size_t(channels) * plane_size();
    MCSC_REQUIRE(channels > 0 && height > 0 && width > 0, function, "'" << name << "' is empty");
    MCSC_REQUIRE(input.size() == n && guide.size() == n && target.size() == n, function,
                 "'" << name << "': input, guide and target sizes differ (" << input.size() << ", " << guide.size()
                     << ", " << target.size() << " values for " << channels << "x" << height << "x" << width << ")");
    for (const auto* v : {&input, &guide, &target})
      for (float f : *v) MCSC_REQUIRE(std::isfinite(f), function, "'" << name << "' holds NaN/Inf values");
  }
};

/// Draws batches of aligned random patches (same crop and same flip/rotation for the three).
/// With input_noise > 0 the input patch is not read from the image but drawn afresh for every
/// patch as target + input_noise N(0, 1) (denoising: a new noise field at every step instead of
/// the one stored with the image); the draws come from the same generator, so runs stay
/// reproducible and resumable (for one standard library: std::normal_distribution's algorithm
/// is the library's, so libstdc++ and libc++ draw different fields).
class PatchSampler {
 public:
  /// Throws (naming `fn`) for no images, mismatched channels, or an image smaller than a patch.
  PatchSampler(const std::vector<ImageTriplet>& images, int patch, bool augment, double input_noise = 0,
               const char* fn = "mcsc::PatchSampler")
      : m_images(&images), m_patch(patch), m_augment(augment), m_input_noise(input_noise) {
    MCSC_REQUIRE(!images.empty(), fn, "no images");
    for (const auto& im : images) {
      im.check(fn);
      MCSC_REQUIRE(im.channels == images[0].channels, fn,
                   "'" << im.name << "' has " << im.channels << " channels, '" << images[0].name << "' "
                       << images[0].channels);
      m_sizes.push_back({im.height, im.width});
    }
    m_channels = images[0].channels;
    check_sizes(fn, [&](std::size_t k) { return "'" + images[k].name + "'"; });
  }

  /// A sampler of images it does not hold, known by their sizes ({height, width} each) and
  /// channel count (DeviceImageSet::sizes(), channels()): it draws (draw()) but cannot cut
  /// (sample() throws). Its draws are those of a sampler of images of the same sizes.
  PatchSampler(int channels, std::vector<std::array<int, 2>> sizes, int patch, bool augment, double input_noise = 0,
               const char* fn = "mcsc::PatchSampler")
      : m_images(nullptr), m_sizes(std::move(sizes)), m_channels(channels), m_patch(patch), m_augment(augment),
        m_input_noise(input_noise) {
    MCSC_REQUIRE(!m_sizes.empty(), fn, "no images");
    MCSC_REQUIRE(channels > 0, fn, "channels must be > 0, got " << channels);
    check_sizes(fn, [](std::size_t k) { return "image " + std::to_string(k); });
  }

  int channels() const { return m_channels; }
  /// Number of images it draws from.
  std::size_t images() const { return m_sizes.size(); }

  int patch() const { return m_patch; }
  bool has_input_noise() const { return m_input_noise > 0; }

  /// The random draws of a batch of `batch` patches, in the order sample() makes them: per patch
  /// 4 ints in `draws` (the image's index, the window's top row and left column, the symmetry
  /// 0-7: bit 0 flips horizontally, bit 1 vertically, bit 2 transposes), then, with input noise,
  /// its channels x patch x patch values input_noise N(0, 1) in `noise` (row-major over
  /// (c, i, j); `noise` is ignored without input noise). draws: 4 batch ints; noise: batch x
  /// channels x patch^2 doubles.
  void draw(std::mt19937_64& rng, int batch, int* draws, double* noise) const {
    const std::size_t per_patch = std::size_t(channels()) * std::size_t(m_patch) * std::size_t(m_patch);
    std::normal_distribution<double> normal(0.0, 1.0);
    for (int b = 0; b < batch; ++b) {
      const std::size_t k = std::size_t(rng() % m_sizes.size());
      int* d = draws + 4 * b;
      d[0] = int(k);
      d[1] = int(rng() % std::uint64_t(m_sizes[k][0] - m_patch + 1));
      d[2] = int(rng() % std::uint64_t(m_sizes[k][1] - m_patch + 1));
      d[3] = m_augment ? int(rng() % 8) : 0;  // the 8 flips/rotations of a square
      if (m_input_noise > 0)
        for (std::size_t e = 0; e < per_patch; ++e) noise[std::size_t(b) * per_patch + e] = m_input_noise * normal(rng);
    }
  }

  /// Fills host tensors (batch, channels, patch, patch): draw(), then the windows cut out
  /// (input = target + noise with input noise). DeviceImageSet::gather makes the same batch on a
  /// device, bit for bit.
  template <class H>
  void sample(std::mt19937_64& rng, const H& x, const H& y, const H& target) const {
    MCSC_REQUIRE(m_images != nullptr, "mcsc::PatchSampler::sample",
                 "this sampler knows only its images' sizes (cut the batch with DeviceImageSet::gather)");
    using V = typename H::value_type;
    const int B = int(x.extent(0)), C = channels(), P = m_patch;
    std::vector<int> draws(4 * std::size_t(B));
    std::vector<double> noise(m_input_noise > 0 ? std::size_t(B) * std::size_t(C) * std::size_t(P) * std::size_t(P) : 0);
    draw(rng, B, draws.data(), noise.data());
    std::size_t e = 0;  // the flat index of (b, c, i, j)
    for (int b = 0; b < B; ++b) {
      const int* d = draws.data() + 4 * b;
      const auto& im = (*m_images)[std::size_t(d[0])];
      for (int c = 0; c < C; ++c)
        for (int i = 0; i < P; ++i)
          for (int j = 0; j < P; ++j, ++e) {
            const std::int64_t src = patch_source_index(P, d[1], d[2], d[3], c, i, j, im.height, im.width);
            const V t = V(im.target[std::size_t(src)]);
            x(b, c, i, j) = m_input_noise > 0 ? V(double(t) + noise[e]) : V(im.input[std::size_t(src)]);
            y(b, c, i, j) = V(im.guide[std::size_t(src)]);
            target(b, c, i, j) = t;
          }
    }
  }

  /// Where element (c, i, j) of a patch (side P, window at top/left, symmetry `transform`) lies
  /// in a planar C x H x W image.
  KOKKOS_INLINE_FUNCTION static std::int64_t patch_source_index(int P, int top, int left, int transform, int c, int i,
                                                                int j, std::int64_t H, std::int64_t W) {
    int r = i, s = j;
    if (transform & 1) s = P - 1 - s;  // horizontal flip
    if (transform & 2) r = P - 1 - r;  // vertical flip
    if (transform & 4) {               // transpose
      const int t = r;
      r = s;
      s = t;
    }
    return (std::int64_t(c) * H + std::int64_t(top + r)) * W + std::int64_t(left + s);
  }

 private:
  template <class Name>
  void check_sizes(const char* fn, const Name& name) const {
    MCSC_REQUIRE(m_patch > 0, fn, "patch size must be > 0");
    MCSC_REQUIRE(m_input_noise >= 0 && std::isfinite(m_input_noise), fn,
                 "input noise must be >= 0, got " << m_input_noise);
    for (std::size_t k = 0; k < m_sizes.size(); ++k)
      MCSC_REQUIRE(m_sizes[k][0] >= m_patch && m_sizes[k][1] >= m_patch, fn,
                   name(k) << " (" << m_sizes[k][1] << "x" << m_sizes[k][0] << ") is smaller than the " << m_patch
                           << "x" << m_patch << " patches");
  }

  const std::vector<ImageTriplet>* m_images;  // null for a sampler of sizes
  std::vector<std::array<int, 2>> m_sizes;    // per image: height, width
  int m_channels = 0;
  int m_patch;
  bool m_augment;
  double m_input_noise;
};

namespace Impl {
/// to(at + e) = float(from(e)) for every e of the 1-D view `from`, in ExecSpace.
template <class ExecSpace, class From, class To>
void copy_as_float(const From& from, const To& to, std::int64_t at) {
  Kokkos::parallel_for(
      "mcsc::DeviceImageSet::copy", Kokkos::RangePolicy<ExecSpace>(0, std::int64_t(from.extent(0))),
      KOKKOS_LAMBDA(const std::int64_t e) { to(at + e) = float(from(e)); });
}
}  // namespace Impl

/// The images of a PatchSampler in a memory space (one copy, at construction): the trainer cuts
/// its batches there from the sampler's draws, so a step moves only the draws (and the noise, for
/// denoising) across memory spaces, not the patches. On a host backend this is a second copy of
/// the images beside the ImageTriplets (92 MB for depth_train's 29 scenes); the constructor
/// checks it against the memory budget there.
template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
class DeviceImageSet {
 public:
  using memory_space = typename ExecSpace::memory_space;
  /// Draws as PatchSampler::draw writes them, one row of 4 per patch.
  using draws_type = Kokkos::View<int* [4], memory_space>;
  using noise_type = Kokkos::View<double*, memory_space>;

  explicit DeviceImageSet(const std::vector<ImageTriplet>& images) {
    const char* fn = "mcsc::DeviceImageSet";
    MCSC_REQUIRE(!images.empty(), fn, "no images");
    std::vector<std::array<int, 2>> sizes;
    for (const auto& im : images) {
      im.check(fn);
      MCSC_REQUIRE(im.channels == images[0].channels, fn,
                   "'" << im.name << "' has " << im.channels << " channels, the first image " << images[0].channels);
      sizes.push_back({im.height, im.width});
    }
    allocate(fn, images[0].channels, std::move(sizes));
    auto hi = Kokkos::create_mirror_view(m_input), hg = Kokkos::create_mirror_view(m_guide),
         ht = Kokkos::create_mirror_view(m_target);
    std::size_t at = 0;
    for (const auto& im : images)
      for (std::size_t e = 0; e < im.input.size(); ++e, ++at) {
        hi(at) = im.input[e];
        hg(at) = im.guide[e];
        ht(at) = im.target[e];
      }
    Kokkos::deep_copy(m_input, hi);
    Kokkos::deep_copy(m_guide, hg);
    Kokkos::deep_copy(m_target, ht);
  }

  /// The same set from images already in this memory space: images[k] = {input, guide, target},
  /// three (1, C, H, W) tensors of one shape (C the same for every image, values finite), copied
  /// (as float) on the device; nothing crosses memory spaces but the sizes and, per tensor, the
  /// count of its non-finite values. Throws naming the image's index.
  explicit DeviceImageSet(const std::vector<std::array<Tensor4<T, ExecSpace>, 3>>& images) {
    const char* fn = "mcsc::DeviceImageSet";
    MCSC_REQUIRE(!images.empty(), fn, "no images");
    std::vector<std::array<int, 2>> sizes;
    for (std::size_t k = 0; k < images.size(); ++k) {
      const Shape4 s = shape_of(images[k][0]);
      MCSC_REQUIRE(s.n == 1 && s.c == shape_of(images[0][0]).c && s.size() > 0, fn,
                   "image " << k << " is " << s << ": each image must be one (1, C, H, W) tensor, C "
                            << shape_of(images[0][0]).c << " as image 0");
      for (const auto& t : images[k]) {
        MCSC_REQUIRE(shape_of(t) == s, fn, "image " << k << ": input " << s << " but '" << t.label() << "' " << shape_of(t));
        MCSC_REQUIRE(count_nonfinite(t) == 0, fn, "image " << k << ": '" << t.label() << "' holds NaN/Inf values");
      }
      MCSC_REQUIRE(s.h <= std::numeric_limits<int>::max() && s.w <= std::numeric_limits<int>::max(), fn,
                   "image " << k << " is " << s << ": sides beyond int");
      sizes.push_back({int(s.h), int(s.w)});
    }
    allocate(fn, shape_of(images[0][0]).c, std::move(sizes));
    std::int64_t at = 0;
    for (const auto& im : images) {  // (kernels in a free function: nvcc allows no extended lambda in a constructor)
      Impl::copy_as_float<ExecSpace>(Impl::flat(im[0]), m_input, at);
      Impl::copy_as_float<ExecSpace>(Impl::flat(im[1]), m_guide, at);
      Impl::copy_as_float<ExecSpace>(Impl::flat(im[2]), m_target, at);
      at += std::int64_t(im[0].size());
    }
    MCSC_REQUIRE(count_nonfinite(m_input) + count_nonfinite(m_guide) + count_nonfinite(m_target) == 0, fn,
                 "values beyond the range of float (the set stores float)");
  }

  int channels() const { return m_channels; }
  /// Each image's {height, width}, in order (for a PatchSampler of this set: its draws index it).
  const std::vector<std::array<int, 2>>& sizes() const { return m_sizes; }

  /// x, y, target (B, C, P, P) = the patches of `draws` (B rows), x = target + noise when `noise`
  /// is not empty (B C P^2 values, flat over x): the values PatchSampler::sample makes from the
  /// same draws, bit for bit. One kernel; no host access. `first`: the batch is draws' rows
  /// first .. first + B - 1 and, with noise, its values from first C P^2 on (several batches
  /// drawn ahead and copied to the device at once, as the trainer does).
  template <class V>
  void gather(const draws_type& draws, const noise_type& noise, const V& x, const V& y, const V& target,
              std::size_t first = 0) const {
    const char* fn = "mcsc::DeviceImageSet::gather";
    const int B = int(x.extent(0)), C = int(x.extent(1)), P = int(x.extent(2));
    MCSC_REQUIRE(C == m_channels && int(x.extent(3)) == P && draws.extent(0) >= first + std::size_t(B), fn,
                 "batch " << shape_of(x) << " does not fit " << draws.extent(0) << " draws of " << m_channels
                          << "-channel square patches from row " << first);
    Impl::require_same_shape(fn, x, y);
    Impl::require_same_shape(fn, x, target);
    const bool noisy = noise.data() != nullptr;
    const std::size_t per_patch = std::size_t(C) * std::size_t(P) * std::size_t(P);
    MCSC_REQUIRE(!noisy || noise.extent(0) >= (first + std::size_t(B)) * per_patch, fn,
                 "noise has " << noise.extent(0) << " values for " << x.size() << " from value " << first * per_patch);
    const std::int64_t row0 = std::int64_t(first), noise0 = std::int64_t(first * per_patch);
    const auto input = m_input, guide = m_guide, tgt = m_target;
    const auto layout = m_layout;
    using Out = typename V::non_const_value_type;
    Kokkos::parallel_for(
        "mcsc::DeviceImageSet::gather", Kokkos::RangePolicy<ExecSpace>(0, std::int64_t(x.size())),
        KOKKOS_LAMBDA(const std::int64_t e) {
          const Pixel p = unflatten(e, C, P, P);
          const std::int64_t row = row0 + p.n;
          const int image = draws(row, 0);
          const std::int64_t src = PatchSampler::patch_source_index(P, draws(row, 1), draws(row, 2), draws(row, 3), p.c,
                                                                    p.i, p.j, layout(image, 1), layout(image, 2)) +
                                   layout(image, 0);
          const Out t = Out(tgt(src));
          x(p.n, p.c, p.i, p.j) = noisy ? Out(double(t) + noise(noise0 + e)) : Out(input(src));
          y(p.n, p.c, p.i, p.j) = Out(guide(src));
          target(p.n, p.c, p.i, p.j) = t;
        });
  }

 private:
  /// The views for `sizes` images of `channels` planes (checked against the memory budget on a
  /// host backend, where they are a second copy) and their layout.
  void allocate(const char* fn, int channels, std::vector<std::array<int, 2>> sizes) {
    m_channels = channels;
    m_sizes = std::move(sizes);
    std::size_t total = 0;
    for (const auto& hw : m_sizes) total += std::size_t(channels) * std::size_t(hw[0]) * std::size_t(hw[1]);
    if constexpr (Kokkos::SpaceAccessibility<Kokkos::HostSpace, memory_space>::accessible)
      require_memory(fn, "the training images (" + std::to_string(m_sizes.size()) + ")",
                     3.0 * sizeof(float) * double(total));
    m_input = Kokkos::View<float*, memory_space>("mcsc::DeviceImageSet::input", total);
    m_guide = Kokkos::View<float*, memory_space>("mcsc::DeviceImageSet::guide", total);
    m_target = Kokkos::View<float*, memory_space>("mcsc::DeviceImageSet::target", total);
    m_layout = Kokkos::View<std::int64_t* [3], memory_space>("mcsc::DeviceImageSet::layout", m_sizes.size());
    auto hl = Kokkos::create_mirror_view(m_layout);
    std::int64_t at = 0;
    for (std::size_t k = 0; k < m_sizes.size(); ++k) {
      hl(k, 0) = at;
      hl(k, 1) = m_sizes[k][0];
      hl(k, 2) = m_sizes[k][1];
      at += std::int64_t(channels) * m_sizes[k][0] * m_sizes[k][1];
    }
    Kokkos::deep_copy(m_layout, hl);
  }

  int m_channels = 0;
  std::vector<std::array<int, 2>> m_sizes;  // per image: height, width (host)
  Kokkos::View<float*, memory_space> m_input, m_guide, m_target;
  Kokkos::View<std::int64_t* [3], memory_space> m_layout;  // per image: offset, height, width
};

/// `count` random aligned patches of `patch` x `patch` from `images` (image, then position, drawn
/// from std::mt19937_64(seed) as PatchSampler draws them, without augmentation), as three
/// (count, C, patch, patch) tensors: the inputs, the guides and the targets. Throws naming an
/// image smaller than the patches.
template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
std::array<Tensor4<T, ExecSpace>, 3> aligned_patches(const std::vector<ImageTriplet>& images, int count, int patch,
                                                     std::uint64_t seed) {
  MCSC_REQUIRE(count >= 1 && patch >= 1, "mcsc::aligned_patches",
               "count and patch must be >= 1, got " << count << ", " << patch);
  const PatchSampler sampler(images, patch, false, 0, "mcsc::aligned_patches");
  std::array<Tensor4<T, ExecSpace>, 3> out;
  std::array<typename Tensor4<T, ExecSpace>::HostMirror, 3> host;
  for (std::size_t k = 0; k < 3; ++k) {
    out[k] = make_tensor<T, ExecSpace>("mcsc::aligned_patches", Shape4{count, sampler.channels(), patch, patch});
    host[k] = Kokkos::create_mirror_view(out[k]);
  }
  std::mt19937_64 rng(seed);
  sampler.sample(rng, host[0], host[1], host[2]);
  for (std::size_t k = 0; k < 3; ++k) Kokkos::deep_copy(out[k], host[k]);
  return out;
}

}  // namespace mcsc
