#pragma once
// The rig subcommands (rig train and rig bench are the programs rig-train and rig-bench). Each parses its own arguments
// (Boost.Program_options), calls the library and returns an exit code; errors propagate as rig::Error to main().
#include <string>
#include <vector>

namespace rig::cli {

using Args = std::vector<std::string>;  // the arguments after the subcommand name

int cmd_inspect(const Args& args);   // cmd_inspect.cc: module tree and site list of a model
int cmd_tokenize(const Args& args);  // cmd_tokenize.cc: JSON Lines in, ids (or text) out
int cmd_run(const Args& args);       // cmd_run.cc: run an experiment config
int cmd_generate(const Args& args);  // cmd_generate.cc: one prompt, greedy/sampled text out
int cmd_merge(const Args& args);     // cmd_merge.cc: shard files of one experiment -> one recording
int cmd_analyze(const Args& args);   // cmd_analyze.cc: PSTHs, selectivity, PCA, decoding of a recording
int cmd_plot(const Args& args);      // cmd_plot.cc: figures (PNG/SVG) of analysis results or a recording
int cmd_pull(const Args& args);      // cmd_pull.cc: fetch a hub model into the HF cache
int cmd_export(const Args& args);    // cmd_export.cc: a recording as an NWB file

}  // namespace rig::cli
