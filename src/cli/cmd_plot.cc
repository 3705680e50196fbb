// rig plot INPUT.h5 --kind KIND -o OUT: figures of analysis results (rig analyze's file) or of
// a recording (a trial's heatmap directly; other kinds analyse it in memory first).
#include <algorithm>
#include <cmath>
#include <iostream>
#include <numeric>
#include <sstream>

#include "analysis/analysis_config.h"
#include "analysis/analyze.h"
#include "analysis/plots.h"
#include "analysis/results.h"
#include "cli/commands.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "io/hdf5.h"
#include "recording/reader.h"

namespace po = boost::program_options;

namespace rig::cli {
namespace {

bool is_results_file(const std::string& path) {
  h5::FileOptions opt;
  opt.hold_metadata_until_flush = false;
  h5::Id f = h5::open_file(path, false, opt);
  h5::Id root = h5::open_group(f, "/");
  return h5::has_attr(root, "format") && h5::attr_is_string(root, "format") &&
         h5::get_string_attr(root, "format") == analysis::kResultsFormat;
}

std::vector<int64_t> parse_list(const std::string& s, const std::string& opt) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || item.empty() || v < 0)
      throw ConfigError(opt + ": expected comma-separated neuron columns (e.g. 0,5,12), got '" + s + "'");
    out.push_back(v);
  }
  return out;
}

}  // namespace

int cmd_plot(const Args& args) {
  std::string input, kind = "all", out, site, side, config, neurons, format = "png";
  std::vector<std::string> conditions;
  int64_t trial = -1;
  po::options_description desc(
      "usage: rig plot INPUT.h5 [--kind KIND] -o OUT [options]\n\n"
      "INPUT is a results file of 'rig analyze' or a recording (analysed in memory with -c or its\n"
      "stored analysis config). KIND: heatmap (a condition mean, or one trial with --trial),\n"
      "psth, selectivity, dprime, or all (OUT is then a directory). OUT's extension (.png or\n"
      ".svg) picks the format.\n\noptions");
  desc.add_options()("help,h", "show this help")("input", po::value(&input)->required(), "results or recording (HDF5)")(
      "kind,k", po::value(&kind), "heatmap | psth | selectivity | dprime | all (default all)")(
      "out,o", po::value(&out)->required(), "output file (.png/.svg), or a directory for --kind all")(
      "site", po::value(&site), "site (HF module path); default: the first analysed")(
      "side", po::value(&side), "input | output (default: the first the site has)")(
      "condition", po::value(&conditions)->composing(), "condition(s) to draw (repeatable; default all)")(
      "neurons", po::value(&neurons), "psth: neuron columns, e.g. 0,5,12 (default: the 4 most selective)")(
      "trial", po::value(&trial), "heatmap of one trial (row of /trials) instead of a condition mean")(
      "config,c", po::value(&config), "analysis config, when INPUT is a recording")(
      "format", po::value(&format), "for --kind all: png | svg (default png)");
  po::positional_options_description pos;
  pos.add("input", 1);
  const auto vm = parse(args, desc, pos);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return kExitOk;
  }
  static const std::vector<std::string> kinds = {"heatmap", "psth", "selectivity", "dprime", "all"};
  if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end())
    throw ConfigError("--kind: expected heatmap, psth, selectivity, dprime or all, got '" + kind + "'");
  if (format != "png" && format != "svg") throw ConfigError("--format: expected png or svg, got '" + format + "'");
  if (!side.empty() && side != "input" && side != "output")
    throw ConfigError("--side: expected input or output, got '" + side + "'");
  if (!std::filesystem::exists(input)) throw DataError(input + ": no such file");

  const bool results_in = is_results_file(input);
  std::unique_ptr<RecordingReader> rec;
  if (!results_in) rec = std::make_unique<RecordingReader>(input);
  auto target = [&](const std::string& name) {
    return kind == "all" ? (std::filesystem::path(out) / (name + "." + format)) : std::filesystem::path(out);
  };
  if (kind == "all") std::filesystem::create_directories(out);
  std::vector<std::string> written;

  if (trial >= 0 && (kind == "heatmap" || kind == "all")) {
    if (!rec) throw ConfigError("--trial needs a recording as INPUT (results hold condition means only)");
    size_t e = 0;
    if (!site.empty()) {
      e = rec->electrodes().size();
      for (size_t i = 0; i < rec->electrodes().size(); ++i)
        if (rec->electrodes()[i].site == site && (side.empty() || side_name(rec->electrodes()[i].side) == side)) {
          e = i;
          break;
        }
      if (e == rec->electrodes().size()) rec->electrode_index(site, side == "input" ? Side::kInput : Side::kOutput);
    } else if (rec->electrodes().empty()) {
      throw DataError(input + ": the recording has no electrodes");
    }
    analysis::plot_heatmap_trial(*rec, e, size_t(trial), target("heatmap_trial"));
    written.push_back(target("heatmap_trial").string());
    if (kind == "heatmap") {
      std::cout << written[0] << "\n";
      return kExitOk;
    }
  }

  analysis::Results r;
  if (results_in) {
    r = analysis::read_results(input);
  } else {
    analysis::AnalysisConfig cfg =
        config.empty() ? analysis::analysis_from_recording(*rec) : analysis::load_analysis_file(config);
    analysis::check_against(cfg, *rec);
    r = analysis::analyze(*rec, cfg);
  }
  if (r.sites.empty()) throw DataError(input + ": no analysed sites to plot");
  // Default site: the one holding the most selective neuron (smallest ANOVA p).
  size_t s = 0;
  if (!site.empty()) {
    s = r.site_index(site, side);
  } else {
    double best = 2;
    for (size_t i = 0; i < r.sites.size(); ++i)
      for (double p : r.sites[i].sel.anova_p)
        if (p < best) best = p, s = i;
  }
  std::vector<int> conds;
  for (const auto& c : conditions) conds.push_back(r.condition_index(c));
  if (conds.empty()) {
    conds.resize(r.conditions.size());
    std::iota(conds.begin(), conds.end(), 0);
  }
  if (kind == "heatmap" || (kind == "all" && trial < 0)) {
    analysis::plot_heatmap_mean(r, s, conds[0], target("heatmap"));
    written.push_back(target("heatmap").string());
  }
  if (kind == "psth" || kind == "all") {
    std::vector<int64_t> cols;
    if (!neurons.empty()) {
      cols = parse_list(neurons, "--neurons");
    } else {
      const auto& p = r.sites[s].sel.anova_p;
      std::vector<int64_t> idx(p.size());
      std::iota(idx.begin(), idx.end(), 0);
      std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) {
        const double pa = std::isnan(p[size_t(a)]) ? 2 : p[size_t(a)], pb = std::isnan(p[size_t(b)]) ? 2 : p[size_t(b)];
        return pa < pb;
      });
      cols.assign(idx.begin(), idx.begin() + std::min<long>(4, long(idx.size())));
    }
    analysis::plot_psth(r, s, cols, conds, target("psth"));
    written.push_back(target("psth").string());
  }
  if (kind == "selectivity" || kind == "all") {
    analysis::plot_selectivity_map(r, target("selectivity"));
    written.push_back(target("selectivity").string());
  }
  if (kind == "dprime" || kind == "all") {
    analysis::plot_dprime_hist(r, target("dprime"), site.empty() ? -1 : int64_t(s));
    written.push_back(target("dprime").string());
  }
  for (const auto& w : written) std::cout << w << "\n";
  return kExitOk;
}

}  // namespace rig::cli
