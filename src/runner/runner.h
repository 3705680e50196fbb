#pragma once
// The trial runner: plan() checks an experiment against a loaded model; run() presents every
// trial of the plan to the model in batches, records the electrodes at every time step and
// hands finished trials to a recording sink, which streams them to disk. An interrupted run
// keeps every finished trial and can be resumed.
#include <atomic>
#include <cstdint>
#include <filesystem>
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
};

// What a run will do, known before anything is written: the config and everything checked
// against the model (sites, neurons, prompt lengths, stimulation, SAEs).
struct RunPlan {
  ExperimentConfig config;
  RunOptions options;
  std::vector<TrialSpec> trials;                 // this run's share, in presentation order
  int64_t n_trials_experiment = 0;               // trials of the whole experiment (every shard)
  std::vector<std::vector<int64_t>> prompt_ids;  // per stimulus
  std::vector<ElectrodeSpec> electrodes;
  int64_t max_rows = 0;        // rows if every trial generates max_new_tokens
  int64_t max_bytes = 0;       // recording bytes for max_rows
  std::string path;            // the output file
  Stimulation stimulation;     // `stimulation:`, checked against the model
  SaeSet saes;                 // the SAEs of SAE electrodes and stimulation, by directory
  ModelProvenance provenance;  // sha256 of the model's files: root attributes
  std::string model;           // the model planned with: "DIR (DTYPE on DEVICE)"; run() refuses another
};

// The config's model: from its directory, or from the Hugging Face cache (fetched first with
// model.download: true, otherwise ConfigError naming the command that fetches it). The
// options' and the config's own errors (--shard, a sweep without a variant) are thrown first.
LoadedModel load_experiment_model(const ExperimentConfig& config, const RunOptions& options = {});

// Checks the config against the model and plans the run; config.model is not read. Throws
// ConfigError / ModelError before any output exists.
RunPlan plan(ExperimentConfig config, const LoadedModel& model, const RunOptions& options = {});

// Runs every planned trial not yet in the sink, in batches, and closes the sink. Returns the
// number of trials run. Stops between batches once *stop is true, leaving the sink consistent
// with every finished trial. Throws Error, before touching the sink, when model is not the one
// the plan was made with (directory, dtype, device): its sites and token ids are that model's.
int64_t run(const RunPlan& plan, const LoadedModel& model, RecordingSink& sink,
            const std::atomic<bool>* stop = nullptr);

// Opens the plan's output file per its options (create, --force, --resume) and runs. A stop
// throws Error (exit 130) saying how many trials the file holds and how to resume. The model
// is checked as in run(), before the file is created.
int64_t run_to_file(const RunPlan& plan, const LoadedModel& model, const std::atomic<bool>* stop = nullptr);

// Trial results for one batch (no sink); used by run() and by the benchmark.
std::vector<TrialResult> run_batch(const RunPlan& plan, const LoadedModel& model, const std::vector<TrialSpec>& batch);

// The recording's description (root attributes, stimuli, electrodes, events).
RecordingHeader header(const RunPlan& plan, const LoadedModel& model);
// A human-readable plan (for --dry-run).
std::string describe(const RunPlan& plan, const LoadedModel& model);
// The files this run reads (config, every file of the model directory, stimulus files,
// files the stimulation section names): --force must never replace one of them.
std::vector<std::filesystem::path> inputs(const RunPlan& plan, const LoadedModel& model);

}  // namespace rig
