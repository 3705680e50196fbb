// select_task: which sweep variant and shard one process records, from flags or the SLURM
// array environment (docs/CLUSTER.md).
#include <map>
#include <string>

#include "catch.h"
#include "core/error.h"
#include "runner/task_select.h"

using namespace rig;

namespace {

// A fake environment: only the listed variables are set.
std::function<const char*(const char*)> env(std::map<std::string, std::string> vars) {
  auto m = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [m](const char* k) -> const char* {
    auto it = m->find(k);
    return it == m->end() ? nullptr : it->second.c_str();
  };
}

std::map<std::string, std::string> array(int id, int count, int min = 0, int step = 1) {
  return {{"SLURM_ARRAY_TASK_ID", std::to_string(id)},
          {"SLURM_ARRAY_TASK_COUNT", std::to_string(count)},
          {"SLURM_ARRAY_TASK_MIN", std::to_string(min)},
          {"SLURM_ARRAY_TASK_STEP", std::to_string(step)}};
}

}  // namespace

TEST_CASE("outside SLURM with no flags: the whole experiment", "[runner][task]") {
  TaskSelection s = select_task({}, env({}));
  CHECK(s.variant == -1);
  CHECK(s.shard_index == 0);
  CHECK(s.shard_count == 1);
}

TEST_CASE("flags choose the shard and the variant, also inside an array", "[runner][task]") {
  TaskRequest r;
  r.shard_index = 2;
  r.shard_count = 5;
  r.sweep_index = 1;
  r.n_variants = 3;
  for (auto e : {env({}), env(array(7, 9))}) {
    TaskSelection s = select_task(r, e);
    CHECK(s.variant == 1);
    CHECK(s.shard_index == 2);
    CHECK(s.shard_count == 5);
  }
}

TEST_CASE("an array without a sweep shards the trials by task", "[runner][task]") {
  // Task ids 10, 12, 14 (min 10, step 2): positions 0, 1, 2 of 3.
  for (int t = 0; t < 3; ++t) {
    TaskSelection s = select_task({}, env(array(10 + 2 * t, 3, 10, 2)));
    CHECK(s.variant == -1);
    CHECK(s.shard_index == t);
    CHECK(s.shard_count == 3);
    CHECK_FALSE(s.from.empty());
  }
}

TEST_CASE("an array over a sweep: variant-major, then shards of each variant", "[runner][task]") {
  TaskRequest r;
  r.n_variants = 2;
  // 2 variants x 3 shards = 6 tasks.
  for (int t = 0; t < 6; ++t) {
    TaskSelection s = select_task(r, env(array(t, 6)));
    CHECK(s.variant == t / 3);
    CHECK(s.shard_index == t % 3);
    CHECK(s.shard_count == 3);
  }
  // --sweep-index only: that variant, the array shards it.
  r.sweep_index = 1;
  TaskSelection s = select_task(r, env(array(3, 4)));
  CHECK(s.variant == 1);
  CHECK(s.shard_index == 3);
  CHECK(s.shard_count == 4);
  // --shard only: the array picks the variant.
  r.sweep_index.reset();
  r.shard_index = 0;
  r.shard_count = 2;
  s = select_task(r, env(array(1, 2)));
  CHECK(s.variant == 1);
  CHECK(s.shard_index == 0);
  CHECK(s.shard_count == 2);
}

TEST_CASE("bad task requests are config errors", "[runner][task]") {
  TaskRequest r;
  r.shard_index = 4;
  r.shard_count = 4;
  CHECK_THROWS_AS(select_task(r, env({})), ConfigError);  // shard out of range
  TaskRequest s;
  s.sweep_index = 0;
  CHECK_THROWS_AS(select_task(s, env({})), ConfigError);  // no sweep in the config
  TaskRequest v;
  v.n_variants = 2;
  v.sweep_index = 2;
  CHECK_THROWS_AS(select_task(v, env({})), ConfigError);  // variant out of range
  TaskRequest a;
  a.n_variants = 2;
  CHECK_THROWS_AS(select_task(a, env(array(0, 5))), ConfigError);  // 5 tasks do not split 2 variants
}

TEST_CASE("shard files sit beside the experiment's file", "[runner][task]") {
  CHECK(shard_path("data/recordings/x.h5", 1, 4) == "data/recordings/x.shard-1-of-4.h5");
}
