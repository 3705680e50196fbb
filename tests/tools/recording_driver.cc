// Writes a synthetic recording with RecordingWriter, for the recording e2e tests (crash and
// resume) and for measuring write throughput. Trial content depends only on the trial index,
// so any run (interrupted, resumed or not) must give the same file content.
//
//   recording_driver run   PATH N_TRIALS BATCH DTYPE GZIP   # create, or resume if PATH exists
//   recording_driver bench PATH MEGABYTES [nosync]          # HDF5 writer vs raw write()
//
// `run` prints "committed <n>" after each committed batch (the runner's "trial N finished").
// Environment: RIG_WRITER_THREAD=1 runs the writer in a thread instead of a child process;
// RIG_SHARED_MB sets WriterOptions::shared_memory_bytes (0: every batch through the socket).
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "core/error.h"
#include "recording/writer.h"

namespace {

using namespace rig;

RecordingHeader make_header(const std::string& dtype, int gzip, int64_t n_trials) {
  RecordingHeader h;
  h.attrs = {
      {"config", "driver: synthetic\n"}, {"config_hash", "driver-1"}, {"model", "synthetic"}, {"architecture", "none"}};
  h.int_attrs = {{"seed", 7}};
  for (int64_t s = 0; s < 5; ++s) h.stimuli.push_back({s, s % 2 ? "odd" : "even", "prompt " + std::to_string(s), {}});
  h.electrodes = {{"model.layers.0.mlp", Side::kOutput, "MLP", 512, {}},
                  {"model.layers.1", Side::kInput, "Layer", 512, {0, 5, 9, 100, 511}},
                  {"model.embed_out", Side::kOutput, "Linear", 2048, {}}};
  h.events = {"stim_on", "response_start"};
  h.dtype = dtype;
  h.compression = gzip;
  h.n_trials_planned = n_trials;
  return h;
}

TrialResult make_trial(const RecordingHeader& h, int64_t i) {
  TrialResult t;
  t.index = i;
  t.stimulus = i % 5;
  t.condition = i % 2 ? "odd" : "even";
  t.repetition = i / 5;
  t.seed = 1000003ull * uint64_t(i);
  t.prompt = "prompt " + std::to_string(i % 5);
  t.n_prompt_tokens = 4 + i % 5;
  t.n_generated = (i * 7) % 13;
  t.response = std::string(size_t(t.n_generated), 'x');
  t.finish_reason = t.n_generated ? FinishReason::kLength : FinishReason::kPromptOnly;
  const int64_t rows = t.n_prompt_tokens + t.n_generated;
  for (int64_t r = 0; r < rows; ++r)
    t.tokens.push_back({r, (i * 31 + r) % 50000, "t" + std::to_string(r), r >= t.n_prompt_tokens});
  t.events["stim_on"] = 0;
  if (t.n_generated) t.events["response_start"] = t.n_prompt_tokens;
  for (const auto& e : h.electrodes) {
    const int64_t w = e.width();
    std::vector<float> m(size_t(rows * w));
    // Multiples of 1/8 below 128: exact in float16 too.
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < w; ++c) m[size_t(r * w + c)] = float((i * 131 + r * 17 + c) % 1000) / 8;
    t.recordings.push_back(std::move(m));
  }
  return t;
}

// The writer as the environment asks (see the top of the file): to compare the ways, and
// to kill the writer itself (RIG_WRITER_THREAD=1).
WriterOptions options() {
  WriterOptions o;
  const char* v = std::getenv("RIG_WRITER_THREAD");
  o.separate_process = !(v && std::string(v) == "1");
  if (const char* mb = std::getenv("RIG_SHARED_MB")) o.shared_memory_bytes = size_t(std::atoll(mb)) << 20;
  return o;
}

