// rig: a recording rig for language models. main() only picks the subcommand and maps
// errors to exit codes; everything else lives in the library.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "cli/program.h"
#include "core/error.h"
#include "rig/version.h"

namespace {

struct Command {
  int (*fn)(const rig::cli::Args&);  // null: the program `program`, beside rig
  const char* help;
  const char* program = nullptr;
  const char* program_mode = nullptr;  // its first argument, when the program does several things
};

const std::map<std::string, Command>& commands() {
  static const std::map<std::string, Command> table = {
      {"pull", {rig::cli::cmd_pull, "download a model from the Hugging Face hub into its cache (shared with Python)"}},
      {"run", {rig::cli::cmd_run, "run an experiment: present stimuli, record electrodes to HDF5"}},
      {"inspect", {rig::cli::cmd_inspect, "print a model's module tree, or its recording sites"}},
      {"generate", {rig::cli::cmd_generate, "generate text from one prompt (no recording)"}},
      {"tokenize", {rig::cli::cmd_tokenize, "encode JSON Lines of text to ids, or decode ids"}},
      {"train", {nullptr, "train the bundled model organism (data/models/sure-neox)", "rig-train"}},
      {"train-sae",
       {nullptr, "train the organism's sparse autoencoder (data/models/sure-neox-sae)", "rig-train", "sae"}},
      {"merge", {rig::cli::cmd_merge, "merge the shard files of one experiment into one recording"}},
      {"analyze", {rig::cli::cmd_analyze, "analyse a recording: PSTHs, selectivity, PCA, decoding"}},
      {"export", {rig::cli::cmd_export, "write a recording as an NWB 2.x file (rig export --nwb REC.h5 OUT.nwb)"}},
      {"plot", {rig::cli::cmd_plot, "draw figures (PNG/SVG) of analysis results or a recording"}},
      {"bench", {nullptr, "measure recording throughput against this machine's GEMM rate and bandwidth", "rig-bench"}},
  };
  return table;
}

void usage(std::FILE* out) {
  std::fprintf(out, "rig %s — a recording rig for language models\n\nusage: rig COMMAND [ARGS]\n\n", rig::kVersion);
  for (const auto& [name, c] : commands()) std::fprintf(out, "  %-10s %s\n", name.c_str(), c.help);
  std::fprintf(out, "\n'rig COMMAND --help' describes a command's arguments.\n");
}

// The organism's recipe and the benchmark are programs of their own, so that the library
// and rig stay free of them; rig runs the one installed or built beside it.
int exec_beside(const char* command, const char* program, const char* mode, char** argv) {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  const auto path = (ec ? std::filesystem::path(".") : self.parent_path()) / program;
  std::vector<char*> args{const_cast<char*>(path.c_str())};
  if (mode) args.push_back(const_cast<char*>(mode));
  for (char** a = argv; *a; ++a) args.push_back(*a);
  args.push_back(nullptr);
  execv(path.c_str(), args.data());
  std::fprintf(stderr, "rig %s: error: cannot run %s (%s); build it with `cmake --build BUILD --target %s`\n", command,
               path.c_str(), std::strerror(errno), program);
  return rig::kExitFailure;
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
  if (it->second.program) return exec_beside(argv[1], it->second.program, it->second.program_mode, argv + 2);
  return rig::cli::run_command(argv[1], it->second.fn, argc - 2, argv + 2);
}
