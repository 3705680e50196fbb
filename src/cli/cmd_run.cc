// rig run CONFIG: validate an experiment config against its model, then present every trial
// and record the electrodes to one HDF5 file (or just print the plan with --dry-run).
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "runner/runner.h"
#include "runner/task_select.h"

namespace po = boost::program_options;

namespace rig::cli {
namespace {

// Set by SIGINT / SIGTERM; the runner checks it between batches. Lock-free, so a signal
// handler may store to it.
std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);
extern "C" void on_sigint(int) { g_stop = true; }

// "I/N" -> (I, N)
void parse_shard(const std::string& s, TaskRequest* r) {
  const auto slash = s.find('/');
  try {
    if (slash == std::string::npos) throw std::invalid_argument(s);
    size_t a = 0, b = 0;
    r->shard_index = std::stoll(s.substr(0, slash), &a);
    r->shard_count = std::stoll(s.substr(slash + 1), &b);
    if (a != slash || b != s.size() - slash - 1) throw std::invalid_argument(s);
  } catch (const std::exception&) {
    throw ConfigError("--shard: expected I/N (e.g. 0/4), got '" + s + "'");
  }
}

// --dry-run of a sweep: every variant, its values and its output file.
void list_variants(const ExperimentConfig& c, int64_t chosen) {
  const int64_t n = sweep_size(c);
  std::cout << "sweep      " << n << " variants (SLURM: --array=0-" << n - 1 << ", or 0-" << n
            << "*N-1 for N shards each)\n";
  for (int64_t k = 0; k < n; ++k)
    std::cout << (k == chosen ? "  * " : "    ") << k << "  " << sweep_label(c, k) << "\n";
}

}  // namespace

int cmd_run(const Args& args) {
  std::string config_path, shard;
  std::vector<std::string> overrides;
  RunOptions o;
  int64_t sweep_index = -1;
  po::options_description desc("usage: rig run CONFIG [options]\n\noptions");
  desc.add_options()("help,h", "show this help")("config", po::value(&config_path)->required(),
                                                 "experiment config (YAML)")(
      "set", po::value(&overrides)->composing(), "override a key: --set trials.repetitions=10 (repeatable)")(
      "out,o", po::value(&o.out), "output file (overrides recording.path; a shard writes OUT.shard-I-of-N.h5)")(
      "dry-run", po::bool_switch(&o.dry_run), "validate, print the plan, write nothing")(
      "resume", po::bool_switch(&o.resume), "complete an interrupted recording")("force", po::bool_switch(&o.force),
                                                                                 "overwrite an existing recording")(
      "shard", po::value(&shard),
      "run shard I of N (trials with index % N == I); in a SLURM array, "
      "taken from the array task (docs/CLUSTER.md)")("sweep-index", po::value(&sweep_index),
                                                     "run variant K of the config's sweep: (0-based); in a SLURM "
                                                     "array, taken from the array task")(
      "quiet,q", po::bool_switch(&o.quiet), "no progress output")(
      "log-every", po::value(&o.log_every)->default_value(10.0),
      "seconds between progress lines when stderr is not a terminal (0 = every batch)");
  po::positional_options_description pos;
  pos.add("config", 1);
  const auto vm = parse(args, desc, pos);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  TaskRequest req;
  if (!shard.empty()) parse_shard(shard, &req);
  if (vm.count("sweep-index")) req.sweep_index = sweep_index;
  if (o.resume && o.force) throw ConfigError("--resume and --force exclude each other");

  ExperimentConfig config = load_experiment(config_path, overrides);
  req.n_variants = sweep_size(config);
  const TaskSelection task = select_task(req, [](const char* name) { return std::getenv(name); });
  o.shard_index = task.shard_index;
  o.shard_count = task.shard_count;
  if (req.n_variants > 0 && task.variant >= 0) config = load_experiment(config_path, overrides, task.variant);
  if (req.n_variants > 0 && (o.dry_run || task.variant < 0)) list_variants(config, task.variant);
  if (o.dry_run && req.n_variants > 0 && task.variant < 0) {
    std::cout << "(pass --sweep-index K to see variant K's plan)\n";
    return 0;
  }
  if (!o.quiet && task.from != "flags")
    std::cerr << "rig: " << task.from << ": "
              << (task.variant >= 0 ? "variant " + std::to_string(task.variant) + ", " : "") << "shard "
              << task.shard_index << "/" << task.shard_count << "\n";

  const LoadedModel model = load_experiment_model(config, o);
  const RunPlan p = plan(std::move(config), model, o);
  if (o.dry_run) {
    std::cout << describe(p, model);
    return 0;
  }
  if (!o.quiet) std::cerr << describe(p, model);
  std::signal(SIGINT, on_sigint);
  std::signal(SIGTERM, on_sigint);  // SLURM sends SIGTERM before killing a job
  run_to_file(p, model, &g_stop);
  return 0;
}

}  // namespace rig::cli
