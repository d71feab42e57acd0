/// \file export_model.cpp
/// mcsc-export-model: a training checkpoint (model, Adam state, generator, the trainer's history
/// with wall-clock times) -> an inference checkpoint holding the model only, with a note. The
/// result depends on the parameters alone, so a rerun of a deterministic training command gives
/// the same bytes: the files of the model zoo (models/) are made this way.
///
///   mcsc-export-model --input RUN/cunet_trained.best.mcsc --output models/depth-x4-cunet.mcsc
///                     --note "recipe depth-x4-cunet v1"
#include <filesystem>
#include <iostream>

#include "cli.hpp"
#include "models.hpp"
#include "mcsc/train/checkpoint.hpp"

namespace {
namespace po = mcsc_cli::po;
struct Settings {
  std::string input, output, note;
  bool overwrite = false;
};
}  // namespace

int main(int argc, char* argv[]) {
  Settings s;
  po::options_description desc("Options");
  // clang-format off
  desc.add_options()
    ("help,h", "print this help and exit")
    ("input", po::value(&s.input)->required()->value_name("FILE"), "a checkpoint written by the trainer (or any mcsc checkpoint)")
    ("output", po::value(&s.output)->required()->value_name("FILE"), "the inference checkpoint to write")
    ("note", po::value(&s.note)->value_name("TEXT"), "text stored in the file (e.g. the recipe and its version)")
    ("overwrite", po::bool_switch(&s.overwrite), "replace --output if it exists");
  // clang-format on
  return mcsc_cli::run(
      argc, argv, desc, "Writes the model of a training checkpoint as an inference checkpoint (no optimiser, no history).\n",
      [&] {
        mcsc_cli::require_output_file("--output", s.output);
        mcsc_cli::require(std::filesystem::absolute(s.input) != std::filesystem::absolute(s.output),
                          "--output must differ from --input");
        mcsc_cli::require(s.overwrite || !std::filesystem::exists(s.output),
                          "--output: '" + s.output + "' exists (--overwrite replaces it)");
      },
      [&] {
        const auto info = mcsc::read_checkpoint_info(s.input);
        return mcsc_examples::with_model(info.model_type, info.model_config, [&](auto& model) {
          using Model = std::decay_t<decltype(model)>;
          mcsc::load_checkpoint(s.input, model.parameters(), Model::type_name, model.config_string());
          mcsc::CheckpointInfo out;
          out.model_type = Model::type_name;
          out.model_config = model.config_string();
          out.epoch = info.epoch;
          out.step = info.step;
          out.notes = s.note;
          mcsc::save_checkpoint(s.output, model.parameters(), out);
          std::cout << "wrote " << s.output << ": " << Model::type_name << " {" << out.model_config << "}, "
                    << model.parameters().num_scalars() << " parameters, epoch " << info.epoch << "\n";
          return 0;
        });
      });
}
