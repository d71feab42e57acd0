#pragma once
/// \file task_harness.hpp
/// What the six task programs (mcsc-task-*) share: test samples of a multimodal task, the
/// methods compared on them (baselines, the classical multimodal solver, learned networks
/// trained here, official CU-Net weights), the evaluation (metrics per image and average), the
/// table in the papers' layout, a CSV file and an HTML report with image panels.
///
/// The heavy parts (network training, the classical solver) are compiled once, in
/// task_samples.cpp, task_methods.cpp, task_report.cpp and task_options.cpp (the library
/// mcsc_task_harness); a task program only assembles its samples
/// and methods.
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../cli.hpp"
#include "../dataset.hpp"
#include "mcsc/solvers/back_projection.hpp"

namespace mcsc_tasks {

using mcsc_examples::ExecSpace;
using mcsc_examples::T;
using mcsc_examples::Tensor;
namespace po = mcsc_cli::po;

// ------------------------------------------------------------------------------------ samples

/// One test (or training) item. x and y are the two model inputs (CU-Net's forward(x, y)):
/// restoration: x = the degraded target, y = the guide; fusion: the two sources.
struct Sample {
  std::string name;
  Tensor x, y;
  Tensor target;        ///< ground truth; empty for fusion without one
  Tensor low;           ///< super-resolution: the low-resolution x before upsampling (else empty)
  Tensor guide_color;   ///< a colour guide for the report and colour-guided baselines (may be empty)
  std::string x_caption = "x", y_caption = "y";
  double display_scale = 1;  ///< metric units per image unit (depth: 255)
};

/// Reads an image as (1, C, H, W) in [0, 1]: C = its channels (grey 1, colour 3; alpha dropped),
/// or its luma (MATLAB rgb2ycbcr Y) when channels == 1 and the file is colour, or the grey
/// plane replicated when channels == 3 and the file is grey.
Tensor load_image(const std::string& path, int channels);
/// Centre crop to at most max_side a side (0: none), a multiple of `multiple`.
Tensor centre_crop(const Tensor& t, int max_side, int multiple = 1);
/// The side training images are centre-cropped to: the smaller of --max-side and --train-crop,
/// where 0 means no limit.
int training_side(int max_side, int train_crop);
/// A sub-image (1, C, h, w) at (top, left).
Tensor crop(const Tensor& t, int top, int left, int h, int w);

/// Super-resolution: target cropped to a multiple of scale; low = imresize(target, 1/scale),
/// x = imresize(low, scale) (MATLAB bicubic, antialiased), y = guide.
Sample make_sr_sample(const std::string& name, const Tensor& target, const Tensor& guide, int scale);
/// Denoising: x = clean + sigma/255 N(0, 1) (seeded, not clipped), y = guide.
Sample make_noise_sample(const std::string& name, const Tensor& clean, const Tensor& guide, double sigma,
                         std::uint64_t seed);
/// Fusion: x = a, y = b, target optional.
Sample make_fusion_sample(const std::string& name, const Tensor& a, const Tensor& b, const Tensor& target = {});
/// Two aligned files given on the command line as "[NAME=]FIRST:SECOND"; name defaults to
/// FIRST's stem. A text without ':' is a UsageError naming `form` (e.g. "[NAME=]DEPTH:COLOR").
struct NamedPair {
  std::string name, first, second;
};
NamedPair parse_pair(const std::string& text, const std::string& form);
/// The pairs <stem><first_suffix> + <stem><second_suffix> of a folder (`dir` as given, else under
/// `data_dir`), sorted by stem; errors name `option` (a missing folder, a first file without its
/// partner, a folder without pairs).
std::vector<NamedPair> folder_pairs(const std::string& dir, const std::string& data_dir, const std::string& first_suffix,
                                    const std::string& second_suffix, const std::string& option);

/// Trainer triplets (input x, guide y, target) of samples that have a target.
std::vector<mcsc::ImageTriplet> triplets(const std::vector<Sample>& samples);

// ------------------------------------------------------------------------------------ methods

/// A method's result on one sample: the image, and optionally named parts (CU-Net and the
/// classical solver: the unique and common reconstructions, the paper's Fig. 10 and 11).
struct Output {
  Tensor image;
  std::vector<std::pair<std::string, Tensor>> parts;
};

struct Method {
  std::string name;
  std::function<Output(const Sample&)> run;
};

/// out = x (the bicubic upsampling for SR, the noisy image for denoising).
Method input_method(const std::string& name);
/// The guided filter (He et al.): SR: guided_upsample(low, y); else guided_filter(y, x). With a
/// colour guide and a one-channel target, the colour guided filter.
Method guided_filter_method(int radius, double eps, bool use_color_guide = true);
/// Guided back-projection of the bicubic estimate (SR only; x unchanged otherwise): the
/// classical solver's data step alone, without dictionaries (its ablation row).
Method back_projection_method(const mcsc::BackProjectionOptions& options);
/// Joint bilateral upsampling (Kopf et al.) of low (SR) or filtering of x, guided by y.
Method joint_bilateral_method(double sigma_spatial, double sigma_range);
/// (x + y) / 2.
Method average_fusion_method();
/// Mertens et al.'s exposure fusion (baselines/exposure_fusion.hpp), the authors' settings.
Method mertens_fusion_method();
/// Liu et al.'s CSR fusion with the DCT dictionary of `filters` atoms of s x s.
Method csr_fusion_method(bool multi_focus, int filters = 32, int s = 8, double lambda = 0.01);

/// The classical multimodal solver: mcsc::ClassicalMultimodal (solvers/classical_multimodal.hpp:
/// coupled dictionaries fitted on random aligned training patches, then per image the
/// common/unique codes of eq. 5 and the estimate of eq. 3 or 4). For super-resolution the
/// estimate is then back-projected onto the low-resolution observation, guided by y
/// (ClassicalOptions::back_projection).
struct ClassicalOptions {
  int filters = 8;            ///< Kc = Ku = Kv
  int kernel = 7;
  double lambda = 0.02;
  int learn_iterations = 4;   ///< coupled dictionary learning iterations
  int patches = 8;            ///< training patches
  int patch = 48;
  int sweeps = 8;             ///< common_unique sweeps per test image
  int inner_iterations = 10;
  double lowpass_lambda = 5;  ///< Tikhonov low-pass split
  /// Super-resolution: guided back-projection (mcsc/solvers/back_projection.hpp) of the
  /// estimate onto the low-resolution observation, the data term of eq. 3; 0 iterations: none.
  mcsc::BackProjectionOptions back_projection{30, 4, 1e-3};
  bool fusion = false;
  std::uint64_t seed = 1;
  /// A CU-Net checkpoint (file; --classical-dictionaries also takes a zoo name) whose filters
  /// replace the learned Dc, Du, Hc, Hv (mcsc::cunet_dictionaries: a trained network's
  /// dictionaries handed back to the classical solver), each filter scaled to unit norm as the
  /// learned ones are (the network's relative scales of x's and y's filters are not kept).
  /// Nothing is learned then: the codes of
  /// the training patches are computed once and G is fitted to them (from the network's
  /// decoders); filters/kernel/learn_iterations are the network's / unused.
  std::string dictionaries;
  /// A fitted model written by --classical-save (mcsc::ClassicalMultimodal::save) to use
  /// instead of fitting one; its configuration replaces the options above (the back-projection
  /// options still apply).
  std::string model;
  /// Where to write the fitted model (empty: nowhere).
  std::string save;
};
/// Fits the model on random patches of `training` (G to the targets' missing detail: z - x,
/// or for fusion z minus the mean low-pass), or loads options.model, and returns the method.
Method classical_method(const std::string& name, const std::vector<mcsc::ImageTriplet>& training,
                        const ClassicalOptions& options, bool quiet);

/// Training budget and architecture of a network trained by a task program.
struct TrainOptions {
  int filters = 16, kernel = 7, stages = 3;
  mcsc::TrainerOptions trainer;
  std::string output_dir;  ///< checkpoint and log go here
  bool quiet = false;
  bool resume = false;     ///< continue <output_dir>/<tag>.mcsc
  bool overwrite = false;  ///< replace an earlier run's checkpoint and log (refused otherwise)
  /// Fine-tuning: a checkpoint of the same architecture to start from instead of a random
  /// initialisation (a file, or the name of a zoo model under models/; resolved by validate_common).
  std::string init_from;
  /// CU-Net only: start from the classical solver's dictionaries, learned first from the same
  /// training images (ClassicalOptions `classical`, with the network's filters and kernel):
  /// mcsc::initialize_from_dictionaries, each encoder exact ISTA steps on them.
  bool init_classical = false;
  ClassicalOptions classical;
};
/// Trains a CU-Net (restoration: the residual variant, output += x; or the fusion variant) and
/// returns it as a method (with its common and unique parts).
Method train_cunet_method(const std::string& name, const std::vector<mcsc::ImageTriplet>& training,
                          const std::vector<mcsc::ImageTriplet>& validation, int channels, bool fusion,
                          const TrainOptions& options);
/// Trains an LMCSC network (LMCSC paper; residual) and returns it as a method.
Method train_lmcsc_method(const std::string& name, const std::vector<mcsc::ImageTriplet>& training,
                          const std::vector<mcsc::ImageTriplet>& validation, int channels,
                          const TrainOptions& options);
/// Moves `count` samples, chosen by a seeded shuffle, from `training` into the returned
/// validation set (the held-back split the trainer scores after every epoch).
std::vector<Sample> hold_out(std::vector<Sample>& training, int count, std::uint64_t seed);
/// The row name of a --weights checkpoint: "CU-Net (official)" for a converted official file
/// (its notes say so), else the file's name.
std::string weights_row_name(const std::string& path);
/// The method with its guide replaced: by zeros ("<name>, zero guide") and by the guide of the
/// next sample of `samples` resized to this one's size, or this guide upside down when there is
/// one sample ("<name>, other image's guide"). A model that uses its guide must lose on both.
std::vector<Method> guide_ablations(const Method& method, const std::vector<Sample>& samples);

/// models/<name>.mcsc of the source tree (the model zoo) when it exists, else empty.
std::string zoo_model(const std::string& name);

/// A CU-Net checkpoint (mcsc format; tools/convert_cunet_pth.py converts the official .pth
/// files) as a method. Refuses .pth files with the conversion command, and a model whose
/// channel count is not `channels` or whose variant (fusion or not) differs.
Method cunet_checkpoint_method(const std::string& name, const std::string& path, int channels, bool fusion);

/// An LMCSC checkpoint (mcsc format) as a method; refuses another model type or channel count.
Method lmcsc_checkpoint_method(const std::string& name, const std::string& path, int channels);
/// A CU-Net or LMCSC checkpoint as a method, by the model type the file holds (`allowed` lists
/// the types the task runs, e.g. {"CuNet", "LmcscNet"}; another type is refused naming them).
Method checkpoint_method(const std::string& name, const std::string& path, int channels, bool fusion,
                         const std::vector<std::string>& allowed);

/// The checkpoint for `stem` (e.g. "denoise25") given --weights: a file is used as it is; a folder
/// gives <folder>/<stem>.mcsc (an error naming the conversion command if only <stem>.pth is
/// there). Empty when option is empty.
std::string resolve_weights(const std::string& option, const std::string& stem);

// ------------------------------------------------------------------------------------ evaluation

struct Metric {
  std::string name;
  int precision = 2;
  bool higher_is_better = true;
  std::function<double(const Sample&, const Tensor&)> eval;
};
Metric psnr_metric();
Metric ssim_metric();
/// RMSE on the 0-255 scale over all pixels (CU-Net Table 2: no crop, clipping or rounding).
Metric rmse255_metric();
/// Q^AB/F of the fused image (on the luma of colour images).
Metric qabf_metric();
/// MEF-SSIM (Ma et al.) of the fused image (on luma).
Metric mef_ssim_metric();

enum class Layout {
  methods_as_rows,  ///< CU-Net Tables 2-4: a row per method, a column group per image, then Average
  images_as_rows    ///< LMCSC Table 1: a row per image and Average, a column group per method (and group)
};

/// Runs methods on samples, scores them, keeps the numbers, writes image panels; then prints the
/// table(s), results.csv and report.html into the output folder.
class TaskRun {
 public:
  TaskRun(std::string title, std::string output_dir, std::vector<Metric> metrics, Layout layout);
  ~TaskRun();

