// Round-trip tests of the recording layer: write known trials, read them back, check values
// and metadata; resume, crash leftovers, the writer thread's error and back-pressure paths.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <thread>

#include "catch.h"
#include "core/error.h"
#include "io/hdf5.h"
#include "recording/reader.h"
#include "recording/sink.h"
#include "recording/writer.h"
#include "trial_text.h"

namespace fs = std::filesystem;
using namespace rig;

namespace {

// A fresh temporary directory per test case, removed at the end.
struct TempDir {
  fs::path dir;
  TempDir() {
    dir = fs::temp_directory_path() / ("rig_rec_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~TempDir() { fs::remove_all(dir); }
  fs::path operator/(const std::string& name) const { return dir / name; }
  static int& counter() {
    static int c = 0;
    return c;
  }
};

RecordingHeader make_header(const std::string& dtype = "float32", int compression = 0) {
  RecordingHeader h;
  h.attrs = {{"config", "model: pythia\nseed: 1\n"},
             {"config_hash", "abc123"},
             {"model", "EleutherAI/pythia-14m"},
             {"architecture", "GPTNeoXForCausalLM"}};
  h.int_attrs = {{"seed", 1}};
  h.stimuli = {{0, "A", "Hello", {{"topic", std::string("greeting")}}},
               {1, "B", "Größe ✓", {{"lang", std::string("de")}}}};
  ElectrodeSpec a{"gpt_neox.layers.0.mlp.dense_4h_to_h", Side::kOutput, "Linear", 6, {}};
  ElectrodeSpec b{"gpt_neox.layers.1", Side::kInput, "GPTNeoXLayer", 10, {1, 3, 7}};
  h.electrodes = {a, b};
  h.events = {"response_start", "stim_on"};
  h.dtype = dtype;
  h.compression = compression;
  h.n_trials_planned = 8;
  return h;
}

// Trial i: 2 + i % 3 prompt tokens, i % 4 generated; values v(trial, row, col) exact in float16.
float value(int64_t trial, int64_t row, int64_t col, int64_t e) {
  return float(trial) * 0.5f + float(row) * 0.25f - float(col) * 0.125f + float(e);
}

TrialResult make_trial(const RecordingHeader& h, int64_t i) {
  TrialResult t;
  t.index = i;
  t.stimulus = i % 2;
  t.condition = i % 2 ? "B" : "A";
  t.repetition = i / 2;
  t.seed = 0xFFFFFFFF00000000ull + uint64_t(i);  // needs uint64
  t.stimulation = i % 3 == 0 ? "" : "ablate";
  t.prompt = h.stimuli[size_t(i % 2)].prompt;
  t.n_prompt_tokens = 2 + i % 3;
  t.n_generated = i % 4;
  t.response = t.n_generated ? "out" + std::to_string(i) : "";
  t.finish_reason = t.n_generated ? FinishReason::kLength : FinishReason::kPromptOnly;
  const int64_t rows = t.n_prompt_tokens + t.n_generated;
  for (int64_t r = 0; r < rows; ++r)
    t.tokens.push_back({r, 100 * i + r, "tok" + std::to_string(r) + (r % 2 ? "é" : ""), r >= t.n_prompt_tokens});
  t.events["stim_on"] = 0;
  if (t.n_generated) t.events["response_start"] = t.n_prompt_tokens;
  for (size_t e = 0; e < h.electrodes.size(); ++e) {
    const int64_t w = h.electrodes[e].width();
    std::vector<float> m(size_t(rows * w));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < w; ++c) m[size_t(r * w + c)] = value(i, r, c, int64_t(e));
    t.recordings.push_back(std::move(m));
  }
  return t;
}

std::vector<TrialResult> make_batch(const RecordingHeader& h, int64_t first, int64_t n) {
  std::vector<TrialResult> b;
  for (int64_t i = first; i < first + n; ++i) b.push_back(make_trial(h, i));
  return b;
}

void require_same(const TrialResult& a, const TrialResult& b) {
  for (const auto& c : layout::kTrialColumns) {
    INFO("/trials/" << c.name);
    REQUIRE(test::column_text(c, a) == test::column_text(c, b));
  }
  REQUIRE(a.tokens.size() == b.tokens.size());
  for (size_t r = 0; r < a.tokens.size(); ++r) {
    REQUIRE(a.tokens[r].position == b.tokens[r].position);
    REQUIRE(a.tokens[r].token_id == b.tokens[r].token_id);
    REQUIRE(a.tokens[r].text == b.tokens[r].text);
    REQUIRE(a.tokens[r].generated == b.tokens[r].generated);
  }
  REQUIRE(a.events == b.events);
  REQUIRE(a.recordings == b.recordings);
}

// A closed recording of trials 0..n-1 at path.
void write_recording(const fs::path& path, const RecordingHeader& h, int64_t n) {
  auto w = RecordingWriter::create(path, h, false);
  w->append(make_batch(h, 0, n));
  w->close();
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("float16 conversion rounds to nearest even and keeps specials", "[recording][hdf5]") {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = h5::half_to_float(uint16_t(h));
    if (std::isnan(f)) {
      REQUIRE(std::isnan(h5::half_to_float(h5::float_to_half(f))));
      continue;
    }
    REQUIRE(h5::float_to_half(f) == h);  // every half value round-trips exactly
  }
  REQUIRE(h5::half_to_float(h5::float_to_half(1.0f)) == 1.0f);
  REQUIRE(h5::float_to_half(1.0f + 1.0f / 2048) == 0x3c00);  // tie -> even (down)
  REQUIRE(h5::float_to_half(1.0f + 3.0f / 2048) == 0x3c02);  // tie -> even (up)
  REQUIRE(h5::float_to_half(65520.0f) == 0x7c00);            // rounds to inf
  REQUIRE(h5::float_to_half(65519.0f) == 0x7bff);            // max half
  REQUIRE(h5::float_to_half(-std::numeric_limits<float>::infinity()) == 0xfc00);
  REQUIRE(h5::float_to_half(1e-8f) == 0x0000);          // below half subnormals
  REQUIRE(h5::float_to_half(5.9604645e-8f) == 0x0001);  // smallest subnormal
}

TEST_CASE("hdf5 helpers: columns, matrices, attributes, dotted names", "[recording][hdf5]") {
  TempDir tmp;
  const fs::path path = tmp / "h.h5";
  {
    h5::Id f = h5::create_file(path, true);
    h5::Id g = h5::create_group(f, "a.b.c");  // one group, dots included
    h5::Id ints = h5::create_column(g, "ints", h5::Dtype::kInt64, {2, 0, std::nullopt});
    h5::append(ints, std::vector<int64_t>{1, 2, 3});
    h5::append(ints, std::vector<int64_t>{});
    h5::append(ints, std::vector<int64_t>{-4});
    h5::Id strs = h5::create_column(g, "strs", h5::Dtype::kString, {2, 5, std::nullopt});
    h5::append(strs, std::vector<std::string>{"x", "", "ünï ✓"});
    h5::Id m = h5::create_matrix(g, "m", h5::Dtype::kFloat16, 3, {2, 1});
    const float data[] = {1, 2, 3, 4, 5, 6.5f};
    h5::append_rows(m, data, 2);
    h5::set_attr(g, "s", std::string("v"));
    h5::set_attr(g, "i", int64_t(7));
    h5::set_attr(g, "i", int64_t(8));  // rewritten in place
    h5::set_attr(g, "v", std::vector<int64_t>{1, 2});
    h5::flush(f, true);
    f.close();
  }
  h5::Id f = h5::open_file(path, false);
  REQUIRE(h5::children(f) == std::vector<std::string>{"a.b.c"});
  h5::Id g = h5::open_group(f, "a.b.c");
  REQUIRE(h5::read_int64(h5::open_dataset(g, "ints")) == std::vector<int64_t>{1, 2, 3, -4});
  REQUIRE(h5::read_int64(h5::open_dataset(g, "ints"), 1, 3) == std::vector<int64_t>{2, 3});
  REQUIRE(h5::read_strings(h5::open_dataset(g, "strs")) == std::vector<std::string>{"x", "", "ünï ✓"});
  h5::Id m = h5::open_dataset(g, "m");
  REQUIRE(h5::dtype_of(m) == h5::Dtype::kFloat16);
  REQUIRE(h5::n_rows(m) == 2);
  REQUIRE(h5::width(m) == 3);
  float out[3];
  h5::read_rows(m, 1, 2, out);
  REQUIRE(out[0] == 4);
  REQUIRE(out[2] == 6.5f);
  REQUIRE(h5::get_string_attr(g, "s") == "v");
  REQUIRE(h5::get_int_attr(g, "i") == 8);
  REQUIRE(h5::get_int_vector_attr(g, "v") == std::vector<int64_t>{1, 2});
  REQUIRE_THROWS_AS(h5::get_string_attr(g, "nope"), DataError);
  REQUIRE_THROWS_AS(h5::open_dataset(g, "nope"), DataError);
}

TEST_CASE("writer and reader round-trip every table and recording", "[recording]") {
  TempDir tmp;
  for (const std::string dtype : {"float32", "float16"}) {
    for (int gzip : {0, 4}) {
      const fs::path path = tmp / ("rt_" + dtype + std::to_string(gzip) + ".h5");
      RecordingHeader h = make_header(dtype, gzip);
      std::vector<std::vector<int64_t>> commits;
      {
        auto w = RecordingWriter::create(path, h, false);
        w->set_on_committed([&](const std::vector<int64_t>& idx) { commits.push_back(idx); });
        w->append(make_batch(h, 0, 3));
        w->append(make_batch(h, 3, 1));
        w->append({});
        w->append(make_batch(h, 4, 4));
        w->close();
        REQUIRE(w->finished_trials() == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7});
      }
      REQUIRE(commits.size() == 4);
      REQUIRE(commits[0] == std::vector<int64_t>{0, 1, 2});
      REQUIRE(commits[1] == std::vector<int64_t>{3});

      {  // gzip is applied at close (WriterOptions::compress_on_close)
        h5::Id f = h5::open_file(path, false);
        h5::Id ds = h5::open_dataset(h5::open_group(f, "trials"), "index");
        h5::Id dcpl(H5Dget_create_plist(ds));
        REQUIRE(H5Pget_nfilters(dcpl) == (gzip ? 2 : 0));  // shuffle + deflate
        REQUIRE(!fs::exists(path.string() + ".compressing"));
      }
      RecordingReader r(path);
      REQUIRE(r.format_version() == 1);
      REQUIRE(r.attr("format") == "rig-recording");
      REQUIRE(r.attr("model") == "EleutherAI/pythia-14m");
      REQUIRE(r.attr("rig_version").has_value());
      REQUIRE(r.attr("created").value().size() == 20);
      REQUIRE(r.int_attrs().at("seed") == 1);
      REQUIRE(r.int_attrs().at("n_trials_committed") == 8);
      REQUIRE(r.dtype() == dtype);
      REQUIRE(r.stimuli().size() == 2);
      REQUIRE(r.stimuli()[1].prompt == "Größe ✓");
      REQUIRE(r.stimuli()[0].extra.at("topic") == FieldValue(std::string("greeting")));
      REQUIRE(r.stimuli()[0].extra.at("lang") == FieldValue(std::string()));
      REQUIRE(r.electrodes().size() == 2);
      REQUIRE(r.electrodes()[0].site == h.electrodes[0].site);
      REQUIRE(r.electrodes()[1].neurons == h.electrodes[1].neurons);
      REQUIRE(r.electrodes()[1].site_width == 10);
      REQUIRE(r.electrodes()[1].side == Side::kInput);
      REQUIRE(r.event_names() == h.events);
      REQUIRE(r.trials().size() == 8);
      int64_t row = 0;
      for (size_t i = 0; i < 8; ++i) {
        const TrialRow& t = r.trials()[i];
        REQUIRE(t.row_start == row);
        row = t.row_stop;
        require_same(r.trial(i), make_trial(h, int64_t(i)));
      }
      REQUIRE(r.n_rows() == row);
      // A block across trial boundaries.
      std::vector<float> block = r.read_rows(1, 1, 6);
      REQUIRE(block.size() == 5 * 3);
      REQUIRE(block[0] == value(0, 1, 0, 1));
      REQUIRE(block[14] == value(1, 3, 2, 1));  // trial 0 has 2 rows, trial 1 rows 2..5
      const auto ev = r.events("response_start");
      REQUIRE(ev.size() == 6);  // trials with n_generated > 0
      REQUIRE(ev[0].trial == 1);
      REQUIRE(ev[0].row == r.trials()[1].row_start + 3);
      REQUIRE_THROWS_AS(r.events("nope"), DataError);
      REQUIRE_THROWS_AS(r.read_rows(0, 0, r.n_rows() + 1), Error);
    }
  }
}

TEST_CASE("event_rows: each trial's row of a recorded or built-in event, -1 where none", "[recording]") {
  TempDir tmp;
  const fs::path path = tmp / "events.h5";
  RecordingHeader h = make_header();
  write_recording(path, h, 8);
  RecordingReader r(path);
  const auto recorded = r.event_rows("response_start");  // /events/response_start
  const auto builtin = r.event_rows("response_onset");   // computed from the /trials columns
  const auto eos = r.event_rows("eos");                  // no trial ended by EOS
  REQUIRE(recorded.size() == 8);
  for (size_t i = 0; i < 8; ++i) {
    const TrialRow& t = r.trials()[i];
    const int64_t expect = t.n_generated ? t.row_start + t.n_prompt_tokens : -1;
    CHECK(recorded[i] == expect);
    CHECK(builtin[i] == expect);
    CHECK(eos[i] == -1);
  }
  CHECK(r.event_rows("prompt_onset")[3] == r.trials()[3].row_start);
  try {
    r.event_rows("nope");
    FAIL("no error");
  } catch (const DataError& e) {
    CHECK_THAT(e.what(), Catch::Contains("no event 'nope' (recorded: response_start, stim_on; built in: "));
  }
}

TEST_CASE("create refuses an existing file without force", "[recording]") {
  TempDir tmp;
  const fs::path path = tmp / "x.h5";
  RecordingHeader h = make_header();
  RecordingWriter::create(path, h, false)->close();
  const std::string msg = message_of([&] { RecordingWriter::create(path, h, false); });
  REQUIRE_THAT(msg, Catch::Matchers::Contains("--force"));
  REQUIRE_THAT(msg, Catch::Matchers::Contains("--resume"));
  REQUIRE_THROWS_AS(RecordingWriter::create(path, h, false), ConfigError);
  auto w = RecordingWriter::create(path, h, true);
  w->append(make_batch(h, 0, 1));
  w->close();
  REQUIRE(RecordingReader(path).trials().size() == 1);
}

TEST_CASE("bad headers and trials are refused with a message", "[recording]") {
  TempDir tmp;
  RecordingHeader h = make_header();
  h.dtype = "bfloat16";
  REQUIRE_THROWS_AS(RecordingWriter::create(tmp / "a.h5", h, false), ConfigError);
  h = make_header();
  h.electrodes.push_back(h.electrodes[0]);
  REQUIRE_THAT(message_of([&] { RecordingWriter::create(tmp / "b.h5", h, false); }),
               Catch::Matchers::Contains("listed twice"));

  h = make_header();
  auto w = RecordingWriter::create(tmp / "c.h5", h, false);
  TrialResult t = make_trial(h, 0);
  t.recordings[1].pop_back();
  REQUIRE_THAT(message_of([&] { w->append({t}); }), Catch::Matchers::Contains("gpt_neox.layers.1/input"));
  t = make_trial(h, 0);
  t.events["nope"] = 0;
  REQUIRE_THAT(message_of([&] { w->append({t}); }), Catch::Matchers::Contains("event 'nope'"));
  w->append(make_batch(h, 0, 2));
  REQUIRE_THAT(message_of([&] { w->append(make_batch(h, 1, 1)); }),
               Catch::Matchers::Contains("trial 1: already recorded"));
  w->close();
  REQUIRE(RecordingReader(tmp / "c.h5").trials().size() == 2);
}

TEST_CASE("resume continues a recording and equals an uninterrupted one", "[recording]") {
  TempDir tmp;
  RecordingHeader h = make_header("float16", 0);
  write_recording(tmp / "full.h5", h, 8);
  {
    auto w = RecordingWriter::create(tmp / "part.h5", h, false);
    w->append(make_batch(h, 0, 2));
    w->append(make_batch(h, 2, 3));
    w->close();
  }
  auto w = RecordingWriter::resume(tmp / "part.h5", h);
  REQUIRE(w->finished_trials() == std::vector<int64_t>{0, 1, 2, 3, 4});
  REQUIRE_THROWS_WITH(w->append(make_batch(h, 4, 1)), Catch::Matchers::Contains("already"));
  w->append(make_batch(h, 5, 3));
  w->close();
  RecordingReader a(tmp / "full.h5"), b(tmp / "part.h5");
  REQUIRE(b.trials().size() == 8);
  REQUIRE(b.int_attrs().at("n_resumes") == 1);
  for (size_t i = 0; i < 8; ++i) require_same(a.trial(i), b.trial(i));
  REQUIRE(a.n_rows() == b.n_rows());
}

TEST_CASE("resume names what differs from the file", "[recording]") {
  TempDir tmp;
  RecordingHeader h = make_header();
  RecordingWriter::create(tmp / "r.h5", h, false)->close();
  RecordingHeader other = h;
  other.attrs["config_hash"] = "zzz";
  other.attrs["config"] = "model: pythia\nseed: 2\n";
  other.electrodes[0].site_width = 7;
  const std::string msg = message_of([&] { RecordingWriter::resume(tmp / "r.h5", other); });
  REQUIRE_THAT(msg, Catch::Matchers::Contains("different experiment"));
  REQUIRE_THAT(msg, Catch::Matchers::Contains("'config_hash': file has 'abc123', this run has 'zzz'"));
  REQUIRE_THAT(msg, Catch::Matchers::Contains("line 2: file has 'seed: 1', this run has 'seed: 2'"));
  REQUIRE_THAT(msg, Catch::Matchers::Contains("file has 6 neurons, this run has 7"));
  REQUIRE_THROWS_AS(RecordingWriter::resume(tmp / "r.h5", other), ConfigError);
  REQUIRE_THROWS_AS(RecordingWriter::resume(tmp / "missing.h5", h), ConfigError);
}

TEST_CASE("resume cuts rows a killed writer left beyond the last committed trial", "[recording]") {
  TempDir tmp;
  const fs::path path = tmp / "k.h5";
  RecordingHeader h = make_header();
  write_recording(path, h, 3);
  {  // What a writer killed mid-batch leaves: rows in some datasets, no commit.
    h5::Id f = h5::open_file(path, true);
    h5::Id trials = h5::open_group(f, "trials");
    h5::append(h5::open_dataset(trials, "index"), std::vector<int64_t>{99});
    h5::Id tokens = h5::open_group(f, "tokens");
    h5::append(h5::open_dataset(tokens, "token_id"), std::vector<int64_t>{1, 2, 3});
    h5::Id ev = h5::open_group(h5::open_group(f, "events"), "stim_on");
    h5::append(h5::open_dataset(ev, "trial"), std::vector<int64_t>{99});
    h5::append(h5::open_dataset(ev, "row"), std::vector<int64_t>{1000});
    h5::Id rec = h5::open_dataset(h5::open_group(h5::open_group(f, "recordings"), h.electrodes[0].site), "output");
    std::vector<float> junk(6 * 4, 9.f);
    h5::append_rows(rec, junk.data(), 4);
    f.close();
  }
  {
    RecordingReader r(path);  // reads the committed part only
    REQUIRE(r.trials().size() == 3);
    REQUIRE(r.events("stim_on").size() == 3);
  }
  auto w = RecordingWriter::resume(path, h);
  REQUIRE(w->finished_trials() == std::vector<int64_t>{0, 1, 2});
  w->append(make_batch(h, 3, 2));
  w->close();
  RecordingReader r(path);
  REQUIRE(r.trials().size() == 5);
  for (size_t i = 0; i < 5; ++i) require_same(r.trial(i), make_trial(h, int64_t(i)));
  h5::Id f = h5::open_file(path, false);
  REQUIRE(int64_t(h5::n_rows(h5::open_dataset(h5::open_group(f, "tokens"), "token_id"))) == r.n_rows());
  REQUIRE(h5::n_rows(h5::open_dataset(h5::open_group(f, "trials"), "index")) == 5);
}

TEST_CASE("an error on the writer thread surfaces on the next append or close", "[recording]") {
  TempDir tmp;
  RecordingHeader h = make_header();
  auto w = RecordingWriter::create(tmp / "e.h5", h, false);
  w->set_on_committed([](const std::vector<int64_t>&) { throw Error("callback failed"); });
  w->append(make_batch(h, 0, 1));
  // The error arrives asynchronously: the next append or close rethrows it.
  std::string msg;
  for (int i = 1; i < 50 && msg.empty(); ++i) {
    msg = message_of([&] { w->append(make_batch(h, i, 1)); });
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (msg.empty()) msg = message_of([&] { w->close(); });
  REQUIRE(msg == "callback failed");
  REQUIRE_THROWS_WITH(w->close(), "callback failed");
  REQUIRE_NOTHROW(w->close());  // closed now
  REQUIRE(RecordingReader(tmp / "e.h5").trials().size() >= 1);
}

TEST_CASE("append blocks while the queue is full", "[recording]") {
  TempDir tmp;
  RecordingHeader h = make_header();
  WriterOptions opt;
  opt.max_queued_batches = 2;
  opt.fsync = false;
  opt.separate_process = false;  // the count below is the thread's queue (a child adds the socket's)
  auto w = RecordingWriter::create(tmp / "q.h5", h, false, opt);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  w->set_on_committed([&](const std::vector<int64_t>&) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
  });
  std::atomic<int> appended{0};
  std::thread producer([&] {
    for (int i = 0; i < 6; ++i) {
      w->append(make_batch(h, i, 1));
      ++appended;
    }
  });
  // One in the (stuck) writer, two queued: reached soon (20 s at most on a loaded machine) ...
  for (int i = 0; i < 2000 && appended.load() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(appended.load() == 3);  // ... and not passed
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  producer.join();
  w->close();
  REQUIRE(RecordingReader(tmp / "q.h5").trials().size() == 6);
}

TEST_CASE("reader errors name the file and what is wrong", "[recording]") {
  TempDir tmp;
  { std::ofstream(tmp / "text.h5") << "not hdf5"; }
  REQUIRE_THAT(message_of([&] { RecordingReader r(tmp / "text.h5"); }),
               Catch::Matchers::Contains("text.h5: not an HDF5 file"));
  REQUIRE_THROWS_AS(RecordingReader(tmp / "none.h5"), DataError);
  {
    h5::Id f = h5::create_file(tmp / "other.h5", true);
    h5::set_attr(f, "format", std::string("nwb"));
  }
  REQUIRE_THAT(message_of([&] { RecordingReader r(tmp / "other.h5"); }),
               Catch::Matchers::Contains("not a rig recording (root attribute 'format' is 'nwb'"));
  RecordingHeader h = make_header();
  RecordingWriter::create(tmp / "v2.h5", h, false)->close();
  {
    h5::Id f = h5::open_file(tmp / "v2.h5", true);
    h5::set_attr(f, "format_version", int64_t(2));
  }
  REQUIRE_THAT(message_of([&] { RecordingReader r(tmp / "v2.h5"); }),
               Catch::Matchers::Contains("format_version 2 is not supported"));
  REQUIRE_THROWS_AS(RecordingReader(tmp / "v2.h5"), DataError);
}

TEST_CASE("MemorySink keeps trials and commits synchronously", "[recording]") {
  RecordingHeader h = make_header();
  MemorySink sink(h, {make_trial(h, 0)});
  REQUIRE(sink.finished_trials() == std::vector<int64_t>{0});
  std::vector<int64_t> committed;
  sink.set_on_committed(
      [&](const std::vector<int64_t>& idx) { committed.insert(committed.end(), idx.begin(), idx.end()); });
  RecordingSink& s = sink;
  s.append(make_batch(h, 1, 2));
  REQUIRE(committed == std::vector<int64_t>{1, 2});
  REQUIRE_THROWS_WITH(s.append(make_batch(h, 2, 1)), Catch::Matchers::Contains("already"));
  TrialResult bad = make_trial(h, 5);
  bad.recordings.pop_back();
  REQUIRE_THROWS_AS(s.append({bad}), Error);
  s.close();
  REQUIRE(sink.closed());
  REQUIRE(sink.trials().size() == 3);
  REQUIRE(sink.n_batches() == 1);
  require_same(sink.trials()[2], make_trial(h, 2));
}

TEST_CASE("the writer process closes the file with every committed trial when rig dies", "[recording]") {
  TempDir tmp;
  const fs::path path = tmp / "orphan.h5";
  RecordingHeader h = make_header();
  // A stand-in for rig: appends 3 batches, waits until they are reported committed, then dies
  // without closing the writer (as SIGKILL would).
  const pid_t rig = ::fork();
  REQUIRE(rig >= 0);
  if (rig == 0) {
    try {
      auto w = RecordingWriter::create(path, h, false);
      std::atomic<int> committed{0};
      w->set_on_committed([&](const std::vector<int64_t>& idx) { committed += int(idx.size()); });
      for (int b = 0; b < 3; ++b) w->append(make_batch(h, 2 * b, 2));
      for (int i = 0; i < 2000 && committed < 6; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (committed < 6) ::_exit(4);
      w.release();  // no close(), no destructor: the writer process finds the socket closed
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(rig, &status, 0) == rig);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  // The orphaned writer process holds HDF5's lock until it has closed the file.
  std::unique_ptr<RecordingReader> r;
  for (int i = 0; i < 600 && !r; ++i) {
    try {
      r = std::make_unique<RecordingReader>(path);
    } catch (const DataError& e) {
      REQUIRE_THAT(e.what(), Catch::Matchers::Contains("unable to lock file"));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  REQUIRE(r);
  REQUIRE(r->trials().size() == 6);  // every trial reported committed, in a closed file
  for (size_t i = 0; i < 6; ++i) CHECK(r->trial(i).index == int64_t(i));
}

TEST_CASE("recordings reach the writer process through shared memory or the socket, in any mix", "[recording]") {
  TempDir tmp;
  RecordingHeader h = make_header();
  h.n_trials_planned = 60;
  // Trials here carry 36-216 bytes of recordings: with 600 bytes of shared memory, batches of
  // 1-3 trials fit (several in flight, wrapping around) and batches of 8 cross the socket.
  for (const size_t shared : {size_t(600), size_t(0), size_t(256) << 20}) {
    const fs::path path = tmp / ("mix" + std::to_string(shared) + ".h5");
    WriterOptions opt;
    opt.shared_memory_bytes = shared;
    std::vector<int64_t> committed;
    {
      auto w = RecordingWriter::create(path, h, false, opt);
      w->set_on_committed(
          [&](const std::vector<int64_t>& idx) { committed.insert(committed.end(), idx.begin(), idx.end()); });
      const int64_t sizes[] = {1, 3, 8, 2, 1, 8, 3, 3, 2, 1, 8, 2, 3, 1, 8, 3, 2, 1};
      int64_t next = 0;
      for (const int64_t n : sizes) {
        w->append(make_batch(h, next, n));
        next += n;
      }
      REQUIRE(next == 60);
      w->close();
    }
    REQUIRE(committed.size() == 60);
    for (size_t i = 0; i < 60; ++i) REQUIRE(committed[i] == int64_t(i));
    RecordingReader r(path);
    REQUIRE(r.trials().size() == 60);
    for (size_t i = 0; i < 60; ++i) require_same(r.trial(i), make_trial(h, int64_t(i)));
  }
}

TEST_CASE("write_now writes rows from where they lie and commits at once", "[recording]") {
  TempDir tmp;
  const fs::path path = tmp / "now.h5";
  RecordingHeader h = make_header();
  WriterOptions opt;
  opt.separate_process = false;
  auto w = RecordingWriter::create(path, h, false, opt);
  std::vector<int64_t> committed;
  w->set_on_committed(
      [&](const std::vector<int64_t>& idx) { committed.insert(committed.end(), idx.begin(), idx.end()); });
  std::vector<TrialResult> batch = make_batch(h, 0, 3);
  std::vector<TrialResult> bare = batch;  // the recordings lie elsewhere
  for (auto& t : bare) t.recordings.clear();
  w->write_now(bare, [&](size_t i, size_t e) { return batch[i].recordings[e].data(); });
  REQUIRE(committed == std::vector<int64_t>{0, 1, 2});  // before write_now returned
  w->close();
  REQUIRE_THROWS_AS(w->write_now(bare, [&](size_t i, size_t e) { return batch[i].recordings[e].data(); }), Error);
  RecordingReader r(path);
  REQUIRE(r.trials().size() == 3);
  for (size_t i = 0; i < 3; ++i) require_same(r.trial(i), make_trial(h, int64_t(i)));
}

TEST_CASE("files describe themselves: tables, electrodes, identifier, both dtypes", "[recording]") {
  TempDir tmp;
  RecordingHeader h = make_header("float16", 0);
  h.attrs["dtype"] = "bfloat16";  // the model's compute dtype, as the runner sets it
  h.electrodes[1].layer = 1;
  write_recording(tmp / "r.h5", h, 3);
  std::string id;
  {
    h5::Id f = h5::open_file(tmp / "r.h5", false);
    h5::Id root = h5::open_group(f, "/");
    REQUIRE(h5::get_string_attr(root, "dtype") == "bfloat16");
    REQUIRE(h5::get_string_attr(root, "recording_dtype") == "float16");
    id = h5::get_string_attr(root, "identifier");
    REQUIRE(id.size() == 36);
    REQUIRE(id[14] == '4');  // a version 4 UUID
    h5::Id trials = h5::open_group(root, "trials");
    const auto cols = h5::get_string_vector_attr(trials, "colnames");
    REQUIRE(cols.size() == 15);  // the fixed columns, then one per stimulus field
    REQUIRE(cols.front() == "index");
    REQUIRE(cols[12] == "finish_reason");
    REQUIRE(cols.back() == "topic");
    REQUIRE(!h5::get_string_attr(trials, "description").empty());
    for (const auto& c : cols) REQUIRE(!h5::get_string_attr(h5::open_dataset(trials, c), "description").empty());
    h5::Id stimuli = h5::open_group(root, "stimuli");
    REQUIRE(h5::get_string_vector_attr(stimuli, "colnames") ==
            std::vector<std::string>{"index", "condition", "prompt", "lang", "topic"});
    h5::Id ev = h5::open_group(h5::open_group(root, "events"), "stim_on");
    REQUIRE(h5::get_string_vector_attr(ev, "colnames") == std::vector<std::string>{"trial", "row"});
    h5::Id el = h5::open_group(root, "electrodes");
    REQUIRE(h5::get_string_vector_attr(el, "colnames") ==
            std::vector<std::string>{"site", "side", "module_type", "width", "layer", "alias"});
    REQUIRE(h5::read_strings(h5::open_dataset(el, "site")) ==
            std::vector<std::string>{"gpt_neox.layers.0.mlp.dense_4h_to_h", "gpt_neox.layers.1"});
    REQUIRE(h5::read_strings(h5::open_dataset(el, "side")) == std::vector<std::string>{"output", "input"});
    REQUIRE(h5::read_strings(h5::open_dataset(el, "module_type")) ==
            std::vector<std::string>{"Linear", "GPTNeoXLayer"});
    REQUIRE(h5::read_int64(h5::open_dataset(el, "width")) == std::vector<int64_t>{6, 3});
    REQUIRE(h5::read_int64(h5::open_dataset(el, "layer")) == std::vector<int64_t>{-1, 1});
    REQUIRE(h5::read_strings(h5::open_dataset(el, "alias")) == std::vector<std::string>{"", ""});  // none used
  }
  {
    RecordingReader r(tmp / "r.h5");
    REQUIRE(r.dtype() == "float16");
    REQUIRE(r.electrodes()[1].layer == 1);
    REQUIRE(r.attr("identifier") == id);
  }
  // Resume keeps the identifier and takes a bfloat16 run (whose dtype the file once lost).
  auto w = RecordingWriter::resume(tmp / "r.h5", h);
  w->append(make_batch(h, 3, 2));
  w->close();
  RecordingReader again(tmp / "r.h5");
  REQUIRE(again.attr("identifier") == id);
  REQUIRE(again.attr("dtype") == std::string("bfloat16"));
  REQUIRE(again.trials().size() == 5);
  // Another file gets another identifier.
  RecordingWriter::create(tmp / "other.h5", h, false)->close();
  REQUIRE(RecordingReader(tmp / "other.h5").attr("identifier") != id);
}

TEST_CASE("a file of an older rig (recording dtype in `dtype`) reads and resumes", "[recording]") {
  TempDir tmp;
  RecordingHeader h = make_header("float32", 0);
  {
    auto w = RecordingWriter::create(tmp / "old.h5", h, false);
    w->append(make_batch(h, 0, 2));
    w->close();
  }
  {  // as the writer before recording_dtype left it
    h5::Id f = h5::open_file(tmp / "old.h5", true);
    h5::Id root = h5::open_group(f, "/");
    REQUIRE(H5Adelete(root, "recording_dtype") >= 0);
    REQUIRE(H5Adelete(root, "identifier") >= 0);
    h5::set_attr(root, "dtype", std::string("float32"));
  }
  REQUIRE(RecordingReader(tmp / "old.h5").dtype() == "float32");
  h.attrs["dtype"] = "bfloat16";
  auto w = RecordingWriter::resume(tmp / "old.h5", h);
  w->append(make_batch(h, 2, 1));
  w->close();
  RecordingReader r(tmp / "old.h5");
  REQUIRE(r.attr("dtype") == std::string("bfloat16"));
  REQUIRE(r.attr("recording_dtype") == std::string("float32"));
  REQUIRE(r.attr("identifier").value_or("").size() == 36);
  REQUIRE(r.trials().size() == 3);
}

TEST_CASE("probe_lock tells a held lock from a free file", "[recording][hdf5]") {
  TempDir tmp;
  std::ofstream(tmp / "f.bin") << "x";
  REQUIRE(h5::probe_lock(tmp / "f.bin") == h5::LockState::kFree);
  REQUIRE(h5::probe_lock(tmp / "missing.bin") == h5::LockState::kFree);
  {
    h5::Id f = h5::create_file(tmp / "held.h5", true);  // HDF5 holds its flock while open
    REQUIRE(h5::probe_lock(tmp / "held.h5") == h5::LockState::kHeld);
  }
  REQUIRE(h5::probe_lock(tmp / "held.h5") == h5::LockState::kFree);
  // (kUnsupported needs a file system without locks: tests/e2e/test_lockless_fs.py fakes one.)
}
