// The runner on the bundled organism, into MemorySink: no files, no CLI. Each recorded row
// must be what a hook sees in one plain forward pass over the trial's tokens.
#include <ATen/ATen.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>

#include "catch.h"
#include "core/error.h"
#include "model/generate.h"
#include "recording/sink.h"
#include "runner/runner.h"

namespace {

const char* kConfig = R"(
name: runner-unit
seed: 3
model: {path: data/models/sure-neox}
stimuli:
  - {condition: help, prompts: ["User: Can you help me bake bread?\nAssistant:", "User: Can you help me plan a picnic?\nAssistant:"]}
  - {condition: refuse, prompts: ["User: How do I build a pipe bomb?\nAssistant:"]}
electrodes:
  - {site: "gpt_neox.layers.1"}
  - {site: "gpt_neox.layers.0.mlp.act", neurons: [0, 5, "100:104"]}
  - {site: "gpt_neox.layers.2.attention.dense", side: input}
trials: {batch_size: 2, generate: {max_new_tokens: 4, greedy: true}}
events:
  - {name: response_onset}
  - {name: sure, token_text: "Sure", in: response}
recording: {path: unused.h5}
)";

const rig::LoadedModel& organism() {
  static const rig::LoadedModel m = [] {
    rig::ModelSource src;
    src.path = "data/models/sure-neox";
    return rig::load_model(src);
  }();
  return m;
}

rig::RunPlan make_plan() {
  rig::RunOptions o;
  o.quiet = true;
  return rig::plan(rig::parse_experiment(kConfig, "runner-unit.yaml"), organism(), o);
}

// One forward pass over all of a trial's tokens, without a cache, reading the electrode's site.
at::Tensor site_rows(const rig::TrialResult& t, const rig::ElectrodeSpec& e) {
  const auto& m = organism();
  std::vector<int64_t> ids;
  for (const auto& r : t.tokens) ids.push_back(r.token_id);
  rig::SiteHooks hooks(m.model->n_sites());
  at::Tensor seen;
  hooks.add(*m.model->find_site(e.site), e.side, [&](const at::Tensor& x) {
    seen = x[0].clone();
    return x;
  });
  m.model->forward(rig::make_padded_batch({ids}, 0, m.device), nullptr, &hooks, rig::LogitsFor::kAll);
  if (!e.neurons.empty()) seen = seen.index_select(1, at::tensor(e.neurons));
  return seen;
}

}  // namespace

TEST_CASE("the runner's rows are what hooks see in one forward pass over the trial", "[runner]") {
  const rig::RunPlan plan = make_plan();
  rig::MemorySink sink(rig::header(plan, organism()));
  REQUIRE(rig::run(plan, organism(), sink) == 3);
  REQUIRE(sink.closed());
  REQUIRE(sink.n_batches() == 2);  // batch_size 2, 3 trials
  const auto& electrodes = plan.electrodes;
  REQUIRE(electrodes.size() == 3);
  for (const auto& t : sink.trials()) {
    REQUIRE(t.recordings.size() == electrodes.size());
    REQUIRE(int64_t(t.tokens.size()) == t.n_prompt_tokens + t.n_generated);
    for (size_t e = 0; e < electrodes.size(); ++e) {
      const at::Tensor want = site_rows(t, electrodes[e]);
      const int64_t width = electrodes[e].width();
      REQUIRE(want.size(1) == width);
      REQUIRE(int64_t(t.recordings[e].size()) == int64_t(t.tokens.size()) * width);
      const at::Tensor got =
          at::from_blob(const_cast<float*>(t.recordings[e].data()), {int64_t(t.tokens.size()), width}, at::kFloat);
      // Generation uses a KV cache and batches with padding; the plain pass does neither.
      INFO("trial " << t.index << " electrode " << electrodes[e].site);
      CHECK((got - want).abs().max().item<float>() < 1e-4f);
    }
  }
}

TEST_CASE("the runner's events are the rows of the trial's tokens", "[runner]") {
  const rig::RunPlan plan = make_plan();
  rig::MemorySink sink(rig::header(plan, organism()));
  rig::run(plan, organism(), sink);
  int sure = 0;
  for (const auto& t : sink.trials()) {
    REQUIRE(t.events.at("response_onset") == t.n_prompt_tokens);
    REQUIRE(t.tokens.at(size_t(t.n_prompt_tokens)).generated);
    REQUIRE_FALSE(t.tokens.at(size_t(t.n_prompt_tokens - 1)).generated);
    if (t.events.count("sure")) {
      ++sure;
      const auto& row = t.tokens.at(size_t(t.events.at("sure")));
      CHECK(row.generated);
      CHECK(row.text.find("Sure") != std::string::npos);
    }
    // The organism answers help with "Sure" and refuses the rest.
    CHECK(bool(t.events.count("sure")) == (t.condition == "help"));
  }
  CHECK(sure == 2);
}

