// rig generate MODEL --prompt TEXT: the model's continuation, greedy or sampled. No
// recording: a quick look at what a model says.
#include <iostream>

#include "cli/commands.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "model/generate.h"

namespace po = boost::program_options;

namespace rig::cli {

int cmd_generate(const Args& args) {
  ModelArgs m;
  std::string prompt;
  GenerateOptions o;
  uint64_t seed = 0;
  bool sample = false, no_special = false;
  po::options_description desc("usage: rig generate MODEL --prompt TEXT [options]\n\noptions");
  desc.add_options()("help,h", "show this help")("prompt,p", po::value(&prompt)->required(), "the prompt text")(
      "max-new-tokens,n", po::value(&o.max_new_tokens)->default_value(32), "tokens to generate")(
      "sample", po::bool_switch(&sample), "sample instead of greedy decoding")(
      "temperature", po::value(&o.temperature)->default_value(1.0), "sampling temperature (> 0)")(
      "top-k", po::value(&o.top_k)->default_value(0), "keep the k most likely tokens (0 = all)")(
      "top-p", po::value(&o.top_p)->default_value(1.0), "nucleus sampling mass (1 = off)")(
      "seed", po::value(&seed)->default_value(0), "sampling seed")("stop-at-eos", po::bool_switch(&o.stop_at_eos),
                                                                   "stop at the end-of-sequence token")(
      "no-special-tokens", po::bool_switch(&no_special), "do not add the tokenizer's special tokens (BOS)");
  m.add_options(desc);
  po::positional_options_description pos;
  pos.add("model", 1);
  const auto vm = parse(args, desc, pos);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  o.greedy = !sample;
  if (sample && o.temperature <= 0) throw ConfigError("--temperature: expected a number > 0");
  if (o.max_new_tokens < 0) throw ConfigError("--max-new-tokens: expected an integer >= 0");
  o.final_step = false;
  LoadedModel lm = load_model(m.source());
  o.eos_id = lm.model->config().eos_token_id ? lm.model->config().eos_token_id : lm.tokenizer->eos_id();
  const auto ids = lm.tokenizer->encode(prompt, !no_special).ids;
  IncrementalDecoder dec(*lm.tokenizer, /*skip_special_tokens=*/true);
  std::cout << prompt << std::flush;
  const auto res = generate(*lm.model, {ids}, o, {seed}, nullptr, lm.device, nullptr);
  for (int64_t id : res[0].new_ids) std::cout << dec.push(id);
  std::cout << dec.flush() << "\n";
  return 0;
}

}  // namespace rig::cli
