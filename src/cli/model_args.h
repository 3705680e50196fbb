#pragma once
// Command-line options that name a model, shared by inspect and generate.
#include <boost/program_options.hpp>
#include <string>

#include "model/loader.h"

namespace rig::cli {

struct ModelArgs {
  std::string model;  // a directory, or a hub id (with --cache-dir)
  std::string revision = "main";
  std::string cache_dir;
  std::string dtype = "float32";
  std::string device = "cpu";

  // model_required: false where the command has a mode without a model (inspect --architectures).
  void add_options(boost::program_options::options_description& desc, bool model_required = true);
  ModelSource source() const;
};

// Parses args with desc (+ positional names), mapping Boost errors to rig::ConfigError.
boost::program_options::variables_map parse(const std::vector<std::string>& args,
                                            const boost::program_options::options_description& desc,
                                            const boost::program_options::positional_options_description& pos);

}  // namespace rig::cli
