#pragma once
// Merges the shard files of one experiment (`rig run --shard I/N`, docs/CLUSTER.md) into one
// recording. Before writing anything it checks that the shards belong together (format
// version, config_hash, model, revision, architecture, dtype, seed, sweep variant, shard
// count, electrodes, events, stimuli), that each is complete (every planned trial
// committed), and that together they hold every trial of the experiment exactly once.
//
// A copy merge writes the standard layout (docs/FORMAT.md) identical, dataset for dataset, to
// a single-machine run: trials in index order, rows and event rows renumbered, the root
// attributes of an unsharded run (the shard attributes and n_resumes dropped, `created` the
// earliest shard's). It streams: trials are read and written in batches of bounded size.
//
// A virtual merge writes a small file whose /tokens and /recordings datasets are HDF5 virtual
// datasets mapping the shards' rows without copying; /trials, /events and /stimuli are
// copied (rows renumbered). Trials are in shard order, then each shard's file order. The
// shards must stay where they are relative to the merged file (paths are stored relative).
//
// Output goes to a temporary file beside `out`, renamed over it at the end: a failed merge
// leaves no partial output.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace rig {

struct MergeOptions {
  bool virtual_datasets = false;  // --virtual
  bool force = false;             // overwrite an existing output
  // A copy merge appends trials in batches of about this many bytes of recordings (at least
  // one trial each); the writer queues a few batches, so memory stays a small multiple.
  int64_t batch_bytes = 32 << 20;
};

struct MergeResult {
  int64_t n_trials = 0;
  int64_t n_rows = 0;
  std::vector<std::string> warnings;  // provenance that differs between shards (device, ...)
};

// Throws ConfigError (bad arguments, existing output) or DataError naming the shard file and
// the problem (unreadable or truncated file, another experiment, incomplete shard, missing or
// duplicate trials).
MergeResult merge_recordings(const std::vector<std::filesystem::path>& shards, const std::filesystem::path& out,
                             const MergeOptions& opt = {});

}  // namespace rig
