#include "runner/task_select.h"

#include <filesystem>

#include "core/error.h"

namespace rig {
namespace {

// The value of a SLURM integer variable, or nullopt when unset or empty.
std::optional<int64_t> env_int(const std::function<const char*(const char*)>& getenv, const char* name) {
  const char* v = getenv(name);
  if (!v || !*v) return std::nullopt;
  try {
    size_t used = 0;
    const int64_t x = std::stoll(v, &used);
    if (used != std::string(v).size()) throw std::invalid_argument(v);
    return x;
  } catch (const std::exception&) {
    throw ConfigError(std::string("environment variable ") + name + "='" + v + "': expected an integer");
  }
}

struct ArrayTask {
  int64_t t = 0, count = 0;
};

std::optional<ArrayTask> slurm_array(const std::function<const char*(const char*)>& getenv) {
  const auto id = env_int(getenv, "SLURM_ARRAY_TASK_ID");
  if (!id) return std::nullopt;
  const auto count = env_int(getenv, "SLURM_ARRAY_TASK_COUNT");
  if (!count || *count < 1)
    throw ConfigError(
        "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: cannot tell this task's "
        "share; pass --shard I/N (and --sweep-index K) explicitly");
  const int64_t min = env_int(getenv, "SLURM_ARRAY_TASK_MIN").value_or(0);
  const int64_t step = env_int(getenv, "SLURM_ARRAY_TASK_STEP").value_or(1);
  if (step < 1 || (*id - min) % step != 0 || *id < min || (*id - min) / step >= *count)
    throw ConfigError("SLURM array task " + std::to_string(*id) + " (min " + std::to_string(min) + ", step " +
                      std::to_string(step) + ", count " + std::to_string(*count) +
                      "): expected a contiguous array such as --array=0-" + std::to_string(*count - 1));
  return ArrayTask{(*id - min) / step, *count};
}

}  // namespace

TaskSelection select_task(const TaskRequest& req, const std::function<const char*(const char*)>& getenv) {
  TaskSelection s;
  const int64_t V = req.n_variants;
  if (req.sweep_index && V == 0)
    throw ConfigError("--sweep-index " + std::to_string(*req.sweep_index) + ": the config has no sweep: key");
  if (req.sweep_index && (*req.sweep_index < 0 || *req.sweep_index >= V))
    throw ConfigError("--sweep-index " + std::to_string(*req.sweep_index) + ": expected 0.." + std::to_string(V - 1) +
                      " (the sweep has " + std::to_string(V) + " variants)");
  if (req.shard_count && (*req.shard_count < 1 || *req.shard_index < 0 || *req.shard_index >= *req.shard_count))
    throw ConfigError("--shard: expected I/N with 0 <= I < N, got " + std::to_string(*req.shard_index) + "/" +
                      std::to_string(*req.shard_count));
  if (req.sweep_index) s.variant = *req.sweep_index;
  if (req.shard_count) s.shard_index = *req.shard_index, s.shard_count = *req.shard_count;
  const bool want_variant = V > 0 && !req.sweep_index, want_shard = !req.shard_count;
  if (!want_variant && !want_shard) return s.from = "flags", s;

  const auto task = slurm_array(getenv);
  if (!task) return s.from = "flags", s;  // no array: unsharded, and no variant unless given
  const std::string where = "SLURM array task " + std::to_string(task->t) + " of " + std::to_string(task->count);
  s.from = where;
  if (want_variant && want_shard) {
    if (task->count % V != 0)
      throw ConfigError(where + ": the sweep has " + std::to_string(V) +
                        " variants, so the array needs V * N "
                        "tasks (N shards per variant); " +
                        std::to_string(task->count) + " is not a multiple of " + std::to_string(V));
    const int64_t n = task->count / V;
    s.variant = task->t / n;
    s.shard_index = task->t % n;
    s.shard_count = n;
  } else if (want_variant) {
    if (task->count != V)
      throw ConfigError(where + ": with --shard given, the array runs one task per variant; expected " +
                        std::to_string(V) + " tasks, got " + std::to_string(task->count));
    s.variant = task->t;
  } else {
    s.shard_index = task->t;
    s.shard_count = task->count;
  }
  return s;
}

std::string shard_path(const std::string& path, int64_t shard_index, int64_t shard_count) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  return (p.parent_path() / (p.stem().string() + ".shard-" + std::to_string(shard_index) + "-of-" +
                             std::to_string(shard_count) + p.extension().string()))
      .string();
}

}  // namespace rig
