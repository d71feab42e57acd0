#pragma once
/// \file dataset.hpp
/// Image pairs for the training examples: a folder holds `<stem>_<target>.<ext>` and
/// `<stem>_<guide>.<ext>` files (e.g. EPFL RGB-NIR: 0003_nir.png + 0003_rgb.png; Middlebury:
/// art_gt.png + art_color.png); the network input x is made from the target by a degradation:
///   super-resolution: x = bicubic_up(bicubic_down(target, 1/scale), scale) (MATLAB imresize
///                     convention, see include/mcsc/data/resample.hpp), target cropped to a
///                     multiple of scale;
///   noise:            x = target + sigma/255 N(0, 1), seeded, not clipped.
/// One-channel models see the luma (MATLAB rgb2ycbcr Y) of colour images.
#include <algorithm>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "cli.hpp"
#include "mcsc/data/color.hpp"
#include "mcsc/data/image_io.hpp"
#include "mcsc/data/resample.hpp"
#include "mcsc/train/trainer.hpp"

namespace mcsc_examples {

namespace fs = std::filesystem;
using T = float;
using ExecSpace = Kokkos::DefaultExecutionSpace;
using Tensor = mcsc::Tensor4<T, ExecSpace>;

struct PairFiles {
  std::string stem, target, guide;
};

/// Pairs `<stem>_<target_suffix>.<ext>` / `<stem>_<guide_suffix>.<ext>` in folder, sorted by stem.
inline std::vector<PairFiles> find_pairs(const std::string& folder, const std::string& target_suffix,
                                         const std::string& guide_suffix) {
  MCSC_REQUIRE(fs::is_directory(folder), "find_pairs", "'" << folder << "' is not a folder");
  std::vector<PairFiles> pairs;
  const std::string tag = "_" + target_suffix;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::string stem = entry.path().stem().string();
    if (!entry.is_regular_file() || stem.size() <= tag.size() || stem.compare(stem.size() - tag.size(), tag.size(), tag))
      continue;
    const std::string base = stem.substr(0, stem.size() - tag.size());
    PairFiles p{base, entry.path().string(), {}};
    for (const char* ext : {".png", ".jpg", ".jpeg", ".bmp", ".PNG", ".JPG"}) {
      const fs::path g = entry.path().parent_path() / (base + "_" + guide_suffix + ext);
      if (fs::exists(g)) p.guide = g.string();
    }
    MCSC_REQUIRE(!p.guide.empty(), "find_pairs",
                 "'" << p.target << "' has no guide '" << base << "_" << guide_suffix << ".<png|jpg|bmp>'");
    pairs.push_back(p);
  }
  MCSC_REQUIRE(!pairs.empty(), "find_pairs",
               "no '<stem>_" << target_suffix << ".<ext>' files in '" << folder << "'");
  std::sort(pairs.begin(), pairs.end(), [](const PairFiles& a, const PairFiles& b) { return a.stem < b.stem; });
  return pairs;
}

struct Degradation {
  std::string kind = "sr";  ///< "sr" or "noise"
  int scale = 4;
  double sigma = 25;  ///< of 255
  std::uint64_t seed = 1;
};

/// An Image as a (1, C, H, W) tensor: C = channels of the image, or its luma when channels == 1.
inline Tensor load_planes(const std::string& path, int channels) {
  const mcsc::Image image = mcsc::drop_opaque_alpha(mcsc::read_image(path), path);
  auto t = mcsc::image_to_tensor<T, ExecSpace>(image);
  if (channels == image.channels) return t;
  MCSC_REQUIRE(channels == 1 && image.channels >= 3, "load_planes",
               "'" << path << "' has " << image.channels << " channels; the model wants " << channels);
  auto rgb = mcsc::make_tensor<T, ExecSpace>("rgb", {1, 3, image.height, image.width});
  Kokkos::deep_copy(rgb, Kokkos::subview(t, Kokkos::ALL, std::make_pair(0, 3), Kokkos::ALL, Kokkos::ALL));
  auto y = mcsc::make_tensor<T, ExecSpace>("luma", {1, 1, image.height, image.width});
  mcsc::luma_bt601(rgb, y);
  return y;
}

