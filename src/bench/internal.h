#pragma once
// Pieces of rig bench: the synthetic model on disk and the machine's own limits.
#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/config.h"

namespace rig::bench {

// A GPT-NeoX config: pythia-70m's shape, or a tiny one for --quick.
ModelConfig bench_model_config(bool quick);

// Writes dir/{config.json, model.safetensors, tokenizer.json}: seeded random weights (normal,
// std 0.02; LayerNorm weight 1, bias 0) and a byte-level BPE tokenizer without merges
// (id 0 <|endoftext|>, ids 1..256 the bytes, the rest placeholders up to the model's vocab),
// so an ASCII prompt of n letters is exactly n tokens.
void write_bench_model(const ModelConfig& config, const std::filesystem::path& dir, uint64_t seed);

// A Llama of 1.47 B parameters (TinyLlama's widths, 22 layers, an 8192-wide MLP, untied head),
// for the memory measurement at full size (rig bench --full-size); quick: a tiny one.
ModelConfig full_size_model_config(bool quick);

// Writes dir/{config.json, model-0000K-of-0000N.safetensors, model.safetensors.index.json,
// tokenizer.json} as save_pretrained(max_shard_size=shard_bytes) does: seeded random weights
// (normal, std 0.02; norm weights 1) in store_dtype, made a shard at a time, so writing needs
// memory for one shard, not the model. Returns the checkpoint's tensor bytes.
int64_t write_sharded_model(const ModelConfig& config, const std::filesystem::path& dir, uint64_t seed,
                            at::ScalarType store_dtype, int64_t shard_bytes);

// n random lowercase letters: n tokens with the bench tokenizer.
std::string random_letters(int64_t n, uint64_t* state);

// Runs exe with args (args[0] is its name) as a child process and returns the JSON it
// prints on stdout; its peak RSS is its own. Throws Error when it fails.
nlohmann::json spawn_child(const std::string& exe, std::vector<std::string> args);

// Waits for the device's queued work (CUDA); nothing on the CPU.
void sync(const at::Device& device);

// Seconds of wall time.
double now_s();

struct GemmResult {
  double gflops = 0;                      // best square float32 matmul rate
  std::map<std::string, double> by_size;  // "1024" -> GFLOP/s (best of reps)
};
// at::matmul of n x n float32 on device, best of `reps` per size.
GemmResult measure_gemm(const std::vector<int64_t>& sizes, int reps, const at::Device& device);
// GFLOP/s of at::linear for one [m, k] x [n, k]^T shape (the model's own GEMMs).
double measure_linear(int64_t m, int64_t k, int64_t n, int reps, const at::Device& device);

struct BandwidthResult {
  double read_gbs = 0;   // x.sum(): bytes read / s
  double copy_gbs = 0;   // y.copy_(x): (read + written) / s
  double triad_gbs = 0;  // z = x + 2 y: (2 read + 1 written) / s
  double best_gbs() const;
};
// Memory bandwidth on device with float32 arrays of `bytes` each, best of reps.
BandwidthResult measure_bandwidth(int64_t bytes, int reps, const at::Device& device);

// Machine description: CPU model name, logical cores, 1-minute load average.
std::string cpu_model();
double load_average_1m();

}  // namespace rig::bench
