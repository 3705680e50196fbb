// rig analyze RECORDING.h5 [-c ANALYSIS.yaml] [-o RESULTS.h5]: PSTHs, selectivity, PCA and
// decoding of a recording (docs/ANALYSIS.md), streamed from the file in chunks.
#include <chrono>
#include <cstdio>
#include <iostream>

#include "analysis/analysis_config.h"
#include "analysis/analyze.h"
#include "analysis/results.h"
#include "cli/commands.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "recording/reader.h"

namespace po = boost::program_options;

namespace rig::cli {

int cmd_analyze(const Args& args) {
  std::string recording, config, out, csv;
  po::options_description desc(
      "usage: rig analyze RECORDING.h5 [-c ANALYSIS.yaml] [-o RESULTS.h5]\n\n"
      "Without -c, the `analysis:` section of the experiment config stored in the recording is\n"
      "used (defaults where it has none). docs/ANALYSIS.md lists the keys and the results layout.\n\n"
      "options");
  desc.add_options()("help,h", "show this help")("recording", po::value(&recording)->required(),
                                                 "the recording (HDF5)")(
      "config,c", po::value(&config), "analysis config (YAML: an `analysis:` mapping, or the mapping itself)")(
      "out,o", po::value(&out), "results file (default: RECORDING with .analysis.h5)")(
      "csv", po::value(&csv), "CSV of the most selective neurons (default: RESULTS with .selective.csv)");
  po::positional_options_description pos;
  pos.add("recording", 1);
  const auto vm = parse(args, desc, pos);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return kExitOk;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const RecordingReader rec(recording);
  const analysis::AnalysisConfig cfg =
      config.empty() ? analysis::analysis_from_recording(rec) : analysis::load_analysis_file(config);
  analysis::check_against(cfg, rec);
  if (out.empty()) out = std::filesystem::path(recording).replace_extension(".analysis.h5").string();
  if (csv.empty()) {
    std::filesystem::path p(out);
    csv = p.replace_extension(".selective.csv").string();
  }
  // Outputs are replaced whole: never the recording being read.
  for (const std::string& o : {out, csv}) {
    std::error_code ec;
    if (std::filesystem::equivalent(o, recording, ec))
      throw ConfigError(o + ": an output of rig analyze would replace its input recording " + recording);
  }
  const analysis::Results r = analysis::analyze(rec, cfg, [](size_t done, size_t total, const std::string& key) {
    std::fprintf(stderr, "analyze: %zu/%zu %s\n", done, total, key.c_str());
  });
  for (const auto& s : r.sites) {
    if (s.nonfinite_neurons.empty()) continue;
    std::string list;
    for (size_t i = 0; i < s.nonfinite_neurons.size() && i < 10; ++i)
      list += (i ? ", " : "") + std::to_string(s.nonfinite_neurons[i]);
    if (s.nonfinite_neurons.size() > 10) list += ", ...";
    std::fprintf(stderr,
                 "rig analyze: warning: %s: %zu of %lld neurons have NaN or infinite values in the window "
                 "(neurons %s); their selectivity statistics are NaN\n",
                 s.key().c_str(), s.nonfinite_neurons.size(), (long long)s.width(), list.c_str());
  }
  for (const auto& n : r.notes) std::fprintf(stderr, "rig analyze: note: %s\n", n.c_str());
  analysis::write_results(r, out);
  analysis::write_top_csv(r, csv, cfg.top);
  int64_t included = 0;
  for (auto v : r.condition_trials) included += v;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("analysed %zu electrodes, %lld of %zu trials (event %s, %zu conditions) in %.2f s\n", r.sites.size(),
              (long long)included, r.trial_index.size(), r.event.c_str(), r.conditions.size(), secs);
  std::printf("results  %s\nselective %s\n", out.c_str(), csv.c_str());
  return kExitOk;
}

}  // namespace rig::cli
