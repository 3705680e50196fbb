// Uses the installed rig library as a user's program would. With MODEL_DIR SITE PROMPT N_NEW:
// loads a model, records one site's output through a hook and decodes greedily without a
// cache; prints the recorded shape and the prompt with its continuation. With --run CONFIG:
// plans the experiment and runs it into memory; prints each trial's index and rows. check.sh
// compares both with rig's CLI.
#include <cstdio>
#include <string>

#include "model/generate.h"
#include "model/loader.h"
#include "recording/sink.h"
#include "rig/version.h"
#include "runner/runner.h"

namespace {

int run_experiment(const char* config_path) {
  const rig::ExperimentConfig config = rig::load_experiment(config_path);
  const rig::LoadedModel model = rig::load_experiment_model(config);
  rig::RunOptions options;
  options.quiet = true;
  const rig::RunPlan plan = rig::plan(config, model, options);
  rig::MemorySink sink(rig::header(plan, model));
  rig::run(plan, model, sink);
  for (const rig::TrialResult& t : sink.trials()) std::printf("trial %ld: %zu rows\n", long(t.index), t.tokens.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--run") return run_experiment(argv[2]);
  if (argc != 5) {
    std::fprintf(stderr, "usage: consumer MODEL_DIR SITE PROMPT N_NEW | consumer --run CONFIG\n");
    return 2;
  }
  rig::ModelSource source;
  source.path = argv[1];
  const rig::LoadedModel m = rig::load_model(source);
  const auto site = m.model->find_site(argv[2]);
  if (!site) {
    std::fprintf(stderr, "no site %s\n", argv[2]);
    return 1;
  }
  std::vector<int64_t> ids = m.tokenizer->encode(argv[3], true).ids;
  const size_t n_prompt = ids.size();
  rig::SiteHooks hooks(m.model->n_sites());
  at::Tensor recorded;
  hooks.add(*site, rig::Side::kOutput, [&](const at::Tensor& x) {
    recorded = x.detach().clone();
    return x;
  });
  for (int i = 0, n = std::stoi(argv[4]); i < n; ++i) {
    const at::Tensor logits =
        m.model->forward(rig::make_padded_batch({ids}, 0, m.device), nullptr, &hooks, rig::LogitsFor::kLast);
    if (i == 0) std::printf("%s %s %ldx%ld\n", rig::kVersion, argv[2], long(recorded.size(1)), long(recorded.size(2)));
    ids.push_back(logits[0][-1].argmax().item<int64_t>());
  }
  const std::vector<int64_t> new_ids(ids.begin() + long(n_prompt), ids.end());
  std::printf("%s%s\n", argv[3], m.tokenizer->decode(new_ids, false).c_str());
  return 0;
}
