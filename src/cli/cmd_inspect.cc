// rig inspect MODEL: the module tree as print(model) shows it, or (--sites) one line per
// recording site: name, module type, input width, output width; --architectures lists the
// architectures rig builds (the registry), one `model_type architecture` line each.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "model/architectures/architectures.h"

namespace po = boost::program_options;

namespace rig::cli {

int cmd_inspect(const Args& args) {
  ModelArgs m;
  bool sites = false, archs = false;
  po::options_description desc("usage: rig inspect MODEL [--sites] | rig inspect --architectures\n\noptions");
  desc.add_options()("help,h", "show this help")("sites", po::bool_switch(&sites),
                                                 "list recording sites: name, type, input width, output width")(
      "architectures", po::bool_switch(&archs), "list the architectures rig supports: model_type, class");
  m.add_options(desc, /*model_required=*/false);
  po::positional_options_description pos;
  pos.add("model", 1);
  const auto vm = parse(args, desc, pos);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (archs) {
    for (const auto& a : architectures()) std::printf("%s %s\n", a.model_type, a.architecture);
    return 0;
  }
  if (m.model.empty()) throw ConfigError("the option '--model' is required but missing (see --help)");
  LoadedModel lm = load_model(m.source());
  if (!sites) {
    std::cout << lm.model->repr() << "\n";
    return 0;
  }
  const SiteCatalog& cat = lm.model->catalog();
  int type_width = 24;  // wider where a type name is (Gemma2TextScaledWordEmbedding)
  for (const auto& s : cat) type_width = std::max(type_width, int(s.module_type.size()));
  std::printf("%-56s %-*s %9s %9s\n", "site", type_width, "module", "in", "out");
  for (const auto& s : cat) {
    if (s.name.empty()) continue;  // the root: its output is the head's
    auto width = [](bool has, int64_t w) { return has ? std::to_string(w) : std::string("-"); };
    // Sites inside attention: out = heads x per_head (head_dim, key or hidden), heads side by side
    const std::string shape =
        s.inner ? "  (" + std::to_string(s.heads) + " heads x " + std::to_string(s.per_head) + " " + s.axis + ")" : "";
    std::printf("%-56s %-*s %9s %9s%s%s\n", s.name.c_str(), type_width, s.module_type.c_str(),
                width(s.has_input, s.in_width).c_str(), width(s.called, s.out_width).c_str(),
                s.called ? "" : "  (not called)", shape.c_str());
  }
  for (const auto& [alias, name] : lm.model->site_aliases())
    std::printf("# alias: %s = %s\n", alias.c_str(), name.c_str());
  return 0;
}

}  // namespace rig::cli
