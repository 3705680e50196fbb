// recording.store: statistics: Welford's per-trial update and Chan's combination on planted
// numbers (shards merged = one pass), the binning of a trial, and a statistics file written,
// read back, resumed and refused where rows are asked for.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "catch.h"
#include "core/error.h"
#include "recording/reader.h"
#include "recording/statistics.h"
#include "recording/writer.h"

namespace fs = std::filesystem;
using namespace rig;

namespace {

double rel(double a, double b) { return std::abs(a - b) / std::max(1e-300, std::abs(b)); }

// Two-pass reference: mean and sum of squared deviations.
void two_pass(const std::vector<double>& x, double& mean, double& m2) {
  mean = 0;
  for (double v : x) mean += v;
  mean /= double(x.size());
  m2 = 0;
  for (double v : x) m2 += (v - mean) * (v - mean);
}

}  // namespace

TEST_CASE("Welford: planted numbers give their mean and M2", "[statistics]") {
  Moments m(1, 1, 2);
  // Unit 0: 2 4 4 4 5 5 7 9 (mean 5, population variance 4: M2 = 32); unit 1: 1e9 + the same
  // (the shift that ruins a sum-of-squares formula).
  for (double v : {2, 4, 4, 4, 5, 5, 7, 9}) {
    const double x[2] = {v, 1e9 + v};
    m.add(0, 0, x);
  }
  CHECK(m.count[0] == 8);
  CHECK(m.mean[0] == 5.0);
  CHECK(m.m2[0] == 32.0);
  CHECK(m.mean[1] == 1e9 + 5);
  CHECK(std::abs(m.m2[1] - 32.0) < 1e-6);
}

TEST_CASE("Chan: shards merged equal one pass, whatever the split", "[statistics]") {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(10.0, 3.0);
  const int64_t C = 2, B = 3, W = 4;
  std::vector<std::array<int64_t, 2>> cells;
  std::vector<std::vector<double>> values;  // per trial: W values
  for (int i = 0; i < 500; ++i) {
    cells.push_back({int64_t(i % C), int64_t((i / 2) % B)});
    std::vector<double> v(W);
    for (auto& x : v) x = noise(rng) * (1 + i % 3);
    values.push_back(v);
  }
  Moments one(C, B, W);
  for (size_t i = 0; i < values.size(); ++i) one.add(cells[i][0], cells[i][1], values[i].data());
  // Shards of 0, 1, 37 and the rest trials (an empty shard and a single trial included).
  const std::vector<size_t> cuts = {0, 0, 1, 38, values.size()};
  Moments merged(C, B, W);
  for (size_t s = 0; s + 1 < cuts.size(); ++s) {
    Moments shard(C, B, W);
    for (size_t i = cuts[s]; i < cuts[s + 1]; ++i) shard.add(cells[i][0], cells[i][1], values[i].data());
    merged.merge(shard);
  }
  for (int64_t c = 0; c < C; ++c)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < W; ++j) {
        std::vector<double> x;
        for (size_t i = 0; i < values.size(); ++i)
          if (cells[i][0] == c && cells[i][1] == b) x.push_back(values[i][size_t(j)]);
        double mean, m2;
        two_pass(x, mean, m2);
        const size_t k = one.cell(c, b);
        REQUIRE(one.count[k] == int64_t(x.size()));
        REQUIRE(merged.count[k] == int64_t(x.size()));
        CHECK(rel(one.mean[k * W + size_t(j)], mean) < 1e-12);
        CHECK(rel(one.m2[k * W + size_t(j)], m2) < 1e-12);
        CHECK(rel(merged.mean[k * W + size_t(j)], mean) < 1e-12);
        CHECK(rel(merged.m2[k * W + size_t(j)], m2) < 1e-12);
      }
  Moments other(C, B + 1, W);
  CHECK_THROWS_AS(merged.merge(other), Error);
}

TEST_CASE("bin_trial: bin means of the rows inside the trial, edges masked", "[statistics]") {
  BinSpec s;
  s.pre = 2, s.post = 4, s.bin = 2;  // offsets -2..4: bins [-2,0) [0,2) [2,4) [4,5)
  REQUIRE(s.n_bins() == 4);
  CHECK(s.bin_start(3) == 4);
  CHECK(s.bin_stop(3) == 5);
  // 4 rows x 1 unit: value = row; event at row 1.
  const float rows[4] = {0, 1, 2, 3};
  std::vector<double> out;
  std::vector<char> valid;
  bin_trial(s, rows, 4, 1, 1, out, valid);
  // Bin 0: offsets -2,-1 -> rows -1 (outside), 0 -> mean 0. Bin 1: rows 1, 2. Bin 2: row 3 (4 is
  // outside). Bin 3: row 5: none.
  CHECK(valid == std::vector<char>{1, 1, 1, 0});
  CHECK(out[0] == 0.0);
  CHECK(out[1] == 1.5);
  CHECK(out[2] == 3.0);
  TrialResult t;
  t.n_prompt_tokens = 3, t.n_generated = 0, t.finish_reason = FinishReason::kPromptOnly;
  s.event = "response_onset";
  CHECK(statistics_event_row(s, t) == -1);  // nothing generated: no response onset
  t.n_generated = 2;
  CHECK(statistics_event_row(s, t) == 3);
  s.event = "mine";
  t.events["mine"] = 1;
  CHECK(statistics_event_row(s, t) == 1);
}

