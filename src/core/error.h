#pragma once
// One small error hierarchy. The library throws; only main() catches and maps to exit codes.
// Messages name the operation, what was expected and what was found, and where (file, key,
// tensor, line:column).
#include <stdexcept>
#include <string>

namespace rig {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,  // anything else (a bug, an I/O failure during a run)
  kExitConfig = 2,   // a bad experiment config or command line: nothing was written
  kExitModel = 3,    // a bad or missing model / tokenizer file
  kExitData = 4,     // a bad recording / input data file
};

class Error : public std::runtime_error {
 public:
  Error(const std::string& what, int exit_code = kExitFailure) : std::runtime_error(what), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// A bad experiment config, override or command-line value (exit 2).
struct ConfigError : Error {
  explicit ConfigError(const std::string& what) : Error(what, kExitConfig) {}
};

// A bad or missing model directory, config.json, safetensors file or tokenizer (exit 3).
struct ModelError : Error {
  explicit ModelError(const std::string& what) : Error(what, kExitModel) {}
};

// A bad recording or other data file given as input (exit 4).
struct DataError : Error {
  explicit DataError(const std::string& what) : Error(what, kExitData) {}
};

}  // namespace rig
