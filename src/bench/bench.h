#pragma once
// rig bench: what recording costs, as ratios to what this machine can do, all measured in
// one run. It writes a seeded random pythia-70m-shaped GPT-NeoX model (and a byte-level
// tokenizer) into a work directory, then measures
//   record    prompt-only recording of every layer output and MLP neuron through run_to_file +
//             RecordingWriter: tokens/s, and achieved FLOP/s over the machine's GEMM rate;
//   generate  the post's experiment (6-token prompt, 14 greedy tokens, one site, batch 1):
//             ms per token over the weight-streaming bound (weight bytes / memory bandwidth);
//   overhead  record with all those sites over record with none;
//   write     HDF5 recording MB/s over a raw sequential write of the same bytes (same dir);
//   rss       peak RSS of a run of many trials over one of 10x fewer (child processes).
// docs/PERFORMANCE.md describes the method and the numbers.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rig {

struct BenchOptions {
  std::filesystem::path dir;   // work directory; empty = a fresh one in the temp dir, removed after
  std::string device = "cpu";  // cpu | cuda | cuda:N
  bool quick = false;          // tiny model and sizes (the smoke test): seconds, not minutes
  int threads = 0;             // intra-op threads; 0 = every core
  bool keep = false;           // keep the work directory
  uint64_t seed = 1234;
  bool verbose = true;                      // progress lines on stderr
  std::string self_exe = "/proc/self/exe";  // rig-bench itself, re-run for the RSS children
  // --full-size: the compute (and stored) dtype, the prompt and generation lengths, shard size
  std::string dtype = "bfloat16";
  std::string compute_dtype;  // empty: dtype (the weights used in place); another: a converting load
  int64_t prompt_tokens = 8, new_tokens = 8;
  int64_t shard_mb = 1000;
};

// Runs every measurement; returns the JSON summary (docs/PERFORMANCE.md lists its fields).
nlohmann::json run_bench(const BenchOptions& options);

// The RSS child: `rig bench --rss-child N --dir D`: runs N small trials with the model in
// D/model (written by the parent) and returns {trials, wall_s, vm_hwm_kb}.
nlohmann::json rss_child(const BenchOptions& options, int64_t n_trials);

// rig bench --full-size --dir D: writes a Llama of 1.47 B parameters (random weights, stored
// in options.dtype, sharded, with model.safetensors.index.json) to D/model unless one is there,
// then loads it and generates (greedy, batch 1) in a child process: checkpoint bytes, peak RSS
// (VmHWM) and its ratio to them, load s, time to first token, tokens/s.
nlohmann::json run_full_size(const BenchOptions& options);
// The child: `rig bench --full-size-child --dir D`.
nlohmann::json full_size_child(const BenchOptions& options);

}  // namespace rig