TEST_CASE("a statistics recording: written, read back, resumed, rows refused", "[statistics]") {
  const fs::path dir = fs::temp_directory_path() / ("rig_stats_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  RecordingHeader h;
  h.attrs = {{"config", "x: 1\n"}, {"config_hash", "abc"}};
  h.stimuli = {{0, "A", "a", {}}, {1, "B", "b", {}}, {2, "A", "c", {}}};
  h.electrodes = {ElectrodeSpec{"m.layers.0", Side::kOutput, "Layer", 3, {}},
                  ElectrodeSpec{"m.layers.1", Side::kInput, "Layer", 8, {2, 5}}};
  h.events = {"response_onset"};
  h.store = "statistics";
  h.bins.event = "prompt_onset";
  h.bins.pre = 0, h.bins.post = 2, h.bins.bin = 1;
  h.n_trials_planned = 6;
  auto trial = [&](int64_t i) {
    TrialResult t;
    t.index = i;
    t.stimulus = i % 3;
    t.condition = h.stimuli[size_t(i % 3)].condition;
    t.prompt = h.stimuli[size_t(i % 3)].prompt;
    t.n_prompt_tokens = 2;
    t.n_generated = i % 2;  // 2 or 3 rows: bin 2 only in odd trials
    t.finish_reason = t.n_generated ? FinishReason::kLength : FinishReason::kPromptOnly;
    for (int64_t r = 0; r < t.n_prompt_tokens + t.n_generated; ++r) t.tokens.push_back({r, r, "t", r >= 2});
    for (const auto& e : h.electrodes) {
      std::vector<float> m;
      for (int64_t r = 0; r < int64_t(t.tokens.size()); ++r)
        for (int64_t j = 0; j < e.width(); ++j) m.push_back(float(i * 10 + r) + 0.5f * float(j));
      t.recordings.push_back(m);
    }
    return t;
  };
  WriterOptions o;
  o.separate_process = false;
  o.fsync = false;
  const fs::path path = dir / "s.h5";
  {
    auto w = RecordingWriter::create(path, h, false, o);
    w->append({trial(0), trial(1), trial(2)});
    w->close();
  }
  {
    auto w = RecordingWriter::resume(path, h, o);
    CHECK(w->finished_trials().size() == 3);
    w->append({trial(3), trial(4), trial(5)});
    w->close();
  }
  std::string msg;
  {  // the reader closes before the resume below (HDF5 refuses a second open for writing)
    RecordingReader r(path);
    REQUIRE(r.is_statistics());
    CHECK(r.trials().size() == 6);
    CHECK(r.statistics_conditions() == std::vector<std::string>{"A", "B"});
    const auto m = r.statistics();
    REQUIRE(m.size() == 2);
    // Condition A = trials 0, 2, 3, 5; bin 0 = row 0: values i*10 + 0.5 j.
    const std::vector<double> a0 = {0, 20, 30, 50};
    double mean, m2;
    two_pass(a0, mean, m2);
    CHECK(m[0].count[m[0].cell(0, 0)] == 4);
    CHECK(rel(m[0].mean[m[0].cell(0, 0) * 3 + 1], mean + 0.5) < 1e-12);
    CHECK(rel(m[0].m2[m[0].cell(0, 0) * 3 + 1], m2) < 1e-12);
    // Bin 2 (row 2) exists in odd trials: A has 3 and 5, B has 1 (n = 1: M2 = 0).
    CHECK(m[1].count[m[1].cell(0, 2)] == 2);
    CHECK(m[1].count[m[1].cell(1, 2)] == 1);
    CHECK(m[1].m2[m[1].cell(1, 2) * 2] == 0.0);
    CHECK(m[1].mean[m[1].cell(1, 2) * 2 + 1] == 12 + 0.5);
    try {
      r.read_rows(0, 0, 1);
    } catch (const Error& e) {
      msg = e.what();
    }
    CHECK(msg.find("holds statistics") != std::string::npos);
    CHECK(r.header().store == "statistics");
  }
  // A raw header on the statistics file: --resume refuses, naming the store.
  RecordingHeader raw = h;
  raw.store = "raw";
  msg.clear();
  try {
    RecordingWriter::resume(path, raw, o);
  } catch (const Error& e) {
    msg = e.what();
  }
  INFO(msg);
  CHECK(msg.find("store: file has statistics, this run has raw") != std::string::npos);
  fs::remove_all(dir);
}
