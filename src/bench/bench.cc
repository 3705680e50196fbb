#include "bench/bench.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ATen/Parallel.h>
#include <torch/version.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <thread>

#include "bench/internal.h"
#include "core/error.h"
#include "experiment/config.h"
#include "model/generate.h"
#include "model/loader.h"
#include "recording/writer.h"
#include "recording/writer_process.h"
#include "rig/version.h"
#include "runner/runner.h"

#include <yaml-cpp/yaml.h>

namespace rig {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;
using bench::now_s;

// The workload sizes: the (pythia-70m shape) or --quick's (a smoke test's).
struct Sizes {
  int64_t rec_prompts, rec_tokens, rec_batch;                      // (1) prompt-only recording
  int64_t gen_prompt_tokens = 6, gen_new_tokens = 14, gen_trials;  // (2) the post's experiment
  std::vector<int64_t> gemm_sizes;
  int gemm_reps;
  int64_t bw_bytes;
  int bw_reps;
  int64_t rss_small, rss_large, rss_prompt_tokens, rss_batch;  // (5)
  int reps;  // timed repetitions of each run (the best counts: the machine is shared)
};

Sizes sizes_for(bool quick) {
  Sizes s;
  if (quick) {
    s.rec_prompts = 32, s.rec_tokens = 8, s.rec_batch = 8;
    s.gen_trials = 2;
    s.gemm_sizes = {128, 256}, s.gemm_reps = 2;
    s.bw_bytes = 16 << 20, s.bw_reps = 2;
    s.rss_small = 20, s.rss_large = 200, s.rss_prompt_tokens = 4, s.rss_batch = 20;
    s.reps = 1;
  } else {
    s.rec_prompts = 256, s.rec_tokens = 32, s.rec_batch = 16;
    s.gen_trials = 32;  // enough that creating and closing the file (~0.1 s with its fsyncs) is not the measure
    s.gemm_sizes = {1024, 1536, 2048}, s.gemm_reps = 3;
    s.bw_bytes = int64_t(256) << 20, s.bw_reps = 5;
    s.rss_small = 1000, s.rss_large = 10000, s.rss_prompt_tokens = 4, s.rss_batch = 50;
    s.reps = 3;
  }
  return s;
}

void log(const BenchOptions& o, const std::string& what) {
  if (!o.verbose) return;
  std::fprintf(stderr, "rig bench: %s (load %.2f)\n", what.c_str(), bench::load_average_1m());
  std::fflush(stderr);
}

// Prompts of n letters (n tokens with the bench tokenizer).
std::vector<std::string> prompts(int64_t count, int64_t n, uint64_t seed) {
  uint64_t state = seed;
  std::vector<std::string> out;
  for (int64_t i = 0; i < count; ++i) out.push_back(bench::random_letters(n, &state));
  return out;
}

// An experiment config (docs/CONFIG.md) for the bench model in dir/model, as the YAML a user
// writes. Built as a node: yaml-cpp's emitter quotes what a --dir path may hold (quotes,
// colons, backslashes), which text pasted between quotes did not.
std::string experiment_yaml(const std::string& name, const fs::path& dir, const std::string& device,
                            const std::vector<std::string>& stimuli, int64_t repetitions, int64_t batch,
                            int64_t max_new_tokens, const std::vector<std::string>& sites) {
  YAML::Node y;
  y["name"] = name;
  y["seed"] = 1;
  y["model"]["path"] = (dir / "model").string();
  y["model"]["dtype"] = "float32";
  y["model"]["device"] = device;
  YAML::Node set;
  set["condition"] = "bench";
  set["prompts"] = stimuli;
  y["stimuli"].push_back(set);
  for (const auto& s : sites) {
    YAML::Node e;
    e["site"] = s;
    y["electrodes"].push_back(e);
  }
  y["trials"]["repetitions"] = repetitions;
  y["trials"]["batch_size"] = batch;
  y["trials"]["generate"]["max_new_tokens"] = max_new_tokens;
  y["trials"]["generate"]["greedy"] = true;
  y["recording"]["path"] = (dir / (name + ".h5")).string();
  y["recording"]["dtype"] = "float32";
  y["recording"]["compression"] = "none";
  return YAML::Dump(y);
}

// An experiment ready to run: its model and its plan.
struct Planned {
  LoadedModel model;
  RunPlan plan;
};

std::unique_ptr<Planned> make_planned(const std::string& yaml, const fs::path& dir, const std::string& name,
                                      int64_t tokens_per_prompt) {
  RunOptions ro;
  ro.quiet = true;
  ro.force = true;
  ExperimentConfig config = parse_experiment(yaml, (dir / (name + ".yaml")).string());
  auto r = std::make_unique<Planned>();
  r->model = load_experiment_model(config, ro);
  r->plan = plan(std::move(config), r->model, ro);
  for (const auto& ids : r->plan.prompt_ids)
    if (int64_t(ids.size()) != tokens_per_prompt)
      throw Error("rig bench: a prompt of " + std::to_string(tokens_per_prompt) + " letters gave " +
                  std::to_string(ids.size()) + " tokens with the bench tokenizer");
  return r;
}

// Best wall time of `reps` complete runs (model loaded; output file written, fsynced, closed).
double best_run(const Planned& r, int reps) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    // The previous run's file goes before the clock starts: replacing it (--force) would
    // otherwise free its pages inside the timed run (~70 ms for workload (1)'s 503 MB), a cost
    // of the bench's repetitions, not of recording.
    fs::remove(r.plan.path);
    const double t0 = now_s();
    run_to_file(r.plan, r.model);
    best = std::min(best, now_s() - t0);
  }
  return best;
}

