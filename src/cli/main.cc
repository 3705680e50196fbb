// rig: a recording rig for language models. main() only picks the subcommand and maps
// errors to exit codes; everything else lives in the library.
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "rig/version.h"

namespace {

struct Command {
  int (*fn)(const rig::cli::Args&);
  const char* help;
};

const std::map<std::string, Command>& commands() {
  static const std::map<std::string, Command> table = {
      {"pull", {rig::cli::cmd_pull, "download a model from the Hugging Face hub into its cache (shared with Python)"}},
      {"run", {rig::cli::cmd_run, "run an experiment: present stimuli, record electrodes to HDF5"}},
      {"inspect", {rig::cli::cmd_inspect, "print a model's module tree, or its recording sites"}},
      {"generate", {rig::cli::cmd_generate, "generate text from one prompt (no recording)"}},
      {"tokenize", {rig::cli::cmd_tokenize, "encode JSON Lines of text to ids, or decode ids"}},
      {"train", {rig::cli::cmd_train, "train the bundled model organism (data/models/sure-neox)"}},
      {"train-sae", {rig::cli::cmd_train_sae, "train the organism's sparse autoencoder (data/models/sure-neox-sae)"}},
      {"merge", {rig::cli::cmd_merge, "merge the shard files of one experiment into one recording"}},
      {"analyze", {rig::cli::cmd_analyze, "analyse a recording: PSTHs, selectivity, PCA, decoding"}},
      {"plot", {rig::cli::cmd_plot, "draw figures (PNG/SVG) of analysis results or a recording"}},
      {"bench", {rig::cli::cmd_bench, "measure recording throughput against this machine's GEMM rate and bandwidth"}},
  };
  return table;
}

void usage(std::FILE* out) {
  std::fprintf(out, "rig %s — a recording rig for language models\n\nusage: rig COMMAND [ARGS]\n\n",
               rig::kVersion);
  for (const auto& [name, c] : commands()) std::fprintf(out, "  %-10s %s\n", name.c_str(), c.help);
  std::fprintf(out, "\n'rig COMMAND --help' describes a command's arguments.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? rig::kExitConfig : rig::kExitOk;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::printf("rig %s (%s)\n", rig::kVersion, rig::kGitCommit);
    return rig::kExitOk;
  }
  auto it = commands().find(argv[1]);
  if (it == commands().end()) {
    std::fprintf(stderr, "rig: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return rig::kExitConfig;
  }
  try {
    return it->second.fn(rig::cli::Args(argv + 2, argv + argc));
  } catch (const rig::Error& e) {
    std::fprintf(stderr, "rig %s: error: %s\n", argv[1], e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rig %s: error: %s\n", argv[1], e.what());
    return rig::kExitFailure;
  }
}
