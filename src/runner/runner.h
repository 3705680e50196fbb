#pragma once
// The trial runner: presents every trial of an experiment to the model in batches, records
// the electrodes at every time step and hands finished trials to a recording sink, which
// streams them to disk. An interrupted run keeps every finished trial and can be resumed.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "experiment/config.h"
#include "model/loader.h"
#include "model/provenance.h"
#include "recording/sink.h"
#include "sae/electrodes.h"
#include "stimulation/stimulation.h"

namespace rig {

struct RunOptions {
  std::string out;          // overrides recording.path when set
  bool dry_run = false;     // validate and print the plan; write nothing
  bool resume = false;      // complete an interrupted recording
  bool force = false;       // overwrite an existing recording
  int64_t shard_index = 0;  // run trials with index % shard_count == shard_index
  int64_t shard_count = 1;
  bool quiet = false;     // no progress output
  double log_every = 10;  // seconds between progress lines when stderr is not a terminal
  // Besides request_stop() (the CLI's signal handler): a caller's own flag, checked between
  // batches. A stop leaves the sink consistent, with every finished trial.
  const std::atomic<bool>* stop = nullptr;
};

// What a run will do, known before anything is written.
struct RunPlan {
  std::vector<TrialSpec> trials;                 // this run's share, in presentation order
  int64_t n_trials_experiment = 0;               // trials of the whole experiment (every shard)
  std::vector<std::vector<int64_t>> prompt_ids;  // per stimulus
  std::vector<ElectrodeSpec> electrodes;
  int64_t max_rows = 0;   // rows if every trial generates max_new_tokens
  int64_t max_bytes = 0;  // recording bytes for max_rows
  std::string path;       // the output file
};

class Runner {
 public:
  // Loads the model and checks everything against it (sites, neurons, prompt lengths);
  // throws ConfigError / ModelError before any output exists.
  Runner(ExperimentConfig config, RunOptions options);
  // The same with a model already loaded (tests, programs that run several experiments on one
  // model): config.model is not read.
  Runner(ExperimentConfig config, RunOptions options, LoadedModel model);

  const RunPlan& plan() const { return plan_; }
  const ExperimentConfig& config() const { return config_; }
  LoadedModel& model() { return model_; }
  // The recording's description (root attributes, stimuli, electrodes, events).
  RecordingHeader header() const;
  // A human-readable plan (for --dry-run).
  std::string describe() const;

  // Runs every trial not yet in the sink. Returns the number of trials run. Stops early,
  // leaving the sink consistent, when stop_requested() becomes true.
  int64_t run(RecordingSink& sink);
  // Opens the output file per the options (create, --force, --resume) and runs.
  int64_t run_to_file();
  // The files this run reads (config, every file of the model directory, stimulus files,
  // files the stimulation section names): --force must never replace one of them.
  std::vector<std::filesystem::path> inputs() const;

  // Trial results for one batch (no sink); used by run() and by tests.
  std::vector<TrialResult> run_batch(const std::vector<TrialSpec>& batch);

  static void request_stop();
  static bool stop_requested();

 private:
  void check_options() const;
  void prepare();  // the checks and the plan, once the model is loaded
  bool stopping() const;

  ExperimentConfig config_;
  RunOptions options_;
  LoadedModel model_;
  ModelProvenance provenance_;  // sha256 of the model's files: root attributes
  RunPlan plan_;
  Stimulation stimulation_;  // `stimulation:`, checked against the model
  SaeSet saes_;              // the SAEs of SAE electrodes, by directory
};

}  // namespace rig