// Peak RSS of this process so far, from /proc/self/status.
int64_t vm_hwm_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  return -1;
}

// Runs `rig-bench --rss-child N` as a child process, so its peak RSS is its own.
json spawn_rss_child(const BenchOptions& o, const fs::path& dir, int64_t n) {
  std::vector<std::string> args = {"rig-bench", "--rss-child",         std::to_string(n),
                                   "--dir",     dir.string(),          "--device",
                                   o.device,    "--threads",           std::to_string(at::get_num_threads()),
                                   "--seed",    std::to_string(o.seed)};
  if (o.quick) args.push_back("--quick");
  return bench::spawn_child(o.self_exe, args);
}

double payload_bytes(const std::vector<TrialResult>& batch) {
  double b = 0;
  for (const auto& t : batch)
    for (const auto& r : t.recordings) b += double(r.size()) * sizeof(float);
  return b;
}

// (4): the recording's bytes through RecordingWriter (per-batch flush + fsync, as rig run
// does) against a raw write() of the same bytes with an fsync after each batch.
json measure_write(const Planned& r, const Sizes& s, const fs::path& dir, int reps, bool fsync) {
  const auto& trials = r.plan.trials;
  const std::vector<TrialSpec> first(trials.begin(), trials.begin() + s.rec_batch);
  const std::vector<TrialResult> batch = run_batch(r.plan, r.model, first);
  const int64_t n_batches = s.rec_prompts / s.rec_batch;
  const double bytes = payload_bytes(batch) * double(n_batches);
  const fs::path h5 = dir / "write_hdf5.h5", raw = dir / "write_raw.bin";
  double t_h5 = 1e30, t_raw = 1e30;
  int64_t file_bytes = 0;
  for (int rep = 0; rep < reps; ++rep) {
    // Both write the same bytes from the same memory: n_batches distinct copies of the batch
    // (503 MB for (1), far beyond the caches), not one batch's buffers again and again (31 MB,
    // which the raw write would read from cache).
    std::vector<std::vector<TrialResult>> copies(size_t(n_batches), batch);
    for (int64_t k = 0; k < n_batches; ++k)
      for (size_t i = 0; i < batch.size(); ++i) copies[size_t(k)][i].index = k * s.rec_batch + int64_t(i);

    double t0 = now_s();
    const int fd = ::open(raw.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) throw Error(raw.string() + ": cannot open for writing");
    for (const auto& c : copies) {
      for (const auto& t : c)
        for (const auto& rec : t.recordings) {
          const char* p = reinterpret_cast<const char*>(rec.data());
          size_t left = rec.size() * sizeof(float);
          while (left > 0) {
            const ssize_t w2 = ::write(fd, p, left);
            if (w2 <= 0) throw Error(raw.string() + ": write failed");
            p += w2;
            left -= size_t(w2);
          }
        }
      if (fsync) ::fsync(fd);
    }
    ::close(fd);
    t_raw = std::min(t_raw, now_s() - t0);
    fs::remove(raw);  // its dirty pages would otherwise be written back during the next run

    t0 = now_s();
    WriterOptions wo;
    wo.fsync = fsync;
    auto w = RecordingWriter::create(h5, header(r.plan, r.model), /*force=*/true, wo);
    for (auto& c : copies) w->append(std::move(c));
    w->close();
    t_h5 = std::min(t_h5, now_s() - t0);
    file_bytes = int64_t(fs::file_size(h5));
    fs::remove(h5);
  }
  json j;
  j["bytes"] = bytes;
  j["hdf5_file_bytes"] = file_bytes;
  j["hdf5_s"] = t_h5;
  j["raw_s"] = t_raw;
  j["hdf5_mb_s"] = bytes / t_h5 / 1e6;
  j["raw_mb_s"] = bytes / t_raw / 1e6;
  j["fraction_of_raw"] = t_raw / t_h5;
  j["fsync"] = fsync ? "both: after every batch of " + std::to_string(s.rec_batch) +
                           " trials (the writer twice: data, then its commit marker)"
                     : "neither";
  j["target"] = 0.70;
  j["met"] = t_raw / t_h5 >= 0.70;
  return j;
}

