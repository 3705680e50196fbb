// The one list of a trial's values (layout::kTrialColumns): a trial crosses the writer
// process's socket and a file (writer, then reader) with every column intact, the file's
// /trials holds the list's names, types and descriptions, and docs/FORMAT.md's table is it.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "catch.h"
#include "core/error.h"
#include "io/hdf5.h"
#include "recording/layout.h"
#include "recording/reader.h"
#include "recording/writer.h"
#include "recording/writer_process.h"
#include "trial_text.h"

namespace fs = std::filesystem;
using namespace rig;
using rig::test::column_text;

namespace {

RecordingHeader header() {
  RecordingHeader h;
  h.attrs = {{"config", "columns\n"}, {"config_hash", "cols-1"}};
  for (int64_t s = 0; s < 4; ++s) h.stimuli.push_back({s, s % 2 ? "odd" : "even", "prompt " + std::to_string(s), {}});
  h.electrodes = {{"m.layers.0", Side::kOutput, "Layer", 3, {}}};
  h.events = {"x"};
  h.n_trials_planned = 9;
  return h;
}

// Trial i (1..3): every column of TrialFields set, none to its default; finish reasons
// eos, length and prompt_only (the last one has no generated tokens).
TrialResult trial(int64_t i) {
  TrialResult t;
  t.index = 4 + i;
  t.stimulus = i;
  t.condition = i % 2 ? "odd" : "even";
  t.repetition = 10 + i;
  t.seed = 0xFEDCBA9876543210ull + uint64_t(i);
  t.stimulation = "stim " + std::to_string(i);
  t.prompt = "prompt " + std::to_string(i) + " é";
  t.n_prompt_tokens = 1 + i;
  t.n_generated = i == 3 ? 0 : 2;
  t.response = t.n_generated ? "said " + std::to_string(i) : "";
  t.finish_reason = i == 1 ? FinishReason::kEos : i == 2 ? FinishReason::kLength : FinishReason::kPromptOnly;
  for (int64_t r = 0; r < t.n_prompt_tokens + t.n_generated; ++r)
    t.tokens.push_back({r, 100 * i + r, "t" + std::to_string(r), r >= t.n_prompt_tokens});
  t.events["x"] = t.n_prompt_tokens - 1;
  std::vector<float> rows;
  for (size_t k = 0; k < t.tokens.size() * 3; ++k) rows.push_back(float(i) + 0.25f * float(k));
  t.recordings.push_back(rows);
  return t;
}

// Every column of `a` and `b` (their spans too) equal, named on failure.
void require_same_columns(const TrialFields& a, const TrialSpan& sa, const TrialFields& b, const TrialSpan& sb) {
  for (const auto& c : layout::kTrialColumns) {
    INFO("/trials/" << c.name);
    REQUIRE(column_text(c, a, sa) == column_text(c, b, sb));
  }
}

}  // namespace

TEST_CASE("trial columns: a trial crosses the writer process's socket with every column", "[recording]") {
  const TrialResult t = trial(1);
  for (const auto& c : layout::kTrialColumns) {  // else a column the encoding forgot could pass
    INFO("/trials/" << c.name);
    if (!c.computed()) REQUIRE(column_text(c, t) != column_text(c, TrialFields{}));
  }
  std::vector<size_t> sizes;
  const TrialResult back = decode_trial(encode_trial(t), &sizes);
  require_same_columns(t, {}, back, {});
  REQUIRE(back.tokens.size() == t.tokens.size());
  for (size_t r = 0; r < t.tokens.size(); ++r) {
    REQUIRE(back.tokens[r].position == t.tokens[r].position);
    REQUIRE(back.tokens[r].token_id == t.tokens[r].token_id);
    REQUIRE(back.tokens[r].text == t.tokens[r].text);
    REQUIRE(back.tokens[r].generated == t.tokens[r].generated);
  }
  REQUIRE(back.events == t.events);
  REQUIRE(sizes == std::vector<size_t>{t.recordings[0].size()});
  REQUIRE(back.recordings.empty());  // the floats travel apart
}

