#pragma once
/// \file patches.hpp
/// Aligned multimodal images and the random patches cut from them: ImageTriplet (input, guide,
/// target), PatchSampler (the trainer's batches: the same crop and flip/rotation of all three)
/// and aligned_patches (a fixed set of patches as device tensors: the classical model's training
/// data). One drawing routine for both, so a patch set and a batch of the same seed agree.
#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

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
    MCSC_REQUIRE(patch > 0, fn, "patch size must be > 0");
    MCSC_REQUIRE(input_noise >= 0 && std::isfinite(input_noise), fn, "input noise must be >= 0, got " << input_noise);
    for (const auto& im : images) {
      im.check(fn);
      MCSC_REQUIRE(im.channels == images[0].channels, fn,
                   "'" << im.name << "' has " << im.channels << " channels, '" << images[0].name << "' "
                       << images[0].channels);
      MCSC_REQUIRE(im.height >= patch && im.width >= patch, fn,
                   "'" << im.name << "' (" << im.width << "x" << im.height << ") is smaller than the " << patch
                       << "x" << patch << " patches");
    }
  }

  int channels() const { return (*m_images)[0].channels; }

  /// Fills host tensors (batch, channels, patch, patch).
  template <class H>
  void sample(std::mt19937_64& rng, const H& x, const H& y, const H& target) const {
    const int B = int(x.extent(0)), C = channels(), P = m_patch;
    std::normal_distribution<double> normal(0.0, 1.0);
    for (int b = 0; b < B; ++b) {
      const auto& im = (*m_images)[std::size_t(rng() % m_images->size())];
      const int top = int(rng() % std::uint64_t(im.height - P + 1));
      const int left = int(rng() % std::uint64_t(im.width - P + 1));
      const int transform = m_augment ? int(rng() % 8) : 0;  // the 8 flips/rotations of a square
      for (int c = 0; c < C; ++c)
        for (int i = 0; i < P; ++i)
          for (int j = 0; j < P; ++j) {
            int r = i, s = j;
            if (transform & 1) s = P - 1 - s;  // horizontal flip
            if (transform & 2) r = P - 1 - r;  // vertical flip
            if (transform & 4) std::swap(r, s);  // transpose
            const std::size_t src = std::size_t(c) * im.plane_size() + std::size_t(top + r) * std::size_t(im.width) +
                                    std::size_t(left + s);
            x(b, c, i, j) = typename H::value_type(im.input[src]);
            y(b, c, i, j) = typename H::value_type(im.guide[src]);
            target(b, c, i, j) = typename H::value_type(im.target[src]);
          }
      if (m_input_noise > 0)  // row-major over (c, i, j): the draws do not depend on the transform
        for (int c = 0; c < C; ++c)
          for (int i = 0; i < P; ++i)
            for (int j = 0; j < P; ++j)
              x(b, c, i, j) = typename H::value_type(double(target(b, c, i, j)) + m_input_noise * normal(rng));
    }
  }

 private:
  const std::vector<ImageTriplet>* m_images;
  int m_patch;
  bool m_augment;
  double m_input_noise;
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