// Bytes one forward call must read from memory at batch 1: every parameter but the input
// embedding (a lookup touches one row of it).
double streamed_weight_bytes(CausalLM& m) {
  double b = 0;
  m.visit([&](Module& mod) {
    for (const Parameter& p : mod.parameters()) {
      const std::string key = mod.path().empty() ? p.name : mod.path() + "." + p.name;
      if (key == "gpt_neox.embed_in.weight" || !p.value.defined()) continue;
      b += double(p.value.numel()) * double(p.value.element_size());
    }
  });
  return b;
}

}  // namespace

namespace bench {

json spawn_child(const std::string& exe, std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fd[2];
  if (pipe(fd) != 0) throw Error("rig bench: pipe failed");
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw Error("rig bench: fork failed");
  if (pid == 0) {
    dup2(fd[1], STDOUT_FILENO);
    close(fd[0]);
    close(fd[1]);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  close(fd[1]);
  std::string out;
  char buf[4096];
  for (ssize_t k; (k = read(fd[0], buf, sizeof buf)) > 0;) out.append(buf, size_t(k));
  close(fd[0]);
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error("rig bench: the child `" + args.at(0) + " " + args.at(1) + "` failed (status " +
                std::to_string(status) + "): " + out);
  // Not ru.ru_maxrss: Linux counts the forked copy of this (big) process before the exec.
  return json::parse(out);
}

}  // namespace bench

json run_bench(const BenchOptions& o) {
  const Sizes s = sizes_for(o.quick);
  const int threads = o.threads > 0 ? o.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  const at::Device device = parse_device(o.device);
  const bool own_dir = o.dir.empty();
  const fs::path dir = own_dir ? fs::temp_directory_path() / ("rig-bench-" + std::to_string(getpid())) : o.dir;
  fs::create_directories(dir);
  json out;
  out["machine"] = {{"cpu", bench::cpu_model()},
                    {"cores", std::thread::hardware_concurrency()},
                    {"threads", threads},
                    {"device", device.str()},
                    {"load_1m_start", bench::load_average_1m()},
                    {"rig_version", std::string(kVersion) + " (" + kGitCommit + ")"},
                    {"libtorch", TORCH_VERSION},
                    {"quick", o.quick},
                    {"dir", dir.string()}};
  for (const char* v : {"OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OPENBLAS_NUM_THREADS"}) {
    const char* val = std::getenv(v);
    out["machine"]["env"][v] = val ? val : "";
  }
  if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("GOMP_SPINCOUNT") && threads > 1 &&
      bench::load_average_1m() > double(std::thread::hardware_concurrency()) / 2)
    log(o,
        "warning: a busy machine and OpenMP's default spin-waiting: ATen's threads spin while others' "
        "processes wait for the cores; OMP_WAIT_POLICY=PASSIVE avoids it (docs/PERFORMANCE.md)");

  const ModelConfig mc = bench::bench_model_config(o.quick);
  log(o, "writing the model to " + (dir / "model").string());
  bench::write_bench_model(mc, dir / "model", o.seed);