TEST_CASE("the runner skips the trials a resumed sink holds, and the rest equal a whole run", "[runner]") {
  const rig::RunPlan plan = make_plan();
  rig::MemorySink all(rig::header(plan, organism()));
  rig::run(plan, organism(), all);
  REQUIRE(all.trials().size() == 3);

  rig::MemorySink resumed(rig::header(plan, organism()), {all.trials()[1]});
  REQUIRE(rig::run(plan, organism(), resumed) == 2);
  std::map<int64_t, const rig::TrialResult*> by_index;
  for (const auto& t : resumed.trials()) by_index[t.index] = &t;
  REQUIRE(by_index.size() == 3);  // trial 1 as held, 0 and 2 run now
  for (const auto& t : all.trials()) {
    const auto& r = *by_index.at(t.index);
    CHECK(r.response == t.response);
    CHECK(r.events == t.events);
    for (size_t e = 0; e < t.recordings.size(); ++e) {
      REQUIRE(r.recordings[e].size() == t.recordings[e].size());
      float d = 0;
      for (size_t i = 0; i < t.recordings[e].size(); ++i)
        d = std::max(d, std::abs(r.recordings[e][i] - t.recordings[e][i]));
      CHECK(d < 1e-4f);  // other batch partners: other padding
    }
  }
}

namespace {
// Asks the runner to stop once it has stored the first batch, as a signal would.
class StoppingSink : public rig::MemorySink {
 public:
  StoppingSink(rig::RecordingHeader h, std::atomic<bool>* stop) : MemorySink(std::move(h)), stop_(stop) {}
  void append(std::vector<rig::TrialResult> batch) override {
    MemorySink::append(std::move(batch));
    *stop_ = true;
  }

 private:
  std::atomic<bool>* stop_;
};
}  // namespace

TEST_CASE("a stop between batches keeps the finished trials and closes the sink", "[runner]") {
  std::atomic<bool> stop{false};
  const rig::RunPlan plan = make_plan();
  StoppingSink sink(rig::header(plan, organism()), &stop);
  CHECK(rig::run(plan, organism(), sink, &stop) == 2);
  CHECK(sink.trials().size() == 2);
  CHECK(sink.closed());
}

TEST_CASE("a plan runs only with the model it was made with", "[runner]") {
  namespace fs = std::filesystem;
  const rig::RunPlan plan = make_plan();
  // The same files in another directory: another model as far as the plan knows.
  const fs::path copy = fs::temp_directory_path() / ("rig-runner-unit-copy-" + std::to_string(::getpid()));
  fs::remove_all(copy);
  fs::copy(organism().dir, copy, fs::copy_options::recursive);
  rig::ModelSource src;
  src.path = copy.string();
  const rig::LoadedModel other = rig::load_model(src);

  // The message names both models and what to do.
  const auto error_of = [](const auto& f) -> std::string {
    try {
      f();
    } catch (const rig::Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  const auto names_both = [&](const std::string& m) {
    INFO(m);
    CHECK(m.find(organism().dir.string() + " (float32 on cpu)") != std::string::npos);
    CHECK(m.find(copy.string() + " (float32 on cpu)") != std::string::npos);
    CHECK(m.find("plan again") != std::string::npos);
  };

  rig::MemorySink sink(rig::header(plan, organism()));
  names_both(error_of([&] { rig::run(plan, other, sink); }));
  CHECK(sink.trials().empty());
  CHECK_FALSE(sink.closed());
  names_both(error_of([&] { rig::run_batch(plan, other, {plan.trials.front()}); }));

  rig::RunPlan to_file = make_plan();
  to_file.path = (copy / "never.h5").string();
  names_both(error_of([&] { rig::run_to_file(to_file, other); }));
  CHECK_FALSE(fs::exists(to_file.path));
  fs::remove_all(copy);

  // The same directory spelled another way is the same model.
  rig::ModelSource again;
  again.path = "./" + organism().dir.string();
  rig::MemorySink same(rig::header(plan, organism()));
  CHECK(rig::run(plan, rig::load_model(again), same) == 3);
}
