// rig merge OUT.h5 SHARD...: checks that shard files (rig run --shard I/N) are one complete
// experiment and writes them as one recording, or (--virtual) as an HDF5 virtual-dataset file
// over them. docs/CLUSTER.md.
#include <iostream>

#include "cli/commands.h"
#include "cli/model_args.h"
#include "recording/merge.h"

namespace po = boost::program_options;

namespace rig::cli {

int cmd_merge(const Args& args) {
  std::string out;
  std::vector<std::string> shards;
  MergeOptions o;
  bool quiet = false;
  po::options_description desc("usage: rig merge OUT.h5 SHARD.h5... [options]\n\noptions");
  desc.add_options()("help,h", "show this help")("out", po::value(&out)->required(), "the merged recording to write")(
      "shards", po::value(&shards)->required()->multitoken(), "shard files of one experiment (any order)")(
      "virtual", po::bool_switch(&o.virtual_datasets),
      "write HDF5 virtual datasets over the shards instead of copying (the shards must stay beside it)")(
      "force", po::bool_switch(&o.force), "overwrite an existing OUT.h5")("quiet,q", po::bool_switch(&quiet),
                                                                          "no summary");
  po::positional_options_description pos;
  pos.add("out", 1).add("shards", -1);
  const auto vm = parse(args, desc, pos);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  std::vector<std::filesystem::path> paths(shards.begin(), shards.end());
  const MergeResult r = merge_recordings(paths, out, o);
  for (const auto& w : r.warnings) std::cerr << "rig merge: warning: " << w << "\n";
  if (!quiet)
    std::cerr << "rig: merged " << paths.size() << " shards, " << r.n_trials << " trials, " << r.n_rows << " rows into "
              << out << (o.virtual_datasets ? " (virtual datasets)" : "") << "\n";
  return 0;
}

}  // namespace rig::cli
