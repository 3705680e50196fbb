#pragma once
// Which part of an experiment one `rig run` process records: a sweep variant and a shard of
// that variant's trials. Chosen by flags (--sweep-index K, --shard I/N), or, inside a SLURM
// job array, by the array task (docs/CLUSTER.md). Pure logic: the environment comes in as a
// lookup function so tests need no real SLURM.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace rig {

struct TaskRequest {
  std::optional<int64_t> sweep_index;  // --sweep-index K
  std::optional<int64_t> shard_index;  // --shard I/N
  std::optional<int64_t> shard_count;
  int64_t n_variants = 0;  // variants of the config's sweep; 0 = no sweep
};

struct TaskSelection {
  int64_t variant = -1;     // -1: no sweep, or a sweep with no variant chosen
  int64_t shard_index = 0;  // run trials with index % shard_count == shard_index
  int64_t shard_count = 1;
  std::string from;  // how it was chosen, for the log ("SLURM array task 4 of 6", ...)
};

// Rules (docs/CLUSTER.md). Flags always win. In a SLURM array (SLURM_ARRAY_TASK_ID set) the
// task's position t = (TASK_ID - TASK_MIN) / TASK_STEP among C = SLURM_ARRAY_TASK_COUNT tasks:
//   no sweep:                      shard t of C
//   sweep of V, neither flag:      C = V * N; variant t / N, shard t % N of N
//   sweep, --sweep-index only:     that variant, shard t of C
//   sweep, --shard only:           C = V; variant t
// Throws ConfigError for out-of-range values, a --sweep-index without a sweep, or an array
// whose size does not fit the sweep.
TaskSelection select_task(const TaskRequest& req, const std::function<const char*(const char*)>& getenv);

// "NAME.shard-I-of-N.EXT": the file of shard I of N beside `path`.
std::string shard_path(const std::string& path, int64_t shard_index, int64_t shard_count);

}  // namespace rig
