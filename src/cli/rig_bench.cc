// rig bench [--quick] [--device cuda] [--json FILE] (the program rig-bench): recording
// throughput as ratios to what this machine can do, measured in one run (src/bench/bench.h; docs/PERFORMANCE.md).
#include <cstdio>
#include <fstream>
#include <iostream>

#include "bench/bench.h"
#include "cli/program.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "model/loader.h"

namespace po = boost::program_options;

namespace rig::cli {
namespace {

const char* verdict(const nlohmann::json& section) { return section.at("met").get<bool>() ? "met" : "MISSED"; }

void print_summary(const nlohmann::json& j) {
  const auto& m = j.at("machine");
  std::printf("machine   %s, %d cores, %d threads, device %s, load %.2f -> %.2f\n",
              m.at("cpu").get<std::string>().c_str(), m.at("cores").get<int>(), m.at("threads").get<int>(),
              m.at("device").get<std::string>().c_str(), m.at("load_1m_start").get<double>(),
              m.at("load_1m_end").get<double>());
  std::printf("limits    GEMM %.1f GFLOP/s (float32 matmul), memory %.1f GB/s\n",
              j.at("gemm").at("gflops").get<double>(), j.at("memory_bandwidth").at("gbs").get<double>());
  const auto& r = j.at("record");
  std::printf(
      "(1) record  %.0f tokens/s, %.1f GFLOP/s = %.2f of GEMM (target >= 0.70: %s); %.2f of the model's GEMM shapes\n",
      r.at("tokens_per_s").get<double>(), r.at("gflops").get<double>(), r.at("fraction_of_gemm").get<double>(),
      verdict(r), r.at("fraction_of_model_shape_gemm").get<double>());
  const auto& g = j.at("generate");
  std::printf("(2) generate  %.2f ms/token, bound %.2f ms/token: %.2fx (target <= 1.30: %s); model alone %.2fx\n",
              g.at("ms_per_token").get<double>(), g.at("bound_ms_per_token").get<double>(),
              g.at("ratio_to_bound").get<double>(), verdict(g), g.at("model_only_ratio_to_bound").get<double>());
  const auto& o = j.at("overhead");
  std::printf("(3) overhead  all sites / none: %.3fx (target <= 1.10: %s)\n", o.at("ratio").get<double>(), verdict(o));
  const auto& w = j.at("write");
  std::printf("(4) write  HDF5 %.0f MB/s, raw %.0f MB/s: %.2f (target >= 0.70: %s; fsync %s)\n",
              w.at("hdf5_mb_s").get<double>(), w.at("raw_mb_s").get<double>(), w.at("fraction_of_raw").get<double>(),
              verdict(w), w.at("fsync").get<std::string>().c_str());
  const auto& wn = j.at("write_no_fsync");
  std::printf("    without fsync: HDF5 %.0f MB/s, raw %.0f MB/s: %.2f\n", wn.at("hdf5_mb_s").get<double>(),
              wn.at("raw_mb_s").get<double>(), wn.at("fraction_of_raw").get<double>());
  const auto& s = j.at("rss");
  std::printf("(5) peak RSS  %lld trials %.1f MiB, %lld trials %.1f MiB: %.3fx (target <= 1.10: %s)\n",
              (long long)s.at("small").at("trials").get<int64_t>(), s.at("small").at("vm_hwm_kb").get<double>() / 1024,
              (long long)s.at("large").at("trials").get<int64_t>(), s.at("large").at("vm_hwm_kb").get<double>() / 1024,
              s.at("ratio").get<double>(), verdict(s));
}

}  // namespace

int cmd_bench(const Args& args) {
  BenchOptions o;
  std::string dir, json_path;
  int64_t rss_child_trials = 0;
  bool full_size = false, full_size_child_mode = false;
  po::options_description desc(
      "usage: rig bench [options]\n\nMeasures recording throughput against this machine's GEMM rate, memory\n"
      "bandwidth and disk, with a pythia-70m-shaped model of random weights (docs/PERFORMANCE.md).\n\noptions");
  desc.add_options()("help,h", "show this help")(
      "quick", po::bool_switch(&o.quick),
      "tiny model and sizes (a smoke test, seconds); with --full-size: a tiny Llama")(
      "device", po::value(&o.device)->default_value("cpu"), "cpu | cuda | cuda:N")(
      "threads", po::value(&o.threads)->default_value(0), "intra-op threads (0 = every core)")(
      "dir", po::value(&dir), "work directory (default: a temporary one, removed after)")(
      "keep", po::bool_switch(&o.keep), "keep the temporary work directory")("json", po::value(&json_path),
                                                                             "write the summary as JSON to this file")(
      "seed", po::value(&o.seed)->default_value(1234), "seed of the weights and prompts")(
      "rss-child", po::value(&rss_child_trials), "internal: one peak-RSS measurement of N trials (needs --dir)")(
      "full-size", po::bool_switch(&full_size),
      "instead: memory and latency of a 1.47 B-parameter Llama (random weights, sharded, ~3 GB in --dir/model; "
      "kept there, and used again if present)")("dtype", po::value(&o.dtype)->default_value("bfloat16"),
                                                "--full-size: stored (and compute) dtype")(
      "compute-dtype", po::value(&o.compute_dtype),
      "--full-size: compute dtype, if other than --dtype (a converting load)")(
      "prompt-tokens", po::value(&o.prompt_tokens)->default_value(8), "--full-size: prompt length")(
      "new-tokens", po::value(&o.new_tokens)->default_value(8), "--full-size: greedy tokens to generate")(
      "shard-mb", po::value(&o.shard_mb)->default_value(1000), "--full-size: largest shard written, MiB")(
      "full-size-child", po::bool_switch(&full_size_child_mode), "internal: the --full-size measurement (needs --dir)");
  const auto vm = parse(args, desc, {});
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  o.dir = dir;
  if (o.threads < 0) throw ConfigError("--threads: expected an integer >= 0, got " + std::to_string(o.threads));
  if (vm.count("rss-child")) {
    if (dir.empty()) throw ConfigError("--rss-child: needs --dir (the parent's work directory)");
    std::cout << rss_child(o, rss_child_trials).dump() << std::endl;
    return 0;
  }
  if (full_size || full_size_child_mode) {
    parse_dtype(o.dtype);  // a ConfigError before anything is written
    if (!o.compute_dtype.empty()) parse_dtype(o.compute_dtype);
    if (o.prompt_tokens < 1 || o.new_tokens < 2 || o.shard_mb < 1)
      throw ConfigError("--full-size: expected --prompt-tokens >= 1, --new-tokens >= 2, --shard-mb >= 1");
    if (full_size_child_mode) {
      if (dir.empty()) throw ConfigError("--full-size-child: needs --dir");
      std::cout << full_size_child(o).dump() << std::endl;
      return 0;
    }
    const nlohmann::json j = run_full_size(o);
    if (!json_path.empty()) {
      std::ofstream out(json_path, std::ios::trunc);
      out << j.dump(2) << "\n";
      if (!out) throw Error(json_path + ": cannot write the JSON summary");
    }
    std::printf(
        "full size  %.2f B parameters, stored %s, computed in %s, checkpoint %.2f GB; LibTorch %s, %d threads, "
        "load %.2f -> %.2f\n",
        j.at("parameters").get<double>() / 1e9, o.dtype.c_str(), j.at("compute_dtype").get<std::string>().c_str(),
        j.at("checkpoint_bytes").get<double>() / 1e9, j.at("machine").at("libtorch").get<std::string>().c_str(),
        j.at("threads").get<int>(), j.at("load_1m_start").get<double>(), j.at("load_1m_end").get<double>());
    std::printf("peak RSS   %.2f GB = %.3fx the checkpoint (before loading %.2f GB)\n",
                j.at("vm_hwm_kb").get<double>() * 1024 / 1e9, j.at("ratio").get<double>(),
                j.at("base_vm_hwm_kb").get<double>() * 1024 / 1e9);
    std::printf("times      load %.2f s, first token %.2f s, %.2f tokens/s after it (%lld + %lld tokens)\n",
                j.at("load_s").get<double>(), j.at("ttft_s").get<double>(), j.at("decode_tokens_per_s").get<double>(),
                (long long)o.prompt_tokens, (long long)o.new_tokens);
    return 0;
  }
  const nlohmann::json j = run_bench(o);
  if (!json_path.empty()) {
    std::ofstream out(json_path, std::ios::trunc);
    out << j.dump(2) << "\n";
    if (!out) throw Error(json_path + ": cannot write the JSON summary");
  }
  print_summary(j);
  return 0;
}

}  // namespace rig::cli

// rig-bench: its own program beside the library (`rig bench` runs it).
int main(int argc, char** argv) { return rig::cli::run_command("bench", rig::cli::cmd_bench, argc - 1, argv + 1); }