TEST_CASE("trial columns: writer and reader keep every column, as layout.h describes it", "[recording]") {
  const fs::path dir = fs::temp_directory_path() / ("rig_cols_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  struct Remove {
    fs::path p;
    ~Remove() { fs::remove_all(p); }
  } remove{dir};
  const fs::path path = dir / "r.h5";
  const RecordingHeader h = header();
  std::vector<TrialResult> batch;
  for (int64_t i = 1; i <= 3; ++i) batch.push_back(trial(i));
  {
    auto w = RecordingWriter::create(path, h, false);  // through the writer process
    w->append(batch);
    w->close();
  }
  {
    RecordingReader r(path);
    REQUIRE(r.trials().size() == batch.size());
    int64_t row = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      const TrialSpan span{row, row + int64_t(batch[i].tokens.size())};
      require_same_columns(batch[i], span, r.trials()[i], r.trials()[i]);
      const TrialResult back = r.trial(i);
      require_same_columns(batch[i], {}, back, {});
      REQUIRE(back.recordings == batch[i].recordings);
      row = span.row_stop;
    }
  }
  {  // the file describes /trials as layout.h does
    h5::Id f = h5::open_file(path, false);
    h5::Id g = h5::open_group(f, "trials");
    const std::vector<std::string> names = h5::get_string_vector_attr(g, "colnames");
    REQUIRE(names.size() == std::size(layout::kTrialColumns));  // the header's stimuli have no extra fields
    for (size_t i = 0; i < names.size(); ++i) {
      const layout::TrialColumn& c = layout::kTrialColumns[i];
      INFO("/trials/" << c.name);
      REQUIRE(names[i] == c.name);
      h5::Id ds = h5::open_dataset(g, c.name);
      REQUIRE(h5::dtype_of(ds) == c.type);
      REQUIRE(h5::get_string_attr(ds, "description") == c.description);
    }
  }
  {  // a finish reason the enum lacks is refused by name
    h5::Id fw = h5::open_file(path, true);
    h5::Id ds = h5::open_dataset(h5::open_group(fw, "trials"), "finish_reason");
    h5::cut_rows_clean(ds, 0);
    h5::append(ds, std::vector<std::string>{"eos", "stop", "prompt_only"});
  }
  try {
    RecordingReader r(path);
    FAIL("read a finish reason 'stop'");
  } catch (const DataError& e) {
    REQUIRE(std::string(e.what()).find("/trials/finish_reason row 1 is 'stop'; expected prompt_only, length or eos") !=
            std::string::npos);
  }
}

TEST_CASE("trial columns: docs/FORMAT.md's /trials table is layout::kTrialColumns", "[recording]") {
  std::ifstream in("docs/FORMAT.md");  // tests run in the source directory
  REQUIRE(in);
  // The first table after the paragraph that starts "`/trials`:".
  std::vector<std::string> rows;
  bool in_trials = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("`/trials`:", 0) == 0) in_trials = true;
    if (!in_trials) continue;
    if (line.rfind("| `", 0) == 0) rows.push_back(line);
    else if (!rows.empty()) break;
  }
  REQUIRE(rows.size() == std::size(layout::kTrialColumns));
  for (size_t i = 0; i < rows.size(); ++i) {
    const layout::TrialColumn& c = layout::kTrialColumns[i];
    REQUIRE(rows[i] == std::string("| `") + c.name + "` | " + h5::dtype_name(c.type) + " | " + c.description + " |");
  }
}

TEST_CASE("trial columns: finish reasons by name, as /trials/finish_reason holds them", "[recording]") {
  for (FinishReason r : {FinishReason::kPromptOnly, FinishReason::kLength, FinishReason::kEos}) {
    FinishReason back = r == FinishReason::kEos ? FinishReason::kLength : FinishReason::kEos;
    REQUIRE(parse_finish_reason(finish_reason_name(r), &back));
    REQUIRE(back == r);
    REQUIRE(std::string(kFinishReasonList).find(finish_reason_name(r)) != std::string::npos);
  }
  FinishReason r = FinishReason::kLength;
  REQUIRE_FALSE(parse_finish_reason("stop", &r));
  REQUIRE(r == FinishReason::kLength);
}
