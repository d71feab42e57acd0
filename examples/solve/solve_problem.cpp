/// \file solve_problem.cpp
/// mcsc-solve: the problem: image, guide, dictionary, low-pass split, --learn, --check-lowpass.
#include "solve.hpp"

namespace mcsc_solve {

std::string shape_text(const Tensor& t) {
  std::ostringstream os;
  os << t.extent(3) << "x" << t.extent(2) << (t.extent(1) > 1 ? " x " + std::to_string(t.extent(1)) + " channels" : "");
  return os.str();
}

/// Centre crop + box downsampling of every channel of a (1, C, H, W) tensor to size x size.
Tensor resize_square(const Tensor& t, int size) {
  const mcsc::Image cropped = mcsc_examples::crop_and_downsample(mcsc::tensor_to_image(t), size);
  return mcsc::image_to_tensor<T, ExecSpace>(cropped);
}

Tensor load_dictionary(const Settings& s, std::string& source) {
  if (s.dictionary == "dct") {
    source = std::to_string(s.filters) + " DCT filters " + std::to_string(s.filter_size) + "x" +
             std::to_string(s.filter_size) + " (DC excluded, unit norm)";
    return mcsc_examples::dct_dictionary(s.filters, s.filter_size);
  }
  if (s.dictionary == "random") {
    source = std::to_string(s.filters) + " random Gaussian filters " + std::to_string(s.filter_size) + "x" +
             std::to_string(s.filter_size) + " (unit norm, seed 1)";
    return mcsc::random_dictionary<T, ExecSpace>(1, s.filters, s.filter_size, 1);
  }
  mcsc_examples::DictionaryFileSpec spec;
  spec.path = s.dictionary;
  spec.shape = s.dictionary_shape;
  spec.layout = s.dictionary_layout;
  spec.convention = s.filter_convention;
  Tensor weights = mcsc_examples::read_dictionary(spec);
  std::ostringstream os;
  os << s.dictionary << ": " << weights.extent(1) << " filters " << weights.extent(2) << "x" << weights.extent(3)
     << (weights.extent(0) > 1 ? " x " + std::to_string(weights.extent(0)) + " channels" : "") << ", "
     << s.filter_convention << " convention" << (s.filter_convention == "convolution" ? " (flipped)" : "");
  source = os.str();
  return weights;
}

Tensor load_signal(const std::string& path, const std::string& shape, bool synthetic, int synthetic_variant,
                   const Settings& s, int channels, const char* what, std::string& source) {
  Tensor t;
  if (synthetic) {
    const int size = s.size > 0 ? s.size : 64;
    t = mcsc::image_to_tensor<T, ExecSpace>(mcsc_examples::synthetic_image(size, synthetic_variant));
    source = std::string("synthetic test image") + (synthetic_variant ? " (guide variant)" : "");
  } else {
    t = mcsc_examples::load_image(path, shape, channels, what);
    source = path + " (" + shape_text(t) + ")";
    if (s.size > 0) {
      t = resize_square(t, s.size);
      source += ", cropped/downsampled to " + std::to_string(s.size) + "x" + std::to_string(s.size);
    }
  }
  mcsc::require_finite(what, t);
  return t;
}

/// Splits `image` into low-pass and signal (image - low-pass).
void split(const Settings& s, const Tensor& image, Tensor& lowpass, Tensor& signal) {
  if (s.highpass) {
    lowpass = mcsc_examples::tikhonov_lowpass(image, s.highpass_lambda, s.highpass_pad);
  } else {
    lowpass = mcsc::make_tensor_like("lowpass", image);  // zero
  }
  signal = mcsc::make_tensor_like("signal", image);
  mcsc::lincomb(T(1), image, T(-1), lowpass, signal);
}

/// --learn N: learns the dictionary on the coded signal, starting from the loaded one (in place).
void learn(const Settings& s, Problem& pb) {
  mcsc::FftConvDictionary<T, ExecSpace> D(pb.weights, s.boundary_value());
  mcsc::DictionaryLearningOptions o;
  o.lambda = s.learn_lambda_value();
  o.max_iterations = s.learn;
  mcsc::ProgressBar progress("learning the dictionary", s.learn, "it", true);
  const auto start = std::chrono::steady_clock::now();
  const auto callback = [&](const mcsc::DictionaryLearningIterate<T, ExecSpace>& it) {
    progress.update(it.iteration, "objective " + mcsc_examples::scientific(it.objective, 6));
    return true;
  };
  const auto result = mcsc::learn_dictionary(D, pb.signal, o, callback);
  progress.finish();
  pb.learned = true;
  pb.dictionary_source += "; learned on the coded signal: " + std::to_string(result.iterations) +
                          " iterations of learn_dictionary (lambda " + mcsc_examples::fixed(o.lambda, 4) + ", " +
                          std::to_string(o.coding_iterations) + " FISTA + " + std::to_string(o.dictionary_iterations) +
                          " dictionary steps each, unit-norm filters), objective " +
                          mcsc_examples::scientific(result.initial_objective, 5) + " -> " +
                          mcsc_examples::scientific(result.objective.empty() ? result.initial_objective
                                                                              : result.objective.back(), 5) +
                          ", " + mcsc_examples::fixed(since(start), 2) + " s";
}

Problem make_problem(const Settings& s) {
  Problem pb;
  // A built-in dictionary (one channel) is made after the image is known to fit its filters, so that
  // --filter-size 10000 is refused at once instead of after building a 12 GB dictionary.
  const bool built_in = s.dictionary == "dct" || s.dictionary == "random";
  if (!built_in) pb.weights = load_dictionary(s, pb.dictionary_source);
  const int m = built_in ? 1 : int(pb.weights.extent(0));
  pb.image = load_signal(s.image, s.image_shape, s.synthetic, 0, s, m, "--image", pb.image_source);
  const std::int64_t H = std::int64_t(pb.image.extent(2)), W = std::int64_t(pb.image.extent(3));
  if (built_in) {
    mcsc_cli::require(s.filter_size <= std::min(H, W), "--filter-size " + std::to_string(s.filter_size) +
                                                           " is larger than the image (" + shape_text(pb.image) + ")");
    pb.weights = load_dictionary(s, pb.dictionary_source);
  }
  mcsc_cli::require(!s.highpass || s.highpass_pad <= std::max(H, W),
                    "--highpass-pad " + std::to_string(s.highpass_pad) + " is more than the image's larger side (" +
                        shape_text(pb.image) + ")");
  MCSC_REQUIRE(int(pb.image.extent(1)) == m, "mcsc-solve",
               "the image has " << pb.image.extent(1) << " channel(s) but the dictionary has " << m);
  MCSC_REQUIRE(pb.weights.extent(2) <= pb.image.extent(2) && pb.weights.extent(3) <= pb.image.extent(3),
               "mcsc-solve",
               "the filters (" << pb.weights.extent(3) << "x" << pb.weights.extent(2) << ") are larger than the image ("
                               << shape_text(pb.image) << ")");
  pb.has_guide = s.has_guide();
  if (pb.has_guide) {
    pb.guide = load_signal(s.guide, s.guide_shape, s.synthetic_guide, 1, s, m, "--guide", pb.guide_source);
    MCSC_REQUIRE(mcsc::shape_of(pb.guide) == mcsc::shape_of(pb.image), "mcsc-solve",
                 "the guide is " << shape_text(pb.guide) << " but the image is " << shape_text(pb.image)
                                 << ": they must have the same size and channels");
  }
  const auto start = std::chrono::steady_clock::now();
  split(s, pb.image, pb.lowpass, pb.signal);
  if (pb.has_guide) split(s, pb.guide, pb.guide_lowpass, pb.guide_signal);
  pb.lowpass_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (s.learn > 0) learn(s, pb);
  return pb;
}

/// --check-lowpass: the low-pass against a reference array of the same shape.
void check_lowpass(const Settings& s, const Problem& pb) {
  const Tensor reference = mcsc_examples::load_image(s.check_lowpass, "", int(pb.lowpass.extent(1)), "--check-lowpass");
  MCSC_REQUIRE(mcsc::shape_of(reference) == mcsc::shape_of(pb.lowpass), "--check-lowpass",
               "the reference is " << shape_text(reference) << ", the low-pass " << shape_text(pb.lowpass));
  const double worst = mcsc::max_abs_diff(reference, pb.lowpass);
  const double rel = std::sqrt(mcsc::distance_squared(reference, pb.lowpass) / mcsc::sum_squares(reference));
  std::cout << "low-pass vs " << s.check_lowpass << ": max |difference| " << mcsc_examples::scientific(worst, 2)
            << ", relative l2 difference " << mcsc_examples::scientific(rel, 2) << "\n";
  MCSC_REQUIRE(worst <= 1e-5, "--check-lowpass",
               "the Tikhonov low-pass differs from the reference by up to " << worst << " (> 1e-5)");
  std::cout << "low-pass matches the reference (max |difference| <= 1e-5)\n";
}

}  // namespace mcsc_solve
