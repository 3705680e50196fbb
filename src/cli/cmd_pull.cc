// rig pull MODEL[@REVISION]: fetch the files rig reads of a hub model into the Hugging Face
// cache (shared with huggingface_hub and transformers), and print the snapshot directory.
#include <iostream>

#include "cli/commands.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "hub/download.h"

namespace po = boost::program_options;

namespace rig::cli {

int cmd_pull(const Args& args) {
  std::string model, revision, cache_dir;
  hub::PullOptions o;
  po::options_description desc(
      "usage: rig pull ORG/NAME[@REVISION] [options]\n\n"
      "Downloads config.json, tokenizer files and safetensors weights into the Hugging Face cache\n"
      "($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub) and prints the snapshot\n"
      "directory. Reads HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE; an interrupted download resumes.\n\n"
      "options");
  desc.add_options()("help,h", "show this help")("model", po::value(&model)->required(),
                                                 "hub id, optionally with @REVISION (a branch, tag or commit)")(
      "revision", po::value(&revision), "the revision, instead of @REVISION (default main)")(
      "cache-dir", po::value(&cache_dir), "cache directory (default: the environment's, as above)")(
      "quiet,q", po::bool_switch(&o.quiet), "no progress output");
  po::positional_options_description pos;
  pos.add("model", 1);
  const auto vm = parse(args, desc, pos);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  const hub::ModelRef ref = hub::parse_model_ref(model);
  if (!revision.empty() && model.find('@') != std::string::npos)
    throw ConfigError("give the revision once: either " + model + " or --revision " + revision);
  o.repo = ref.repo;
  o.revision = revision.empty() ? ref.revision : revision;
  o.env = hub::env_from_process();
  if (!cache_dir.empty()) o.env.cache_dir = o.cache_dir_arg = cache_dir;
  const hub::PullResult r = hub::pull(o);
  if (!o.quiet && !o.env.offline)
    std::cerr << "rig pull: " << o.repo << "@" << o.revision << " = commit " << r.commit << ": " << r.files.size()
              << " files, " << r.files_fetched << " fetched (" << r.bytes_fetched << " bytes), "
              << r.files.size() - size_t(r.files_fetched) << " already in the cache\n";
  std::cout << r.snapshot.string() << "\n";
  return 0;
}

}  // namespace rig::cli