/// Centre crop of t to at most max_side (0: no limit) a side, rounded down to a multiple of m.
inline Tensor centre_crop(const Tensor& t, int max_side, int m) {
  const int h = int(t.extent(2)), w = int(t.extent(3));
  int ch = max_side > 0 ? std::min(h, max_side) : h, cw = max_side > 0 ? std::min(w, max_side) : w;
  ch -= ch % m;
  cw -= cw % m;
  MCSC_REQUIRE(ch > 0 && cw > 0, "centre_crop", "image of " << w << "x" << h << " is too small");
  const int top = (h - ch) / 2, left = (w - cw) / 2;
  auto out = mcsc::make_tensor<T, ExecSpace>("crop", {std::int64_t(t.extent(0)), std::int64_t(t.extent(1)), ch, cw});
  Kokkos::deep_copy(out, Kokkos::subview(t, Kokkos::ALL, Kokkos::ALL, std::make_pair(top, top + ch),
                                         std::make_pair(left, left + cw)));
  return out;
}

/// The degraded network input for a target.
inline Tensor degrade(const Tensor& target, const Degradation& d) {
  auto x = mcsc::make_tensor_like("input", target);
  if (d.kind == "sr") {
    const mcsc::Shape4 s = mcsc::shape_of(target);
    auto small = mcsc::make_tensor<T, ExecSpace>("low_resolution", {s.n, s.c, s.h / d.scale, s.w / d.scale});
    mcsc::imresize_bicubic(target, small);
    mcsc::imresize_bicubic(small, x);
  } else {
    mcsc::fill_normal(x, d.seed, 0.0, d.sigma / 255.0);
    mcsc::axpby(T(1), target, T(1), x);
  }
  return x;
}

/// Host planes of a (1, C, H, W) tensor.
inline std::vector<float> planes(const Tensor& t) {
  auto h = mcsc::to_host(t);
  return std::vector<float>(h.data(), h.data() + h.span());
}

/// Loaded, cropped and degraded images of a pair, as tensors and as a trainer triplet.
struct Sample {
  std::string name;
  Tensor input, guide, target;
  mcsc::ImageTriplet triplet() const {
    mcsc::ImageTriplet t;
    t.name = name;
    t.channels = int(target.extent(1));
    t.height = int(target.extent(2));
    t.width = int(target.extent(3));
    t.input = planes(input);
    t.guide = planes(guide);
    t.target = planes(target);
    return t;
  }
};

inline Sample load_sample(const PairFiles& p, int channels, const Degradation& d, int max_side) {
  Sample s;
  s.name = p.stem;
  auto target = load_planes(p.target, channels);
  auto guide = load_planes(p.guide, channels);
  MCSC_REQUIRE(target.extent(2) == guide.extent(2) && target.extent(3) == guide.extent(3), "load_sample",
               "'" << p.target << "' is " << target.extent(3) << "x" << target.extent(2) << " but '" << p.guide << "' is "
                   << guide.extent(3) << "x" << guide.extent(2) << ": the modalities must be aligned");
  const int multiple = d.kind == "sr" ? d.scale : 1;
  s.target = centre_crop(target, max_side, multiple);
  s.guide = centre_crop(guide, max_side, multiple);
  s.input = degrade(s.target, d);
  return s;
}

inline void validate_degradation(const Degradation& d) {
  mcsc_cli::require(d.kind == "sr" || d.kind == "noise", "--degradation must be 'sr' or 'noise'");
  mcsc_cli::require(d.scale >= 1, "--scale must be >= 1");
  mcsc_cli::require(std::isfinite(d.sigma) && d.sigma >= 0, "--sigma must be finite and >= 0");
}

}  // namespace mcsc_examples
