/// \file task_samples.cpp
/// The task harness: loading images and making the samples of each task (task_harness.hpp).
#include "task_internal.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <random>
#include <set>
#include <sstream>

#include "../models.hpp"
#include "../solver_common.hpp"
#include "../training_options.hpp"
#include "mcsc/baselines/fusion.hpp"
#include "mcsc/core/memory.hpp"
#include "mcsc/baselines/guided_filter.hpp"
#include "mcsc/baselines/joint_bilateral.hpp"
#include "mcsc/metrics/fusion.hpp"
#include "mcsc/nn/cunet_dictionaries.hpp"
#include "mcsc/nn/init.hpp"
#include "mcsc/solvers/classical_multimodal.hpp"
#include "mcsc/solvers/coupled_dictionary_learning.hpp"

namespace mcsc_tasks {

using namespace internal;

// ------------------------------------------------------------------------------------ samples

Tensor load_image(const std::string& path, int channels) {
  const mcsc::Image image = mcsc::drop_opaque_alpha(mcsc::read_image(path), path);
  const Tensor all = mcsc::image_to_tensor<T, ExecSpace>(image);
  const std::int64_t H = image.height, W = image.width;
  const int have = image.channels;
  Tensor planes = mcsc::make_tensor<T, ExecSpace>("image", {1, have, H, W});
  Kokkos::deep_copy(planes, Kokkos::subview(all, Kokkos::ALL, std::make_pair(0, have), Kokkos::ALL, Kokkos::ALL));
  if (channels == have) return planes;
  if (channels == 1) return luma_of(planes);
  MCSC_REQUIRE(channels == 3, "load_image", "channels must be 1 or 3, got " << channels);
  Tensor rgb = mcsc::make_tensor<T, ExecSpace>("image", {1, 3, H, W});
  for (int c = 0; c < 3; ++c)
    Kokkos::deep_copy(Kokkos::subview(rgb, Kokkos::ALL, std::make_pair(c, c + 1), Kokkos::ALL, Kokkos::ALL), planes);
  return rgb;
}

Tensor crop(const Tensor& t, int top, int left, int h, int w) {
  MCSC_REQUIRE(top >= 0 && left >= 0 && h > 0 && w > 0 && top + h <= int(t.extent(2)) && left + w <= int(t.extent(3)),
               "crop", "the window " << w << "x" << h << " at (" << top << ", " << left << ") does not fit in "
                                     << mcsc::shape_of(t));
  Tensor out = mcsc::make_tensor<T, ExecSpace>(t.label(), {std::int64_t(t.extent(0)), std::int64_t(t.extent(1)), h, w});
  Kokkos::deep_copy(out, Kokkos::subview(t, Kokkos::ALL, Kokkos::ALL, std::make_pair(top, top + h),
                                         std::make_pair(left, left + w)));
  return out;
}

Tensor centre_crop(const Tensor& t, int max_side, int multiple) {
  return mcsc_examples::centre_crop(t, max_side, multiple);
}

Sample make_sr_sample(const std::string& name, const Tensor& target, const Tensor& guide, int scale) {
  const char* fn = "make_sr_sample";
  MCSC_REQUIRE(mcsc::shape_of(target).h == mcsc::shape_of(guide).h && mcsc::shape_of(target).w == mcsc::shape_of(guide).w,
               fn, "'" << name << "': target " << mcsc::shape_of(target) << " and guide " << mcsc::shape_of(guide)
                       << " are not aligned (different sizes)");
  const int H = int(target.extent(2)) / scale * scale, W = int(target.extent(3)) / scale * scale;
  MCSC_REQUIRE(H >= 4 * scale && W >= 4 * scale, fn, "'" << name << "' is too small for x" << scale);
  Sample s;
  s.name = name;
  s.target = crop(target, 0, 0, H, W);  // MATLAB modcrop: the last rows/columns go
  s.y = crop(guide, 0, 0, H, W);
  s.low = mcsc::make_tensor<T, ExecSpace>("low", {1, std::int64_t(target.extent(1)), H / scale, W / scale});
  mcsc::imresize_bicubic(s.target, s.low);
  s.x = mcsc::make_tensor_like("bicubic", s.target);
  mcsc::imresize_bicubic(s.low, s.x);
  s.x_caption = "bicubic x" + std::to_string(scale) + " input";
  s.y_caption = "guide";
  return s;
}

Sample make_noise_sample(const std::string& name, const Tensor& clean, const Tensor& guide, double sigma,
                         std::uint64_t seed) {
  MCSC_REQUIRE(mcsc::shape_of(clean) == mcsc::shape_of(guide), "make_noise_sample",
               "'" << name << "': image " << mcsc::shape_of(clean) << " and guide " << mcsc::shape_of(guide)
                   << " differ: the modalities must be aligned");
  Sample s;
  s.name = name;
  s.target = clean;
  s.y = guide;
  s.x = mcsc::add_gaussian_noise(clean, sigma / 255.0, seed);
  std::ostringstream caption;
  caption << "noisy input (sigma " << sigma << ")";
  s.x_caption = caption.str();
  s.y_caption = "guide";
  return s;
}

Sample make_fusion_sample(const std::string& name, const Tensor& a, const Tensor& b, const Tensor& target) {
  MCSC_REQUIRE(mcsc::shape_of(a) == mcsc::shape_of(b), "make_fusion_sample",
               "'" << name << "': the sources " << mcsc::shape_of(a) << " and " << mcsc::shape_of(b)
                   << " differ: they must be registered images of one size");
  Sample s;
  s.name = name;
  s.x = a;
  s.y = b;
  s.target = target;
  s.x_caption = "source A";
  s.y_caption = "source B";
  return s;
}

NamedPair parse_pair(const std::string& text, const std::string& form) {
  NamedPair p;
  std::string rest = text;
  if (const auto eq = rest.find('='); eq != std::string::npos) {
    p.name = rest.substr(0, eq);
    rest = rest.substr(eq + 1);
  }
  const auto colon = rest.find(':');
  mcsc_cli::require(colon != std::string::npos && colon > 0 && colon + 1 < rest.size(),
                    "a pair is " + form + ", got '" + text + "'");
  p.first = rest.substr(0, colon);
  p.second = rest.substr(colon + 1);
  if (p.name.empty()) p.name = fs::path(p.first).stem().string();
  return p;
}

int training_side(int max_side, int train_crop) {
  if (train_crop == 0) return max_side;
  return max_side > 0 ? std::min(max_side, train_crop) : train_crop;
}

std::vector<NamedPair> folder_pairs(const std::string& dir_option, const std::string& data_dir,
                                    const std::string& first_suffix, const std::string& second_suffix,
                                    const std::string& option) {
  fs::path dir = dir_option;
  if (!fs::is_directory(dir) && fs::is_directory(fs::path(data_dir) / dir)) dir = fs::path(data_dir) / dir;
  MCSC_REQUIRE(fs::is_directory(dir), option, "'" << dir_option << "' is not a folder (nor one under " << data_dir << ")");
  std::vector<NamedPair> pairs;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string file = entry.path().filename().string();
    if (file.size() <= first_suffix.size() ||
        file.compare(file.size() - first_suffix.size(), first_suffix.size(), first_suffix) != 0)
      continue;
    const std::string stem = file.substr(0, file.size() - first_suffix.size());
    const fs::path second = dir / (stem + second_suffix);
    MCSC_REQUIRE(fs::is_regular_file(second), option, "'" << entry.path().string() << "' has no " << second.filename().string());
    pairs.push_back({stem, entry.path().string(), second.string()});
  }
  std::sort(pairs.begin(), pairs.end(), [](const NamedPair& a, const NamedPair& b) { return a.name < b.name; });
  MCSC_REQUIRE(!pairs.empty(), option,
               "'" << dir.string() << "' holds no <stem>" << first_suffix << " + <stem>" << second_suffix << " pairs");
  return pairs;
}

std::vector<mcsc::ImageTriplet> triplets(const std::vector<Sample>& samples) {
  std::vector<mcsc::ImageTriplet> out;
  for (const auto& s : samples) {
    MCSC_REQUIRE(s.target.data(), "triplets", "'" << s.name << "' has no target to train on");
    mcsc::ImageTriplet t;
    t.name = s.name;
    t.channels = int(s.target.extent(1));
    t.height = int(s.target.extent(2));
    t.width = int(s.target.extent(3));
    t.input = host_planes(s.x);
    t.guide = host_planes(s.y);
    t.target = host_planes(s.target);
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace mcsc_tasks
