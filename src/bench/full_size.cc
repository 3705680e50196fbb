// rig bench --full-size: memory and latency with a model of full size (1.47 B parameters in
// bfloat16, sharded), measured in a child process so that its peak RSS is loading and
// generating only, not writing the model. bench/full_size.sh runs transformers on the same
// files and prints both (docs/PERFORMANCE.md).
#include <ATen/Parallel.h>
#include <torch/version.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <thread>

#include "bench/bench.h"
#include "bench/internal.h"
#include "core/error.h"
#include "model/generate.h"
#include "model/loader.h"

namespace rig {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;
using bench::now_s;

// A field of /proc/self/status in kB (VmHWM: peak RSS; VmRSS; RssAnon; RssFile), -1 if absent.
int64_t status_kb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
  return -1;
}

int64_t checkpoint_bytes(const fs::path& dir) {
  int64_t b = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") b += int64_t(e.file_size());
  return b;
}

}  // namespace

json run_full_size(const BenchOptions& o) {
  if (o.dir.empty()) throw ConfigError("--full-size: needs --dir (the model takes about 3 GB of disk)");
  const fs::path model_dir = o.dir / "model";
  const at::ScalarType dtype = parse_dtype(o.dtype);
  // A model from an earlier run is used again if it is this one in this dtype (seeded: the same weights).
  bool reuse = false;
  if (fs::exists(model_dir / "model.safetensors.index.json") && fs::exists(model_dir / "config.json")) {
    std::ifstream in(model_dir / "config.json");
    const json c = json::parse(in, nullptr, /*allow_exceptions=*/false);
    reuse = c.is_object() && c.value("torch_dtype", "") == o.dtype &&
            c.value("hidden_size", int64_t(0)) == bench::full_size_model_config(o.quick).hidden_size;
  }
  if (reuse) {
    if (o.verbose) std::fprintf(stderr, "rig bench: using the model already in %s\n", model_dir.c_str());
  } else {
    if (o.verbose) std::fprintf(stderr, "rig bench: writing the full-size model to %s\n", model_dir.c_str());
    fs::remove_all(model_dir);
    const double t0 = now_s();
    // --quick: 64 KiB shards, so that the tiny model is sharded too.
    bench::write_sharded_model(bench::full_size_model_config(o.quick), model_dir, o.seed, dtype,
                               o.quick ? int64_t(64) << 10 : o.shard_mb << 20);
    if (o.verbose) std::fprintf(stderr, "rig bench: written in %.1f s\n", now_s() - t0);
  }
  std::vector<std::string> args = {"rig-bench",       "--full-size-child",
                                   "--dir",           o.dir.string(),
                                   "--dtype",         o.dtype,
                                   "--compute-dtype", o.compute_dtype.empty() ? o.dtype : o.compute_dtype,
                                   "--seed",          std::to_string(o.seed),
                                   "--prompt-tokens", std::to_string(o.prompt_tokens),
                                   "--new-tokens",    std::to_string(o.new_tokens),
                                   "--threads",       std::to_string(o.threads)};
  if (o.verbose) std::fprintf(stderr, "rig bench: loading and generating in a child process\n");
  json j = bench::spawn_child(o.self_exe, args);
  j["machine"] = {
      {"cpu", bench::cpu_model()}, {"cores", std::thread::hardware_concurrency()}, {"libtorch", TORCH_VERSION}};
  return j;
}

json full_size_child(const BenchOptions& o) {
  // Every core unless told, as rig bench (ATen's default follows OMP_NUM_THREADS).
  at::set_num_threads(o.threads > 0 ? o.threads : int(std::max(1u, std::thread::hardware_concurrency())));
  const fs::path model_dir = o.dir / "model";
  json j;
  j["seed"] = o.seed;
  j["load_1m_start"] = bench::load_average_1m();
  j["threads"] = at::get_num_threads();
  j["checkpoint_bytes"] = checkpoint_bytes(model_dir);
  j["base_vm_hwm_kb"] = status_kb("VmHWM");  // the process before the model: LibTorch and rig
  ModelSource src;
  src.path = model_dir;
  src.dtype = o.compute_dtype.empty() ? o.dtype : o.compute_dtype;
  const double t0 = now_s();
  const LoadedModel lm = load_model(src);
  j["load_s"] = now_s() - t0;
  j["after_load"] = {{"vm_hwm_kb", status_kb("VmHWM")},
                     {"vm_rss_kb", status_kb("VmRSS")},
                     {"rss_anon_kb", status_kb("RssAnon")},
                     {"rss_file_kb", status_kb("RssFile")}};
  int64_t params = 0;
  lm.model->visit([&](Module& m) {
    for (const Parameter& p : m.parameters()) params += p.value.numel();
  });
  j["parameters"] = params;
  uint64_t state = o.seed;
  const std::vector<int64_t> ids = lm.tokenizer->encode(bench::random_letters(o.prompt_tokens, &state), false).ids;
  if (int64_t(ids.size()) != o.prompt_tokens)
    throw Error("rig bench: the prompt is not " + std::to_string(o.prompt_tokens) + " tokens");
  GenerateOptions go;
  go.max_new_tokens = o.new_tokens;
  go.final_step = false;       // as HF generate(): no forward call after the last token
  std::vector<double> t_step;  // when each forward call's logits are ready
  const double t1 = now_s();
  const auto res =
      generate(*lm.model, {ids}, go, {1}, nullptr, lm.device, [&](const StepInfo&) { t_step.push_back(now_s()); });
  const double t_end = now_s();
  const double ttft = t_step.at(0) - t1;
  j["prompt_ids"] = ids;
  j["new_ids"] = res.at(0).new_ids;
  j["ttft_s"] = ttft;
  j["generate_s"] = t_end - t1;
  // Tokens 2..n after the first: the decode rate, the KV cache's steady state.
  j["decode_tokens_per_s"] = double(o.new_tokens - 1) / (t_end - t_step.at(0));
  j["tokens_per_s"] = double(o.new_tokens) / (t_end - t1);
  j["end"] = {{"vm_hwm_kb", status_kb("VmHWM")},
              {"vm_rss_kb", status_kb("VmRSS")},
              {"rss_anon_kb", status_kb("RssAnon")},
              {"rss_file_kb", status_kb("RssFile")}};
  j["vm_hwm_kb"] = status_kb("VmHWM");
  j["ratio"] = double(j["vm_hwm_kb"].get<int64_t>()) * 1024 / double(j["checkpoint_bytes"].get<int64_t>());
  j["dtype"] = o.dtype;
  j["compute_dtype"] = src.dtype;
  j["prompt_tokens"] = o.prompt_tokens;
  j["new_tokens"] = o.new_tokens;
  j["load_1m_end"] = bench::load_average_1m();
  return j;
}

}  // namespace rig
