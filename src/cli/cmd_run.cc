// rig run CONFIG: validate an experiment config against its model, then present every trial
// and record the electrodes to one HDF5 file (or just print the plan with --dry-run).
#include <csignal>
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "runner/runner.h"

namespace po = boost::program_options;

namespace rig::cli {
namespace {

extern "C" void on_sigint(int) { Runner::request_stop(); }

// "I/N" -> (I, N)
void parse_shard(const std::string& s, RunOptions* o) {
  const auto slash = s.find('/');
  try {
    if (slash == std::string::npos) throw std::invalid_argument(s);
    o->shard_index = std::stoll(s.substr(0, slash));
    o->shard_count = std::stoll(s.substr(slash + 1));
  } catch (const std::exception&) {
    throw ConfigError("--shard: expected I/N (e.g. 0/4), got '" + s + "'");
  }
}

}  // namespace

int cmd_run(const Args& args) {
  std::string config_path, shard;
  std::vector<std::string> overrides;
  RunOptions o;
  po::options_description desc("usage: rig run CONFIG [options]\n\noptions");
  desc.add_options()("help,h", "show this help")
      ("config", po::value(&config_path)->required(), "experiment config (YAML)")
      ("set", po::value(&overrides)->composing(), "override a key: --set trials.repetitions=10 (repeatable)")
      ("out,o", po::value(&o.out), "output file (overrides recording.path)")
      ("dry-run", po::bool_switch(&o.dry_run), "validate, print the plan, write nothing")
      ("resume", po::bool_switch(&o.resume), "complete an interrupted recording")
      ("force", po::bool_switch(&o.force), "overwrite an existing recording")
      ("shard", po::value(&shard), "run shard I of N (trials with index % N == I)")
      ("quiet,q", po::bool_switch(&o.quiet), "no progress output")
      ("log-every", po::value(&o.log_every)->default_value(10.0),
       "seconds between progress lines when stderr is not a terminal (0 = every batch)");
  po::positional_options_description pos;
  pos.add("config", 1);
  const auto vm = parse(args, desc, pos);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (!shard.empty()) parse_shard(shard, &o);
  if (o.resume && o.force) throw ConfigError("--resume and --force exclude each other");

  Runner runner(load_experiment(config_path, overrides), o);
  if (o.dry_run) {
    std::cout << runner.describe();
    return 0;
  }
  if (!o.quiet) std::cerr << runner.describe();
  std::signal(SIGINT, on_sigint);
  std::signal(SIGTERM, on_sigint);  // SLURM sends SIGTERM before killing a job
  runner.run_to_file();
  return 0;
}

}  // namespace rig::cli