int run(const std::filesystem::path& path, int64_t n_trials, int64_t batch, const std::string& dtype, int gzip) {
  RecordingHeader h = make_header(dtype, gzip, n_trials);
  const WriterOptions opt = options();
  auto w = std::filesystem::exists(path) ? RecordingWriter::resume(path, h, opt)
                                         : RecordingWriter::create(path, h, false, opt);
  std::vector<int64_t> done = w->finished_trials();
  std::vector<bool> finished(size_t(n_trials), false);
  for (int64_t i : done) finished.at(size_t(i)) = true;
  w->set_on_committed([](const std::vector<int64_t>& idx) {
    std::printf("committed %lld\n", static_cast<long long>(idx.back()));
    std::fflush(stdout);
  });
  std::vector<TrialResult> b;
  for (int64_t i = 0; i < n_trials; ++i) {
    if (finished[size_t(i)]) continue;
    b.push_back(make_trial(h, i));
    if (int64_t(b.size()) == batch) w->append(std::move(b)), b.clear();
  }
  if (!b.empty()) w->append(std::move(b));
  w->close();
  return 0;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// One electrode of width 4096 float32, 64 rows per trial, batches of 8 trials (8 MiB).
int bench(const std::filesystem::path& path, double megabytes, bool sync) {
  RecordingHeader h;
  h.attrs = {{"config_hash", "bench"}};
  h.electrodes = {{"x", Side::kOutput, "Linear", 4096, {}}};
  const int64_t rows = 64, w = 4096;
  const int64_t n_trials = int64_t(megabytes * 1e6 / double(rows * w * 4)) + 1;
  TrialResult proto;
  proto.n_prompt_tokens = rows;
  for (int64_t r = 0; r < rows; ++r) proto.tokens.push_back({r, r, "t", false});
  proto.recordings.push_back(std::vector<float>(size_t(rows * w)));
  for (size_t k = 0; k < proto.recordings[0].size(); ++k) proto.recordings[0][k] = float(k % 977);
  const double bytes = double(n_trials * rows * w * 4);

  WriterOptions opt = options();
  opt.fsync = sync;
  // The batches exist before the clock starts: only the writer is timed.
  std::vector<std::vector<TrialResult>> batches;
  for (int64_t i = 0; i < n_trials; ++i) {
    if (i % 8 == 0) batches.emplace_back();
    batches.back().push_back(proto);
    batches.back().back().index = i;
  }
  std::filesystem::remove(path);  // replacing a previous file frees its pages: not ours to time
  auto t0 = std::chrono::steady_clock::now();
  {
    auto wr = RecordingWriter::create(path, h, true, opt);
    for (auto& b : batches) wr->append(std::move(b));
    wr->close();
  }
  const double t_h5 = seconds_since(t0);

  const std::filesystem::path raw = path.string() + ".raw";
  t0 = std::chrono::steady_clock::now();
  int fd = ::open(raw.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const auto& buf = proto.recordings[0];
  for (int64_t i = 0; i < n_trials; ++i) {
    if (::write(fd, buf.data(), buf.size() * 4) != ssize_t(buf.size() * 4)) return 1;
    if (sync && i % 8 == 7) ::fsync(fd);
  }
  if (sync) ::fsync(fd);
  ::close(fd);
  const double t_raw = seconds_since(t0);
  std::filesystem::remove(raw);
  std::printf(
      "%.0f MB float32 (fsync %s): RecordingWriter %.2f s = %.0f MB/s; raw write() "
      "%.2f s = %.0f MB/s\n",
      bytes / 1e6, sync ? "per batch" : "off", t_h5, bytes / 1e6 / t_h5, t_raw, bytes / 1e6 / t_raw);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "run" && argc == 7)
      return run(argv[2], std::atoll(argv[3]), std::atoll(argv[4]), argv[5], std::atoi(argv[6]));
    if (mode == "bench" && (argc == 4 || argc == 5)) return bench(argv[2], std::atof(argv[3]), argc == 4);
    std::cerr << "usage: recording_driver run PATH N_TRIALS BATCH DTYPE GZIP\n"
                 "       recording_driver bench PATH MEGABYTES [nosync]\n";
    return 2;
  } catch (const rig::Error& e) {
    std::cerr << "recording_driver: " << e.what() << "\n";
    return e.exit_code();
  }
}