  // The machine's limits, measured before and after the workloads; the best counts.
  log(o, "GEMM and memory bandwidth");
  bench::GemmResult gemm = bench::measure_gemm(s.gemm_sizes, s.gemm_reps, device);
  bench::BandwidthResult bw = bench::measure_bandwidth(s.bw_bytes, s.bw_reps, device);

  // (1) and (3): prompt-only recording with every layer output and MLP neuron, and with none.
  const std::vector<std::string> all_sites = {"gpt_neox.layers.*", "gpt_neox.layers.*.mlp.act"};
  const std::vector<std::string> rec_prompts = prompts(s.rec_prompts, s.rec_tokens, o.seed);
  auto rec = make_planned(experiment_yaml("bench_record", dir, o.device, rec_prompts, 1, s.rec_batch, 0, all_sites),
                          dir, "bench_record", s.rec_tokens);
  auto rec_none = make_planned(experiment_yaml("bench_record_none", dir, o.device, rec_prompts, 1, s.rec_batch, 0, {}),
                               dir, "bench_record_none", s.rec_tokens);
  log(o, "recording " + std::to_string(s.rec_prompts) + " prompts x " + std::to_string(s.rec_tokens) + " tokens");
  run_to_file(rec->plan, rec->model);  // warm-up: allocator, thread pool, page cache
  double t_rec = 1e30, t_none = 1e30;
  for (int i = 0; i < s.reps; ++i) {  // interleaved, so that both see the same machine load
    t_rec = std::min(t_rec, best_run(*rec, 1));
    t_none = std::min(t_none, best_run(*rec_none, 1));
  }
  const int64_t width = [&] {
    int64_t w = 0;
    for (const auto& e : rec->plan.electrodes) w += e.width();
    return w;
  }();
  const double D = double(mc.hidden_size), F = double(mc.intermediate_size), L = double(mc.num_layers),
               V = double(mc.vocab_size), T = double(s.rec_tokens);
  // Multiply-adds a prompt-only forward needs per token: the layers' GEMMs, causal attention
  // (query t attends to t + 1 keys: QK^T and PV), and the head at the last position only.
  const double flops_per_token = L * 2 * (4 * D * D + 2 * D * F) + L * 2 * D * (T + 1) + 2 * D * V / T;
  const double tokens = double(s.rec_prompts * s.rec_tokens);
  const double tps = tokens / t_rec;
  json record;
  record["prompts"] = s.rec_prompts;
  record["tokens_per_prompt"] = s.rec_tokens;
  record["batch_size"] = s.rec_batch;
  record["sites"] = all_sites;
  record["electrodes"] = rec->plan.electrodes.size();
  record["values_per_token"] = width;
  record["recorded_bytes"] = tokens * double(width) * 4;
  record["wall_s"] = t_rec;
  record["tokens_per_s"] = tps;
  record["flops_per_token"] = flops_per_token;
  record["gflops"] = tps * flops_per_token / 1e9;
  out["record"] = record;
  out["record_none"] = {{"wall_s", t_none}, {"tokens_per_s", tokens / t_none}};
  out["overhead"] = {{"ratio", t_rec / t_none}, {"target", 1.10}, {"met", t_rec / t_none <= 1.10}};

  // The model's own GEMM shapes at this batch (M = batch x tokens), for the profile.
  const int64_t M = s.rec_batch * s.rec_tokens;
  json shapes;
  const double r_qkv = bench::measure_linear(M, mc.hidden_size, 3 * mc.hidden_size, s.gemm_reps, device);
  const double r_h4h = bench::measure_linear(M, mc.hidden_size, mc.intermediate_size, s.gemm_reps, device);
  const double r_4hh = bench::measure_linear(M, mc.intermediate_size, mc.hidden_size, s.gemm_reps, device);
  const std::string m = std::to_string(M), d = std::to_string(mc.hidden_size), f = std::to_string(mc.intermediate_size);
  shapes["query_key_value " + m + "x" + d + "x" + std::to_string(3 * mc.hidden_size)] = r_qkv;
  shapes["dense_h_to_4h " + m + "x" + d + "x" + f] = r_h4h;
  shapes["dense_4h_to_h " + m + "x" + f + "x" + d] = r_4hh;
  // FLOP-weighted over the layer: query_key_value (and dense, same K) 4 D^2, each MLP GEMM D F.
  const double shape_rate = (4 * D * D + 2 * D * F) / (4 * D * D / r_qkv + D * F / r_h4h + D * F / r_4hh);

