#include "cli/model_args.h"

#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "hub/cache.h"

namespace po = boost::program_options;

namespace rig::cli {

void ModelArgs::add_options(po::options_description& desc, bool model_required) {
  auto* model_value = po::value(&model);
  if (model_required) model_value->required();
  desc.add_options()("model", model_value, "model directory (HF format) or hub id ORG/NAME")(
      "revision", po::value(&revision)->default_value("main"), "hub revision (with a hub id)")(
      "cache-dir", po::value(&cache_dir),
      "HF cache directory (with a hub id; default $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub)")(
      "dtype", po::value(&dtype)->default_value("float32"), "compute dtype: float32 | float16 | bfloat16")(
      "device", po::value(&device)->default_value("cpu"), "cpu | cuda | cuda:N");
}

ModelSource ModelArgs::source() const {
  ModelSource s;
  parse_dtype(dtype);  // a bad --dtype is the flag's error, before anything loads
  s.dtype = dtype;
  s.device = device;
  // An existing directory is a local model; otherwise ORG/NAME is a hub id.
  const bool hub_id = !std::filesystem::is_directory(model) && model.find('/') != std::string::npos &&
                      model.find('/') == model.rfind('/') && model[0] != '.' && model[0] != '/';
  if (!hub_id) {
    s.path = model;
    return s;
  }
  s.id = model;
  s.revision = revision;
  s.cache_dir = cache_dir.empty() ? hub::env_from_process().cache_dir.string() : cache_dir;
  return s;
}

po::variables_map parse(const std::vector<std::string>& args, const po::options_description& desc,
                        const po::positional_options_description& pos) {
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).positional(pos).run(), vm);
    if (vm.count("help")) return vm;
    po::notify(vm);
  } catch (const po::error& e) {
    throw ConfigError(std::string(e.what()) + " (see --help)");
  }
  return vm;
}

}  // namespace rig::cli