  /// Free text shown under the title of the report (the protocol).
  void set_description(const std::string& text);
  /// Runs every method on every sample. `group` names a setting (e.g. "x4", "sigma 25"): tables
  /// get a column group (images_as_rows) or a table (methods_as_rows) per group.
  void evaluate(const std::vector<Sample>& samples, const std::vector<Method>& methods, const std::string& group = "");
  /// The table(s) in the paper's layout.
  void print(std::ostream& os) const;
  /// results.csv, report.html and the table as table.txt; returns the report's path.
  std::string write() const;
  /// The score of (group, method, image, metric index); NaN when absent. image "Average" gives the mean.
  double value(const std::string& group, const std::string& method, const std::string& image, int metric) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m;
};

// ------------------------------------------------------------------------------------ options

/// Options every task program has. The default training budget: 6 epochs of 25 batches of 8
/// patches of 48x48 at learning rate 2e-3 (seconds to a few minutes on 2 cores).
struct CommonSettings {
  CommonSettings() {
    train.trainer.epochs = 6;
    train.trainer.steps_per_epoch = 25;
    train.trainer.batch_size = 8;
    train.trainer.patch_size = 48;
    train.trainer.adam.learning_rate = 2e-3;
  }
  std::string output_dir;
  std::string data_dir;        ///< --data-dir; default_data_dir() when not given
  int max_side = 0;            ///< centre-crop every image to at most this side (0: whole images)
  TrainOptions train;
  ClassicalOptions classical;
  bool no_train = false, no_classical = false, no_zoo = false;
  bool guide_ablation = false; ///< add the zero-guide and other-guide rows of the learned checkpoints
  std::string weights;         ///< official CU-Net checkpoint(s), mcsc format
  std::uint64_t seed = 1;
  int holdout = 0;             ///< training pairs held back for validation
  std::string recipe;          ///< --recipe (read by mcsc_cli::run)
  std::string schedule = "step";
};
/// Adds --output-dir, --data-dir, --max-side, --recipe, the training budget and recipe (--epochs,
/// --steps-per-epoch, --batch, --patch, --lr, --schedule, --warmup, --min-lr-fraction,
/// --decay-every, --decay-gamma, --clip, --spike-factor, --holdout, --filters, --kernel,
/// --stages, --resume, --overwrite), --classical-* and --no-train/--no-classical/--no-zoo,
/// --seed and --quiet to desc; defaults are the current values of s.
void add_common_options(po::options_description& desc, CommonSettings& s);
/// Checks them (UsageError) and fills dependent fields (data_dir: default_data_dir()).
void validate_common(CommonSettings& s);
/// The data folder: --data-dir if given, else $MCSC_SHARED_DIR/data, else ../shared/data beside
/// the source tree (the build's default), else ../shared/data from the working directory.
std::string default_data_dir();

}  // namespace mcsc_tasks