  // (4): HDF5 writing against a raw write of the same bytes.
  log(o, "HDF5 write vs raw write");
  out["write"] = measure_write(*rec, s, dir, std::max(1, s.reps), /*fsync=*/true);
  // Without fsync (page cache only): separates HDF5's own work from the disk's.
  out["write_no_fsync"] = measure_write(*rec, s, dir, std::max(1, s.reps), /*fsync=*/false);
  out["write_no_fsync"].erase("target");
  out["write_no_fsync"].erase("met");
  rec.reset();
  rec_none.reset();

  // (2): the post's experiment: batch 1, one site, greedy generation.
  log(o, "generation: " + std::to_string(s.gen_trials) + " trials of " + std::to_string(s.gen_prompt_tokens) + " + " +
             std::to_string(s.gen_new_tokens) + " tokens");
  const std::string site = "gpt_neox.layers." + std::to_string(mc.num_layers - 1) + ".mlp.dense_4h_to_h";
  auto gen = make_planned(
      experiment_yaml("bench_generate", dir, o.device, prompts(s.gen_trials, s.gen_prompt_tokens, o.seed + 1), 1, 1,
                      s.gen_new_tokens, {site}),
      dir, "bench_generate", s.gen_prompt_tokens);
  run_to_file(gen->plan, gen->model);  // warm-up
  const double t_gen = best_run(*gen, s.reps);
  // The same runs with the writer's fsyncs off: at batch 1 every trial is a batch, committed
  // with two fsyncs (the profile's question: how much of (2) is the disk?).
  double t_gen_nofsync = 1e30;
  for (int i = 0; i < s.reps; ++i) {
    WriterOptions wo;
    wo.fsync = false;
    auto w = RecordingWriter::create(gen->plan.path, header(gen->plan, gen->model), /*force=*/true, wo);
    const double t0 = now_s();
    run(gen->plan, gen->model, *w);
    t_gen_nofsync = std::min(t_gen_nofsync, now_s() - t0);
  }
  // The same generation without the runner, the recorder or the writer: the model alone,
  // with HF generate()'s forward calls (no extra step for the last token's row).
  double t_model = 1e30;
  {
    GenerateOptions go;
    go.max_new_tokens = s.gen_new_tokens;
    go.final_step = false;
    go.eos_id = 0;
    for (int i = 0; i < s.reps; ++i) {
      const double t0 = now_s();
      for (const auto& ids : gen->plan.prompt_ids) generate(*gen->model.model, {ids}, go, {1}, nullptr, device);
      t_model = std::min(t_model, now_s() - t0);
    }
  }
  const double weight_bytes = streamed_weight_bytes(*gen->model.model);
  gen.reset();

  // The limits again, after the workloads.
  bench::GemmResult gemm2 = bench::measure_gemm(s.gemm_sizes, s.gemm_reps, device);
  bench::BandwidthResult bw2 = bench::measure_bandwidth(s.bw_bytes, s.bw_reps, device);
  if (gemm2.gflops > gemm.gflops) gemm = gemm2;
  if (bw2.best_gbs() > bw.best_gbs()) bw = bw2;
  out["gemm"] = {{"gflops", gemm.gflops}, {"by_size", gemm.by_size}, {"model_shapes_gflops", shapes}};
  out["gemm"]["model_shapes_weighted_gflops"] = shape_rate;
  out["record"]["fraction_of_model_shape_gemm"] = out["record"]["gflops"].get<double>() / shape_rate;
  out["memory_bandwidth"] = {
      {"read_gbs", bw.read_gbs}, {"copy_gbs", bw.copy_gbs}, {"triad_gbs", bw.triad_gbs}, {"gbs", bw.best_gbs()}};
  out["record"]["fraction_of_gemm"] = out["record"]["gflops"].get<double>() / gemm.gflops;
  out["record"]["target"] = 0.70;
  out["record"]["met"] = out["record"]["fraction_of_gemm"].get<double>() >= 0.70;

  const double n_gen = double(s.gen_trials * s.gen_new_tokens);
  const double ms_per_token = t_gen / n_gen * 1e3;
  const double bound_ms = weight_bytes / (bw.best_gbs() * 1e9) * 1e3;
  out["generate"] = {{"prompt_tokens", s.gen_prompt_tokens},
                     {"new_tokens", s.gen_new_tokens},
                     {"trials", s.gen_trials},
                     {"site", site},
                     {"forward_calls_per_trial", s.gen_new_tokens + 1},
                     {"wall_s", t_gen},
                     {"ms_per_token", ms_per_token},
                     {"model_only_ms_per_token", t_model / n_gen * 1e3},
                     {"no_fsync_ms_per_token", t_gen_nofsync / n_gen * 1e3},
                     {"weight_bytes", weight_bytes},
                     {"bound_ms_per_token", bound_ms},
                     {"ratio_to_bound", ms_per_token / bound_ms},
                     {"model_only_ratio_to_bound", t_model / n_gen * 1e3 / bound_ms},
                     {"target", 1.30},
                     {"met", ms_per_token / bound_ms <= 1.30}};

  // (5): peak RSS of many trials against 10x fewer, each in its own process.
  log(o, "peak RSS: " + std::to_string(s.rss_small) + " and " + std::to_string(s.rss_large) + " trials");
  bench::write_bench_model(bench::bench_model_config(true), dir / "rss" / "model", o.seed);
  const json small = spawn_rss_child(o, dir, s.rss_small), large = spawn_rss_child(o, dir, s.rss_large);
  const double rss_ratio = large["vm_hwm_kb"].get<double>() / small["vm_hwm_kb"].get<double>();
  out["rss"] = {{"model", "tiny (the --quick shape)"},
                {"small", small},
                {"large", large},
                {"ratio", rss_ratio},
                {"delta_kb", large["vm_hwm_kb"].get<int64_t>() - small["vm_hwm_kb"].get<int64_t>()},
                {"target", 1.10},
                {"met", rss_ratio <= 1.10}};
  out["machine"]["load_1m_end"] = bench::load_average_1m();
  out["seed"] = o.seed;
  out["model"] = {{"model_type", mc.model_type},
                  {"vocab_size", mc.vocab_size},
                  {"hidden_size", mc.hidden_size},
                  {"num_layers", mc.num_layers},
                  {"num_heads", mc.num_heads},
                  {"intermediate_size", mc.intermediate_size},
                  {"rotary_pct", mc.partial_rotary_factor},
                  {"max_position_embeddings", mc.max_positions}};
  // The big recordings go; bench_generate.h5 (small) stays with --dir: its stimuli table
  // shows the prompts, which bench/hf_hooks_baseline.py reproduces.
  for (const char* f : {"bench_record.h5", "bench_record_none.h5"}) fs::remove(dir / f);
  if (own_dir && !o.keep) fs::remove_all(dir);
  return out;
}

json rss_child(const BenchOptions& o, int64_t n) {
  const Sizes s = sizes_for(o.quick);
  if (o.threads > 0) at::set_num_threads(o.threads);
  const int64_t n_stimuli = 10;
  if (n < n_stimuli || n % n_stimuli) throw ConfigError("--rss-child: expected a multiple of 10 trials");
  // The tiny model: its small footprint makes per-trial growth stand out, and 10,000 trials
  // take seconds.
  const ModelConfig mc = bench::bench_model_config(/*quick=*/true);
  const std::string name = "bench_rss_" + std::to_string(n);
  const fs::path model_dir = o.dir / "rss";  // holds model/ (the tiny model)
  const double t0 = now_s();
  auto r = make_planned(
      experiment_yaml(name, model_dir, o.device, prompts(n_stimuli, s.rss_prompt_tokens, o.seed + 2), n / n_stimuli,
                      s.rss_batch, 0, {"gpt_neox.layers." + std::to_string(mc.num_layers - 1)}),
      model_dir, name, s.rss_prompt_tokens);
  run_to_file(r->plan, r->model);
  const double wall = now_s() - t0;
  fs::remove(model_dir / (name + ".h5"));
  // rig's own peak plus what its writer process used beyond the pages it shares with rig.
  const int64_t writer_kb = WriterProcess::peak_private_rss_kb();
  return {{"trials", n},
          {"wall_s", wall},
          {"vm_hwm_kb", vm_hwm_kb() + writer_kb},
          {"rig_vm_hwm_kb", vm_hwm_kb()},
          {"writer_private_kb", writer_kb}};
}

}  // namespace rig
