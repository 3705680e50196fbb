// rig inspect MODEL: the module tree as print(model) shows it, or (--sites) one line per
// recording site: name, module type, input width, output width and the TransformerLens names
// of its sides; --resolve NAME says which site and side a name (or alias) records;
// --architectures lists the architectures rig builds (the registry), one
// `model_type architecture` line each.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>

#include "cli/commands.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "model/architectures/architectures.h"
#include "model/hook_names.h"

namespace po = boost::program_options;

namespace rig::cli {

int cmd_inspect(const Args& args) {
  ModelArgs m;
  bool sites = false, archs = false;
  std::string resolve;
  po::options_description desc("usage: rig inspect MODEL [--sites] | rig inspect --architectures\n\noptions");
  desc.add_options()("help,h", "show this help")("sites", po::bool_switch(&sites),
                                                 "list recording sites: name, type, input width, output width")(
      "architectures", po::bool_switch(&archs), "list the architectures rig supports: model_type, class")(
      "resolve", po::value(&resolve), "the site and side a site name or TransformerLens alias records");
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
  if (!sites && resolve.empty()) {
    std::cout << lm.model->repr() << "\n";
    return 0;
  }
  const SiteCatalog& cat = lm.model->catalog();  // one forward pass: only when asked for
  const SiteAliases aliases = hook_aliases(lm.model->config());
  if (!resolve.empty()) {
    for (const auto& s : cat)
      if (!s.name.empty() && s.name == resolve) {
        std::printf("%s = site %s (%s), input width %s, output width %lld\n", resolve.c_str(), s.name.c_str(),
                    s.module_type.c_str(), s.has_input ? std::to_string(s.in_width).c_str() : "-",
                    (long long)s.out_width);
        return 0;
      }
    for (const auto& a : aliases) {
      if (a.alias != resolve) continue;
      if (!a.unavailable.empty())
        throw ConfigError("'" + resolve + "' names no tensor of this model: " + a.unavailable);
      for (const auto& s : cat)
        if (s.name == a.site) {
          std::printf("%s = site %s (%s), side %s, width %lld\n", resolve.c_str(), s.name.c_str(),
                      s.module_type.c_str(), side_name(a.side),
                      (long long)(a.side == Side::kInput ? s.in_width : s.out_width));
          return 0;
        }
      throw ConfigError("'" + resolve + "' is the " + side_name(a.side) + " of '" + a.site +
                        "', which is not a site of this model or this rig");
    }
    throw ConfigError("'" + resolve +
                      "' is neither a site nor an alias of this model ('rig inspect --sites' lists them)");
  }
  int type_width = 24;  // wider where a type name is (Gemma2TextScaledWordEmbedding)
  for (const auto& s : cat) type_width = std::max(type_width, int(s.module_type.size()));
  std::map<std::string, std::string> alias_of;  // site -> "in: ALIAS  out: ALIAS"
  for (const auto& a : aliases)
    if (a.unavailable.empty()) {
      std::string& t = alias_of[a.site];
      t += std::string(t.empty() ? "" : "  ") + (a.side == Side::kInput ? "in: " : "out: ") + a.alias;
    }
  std::printf("%-56s %-*s %9s %9s  %s\n", "site", type_width, "module", "in", "out", "aliases (TransformerLens)");
  for (const auto& s : cat) {
    if (s.name.empty()) continue;  // the root: its output is the head's
    auto width = [](bool has, int64_t w) { return has ? std::to_string(w) : std::string("-"); };
    const auto al = alias_of.find(s.name);
    // Sites inside attention: out = heads x per_head (head_dim, key or hidden), heads side by side
    const std::string shape = s.inner && s.heads > 0 ? "  (" + std::to_string(s.heads) + " heads x " +
                                                           std::to_string(s.per_head) + " " + s.axis + ")"
                                                     : "";
    std::printf("%-56s %-*s %9s %9s%s%s%s\n", s.name.c_str(), type_width, s.module_type.c_str(),
                width(s.has_input, s.in_width).c_str(), width(s.called, s.out_width).c_str(),
                s.called ? "" : "  (not called)", shape.c_str(),
                al == alias_of.end() ? "" : ("  " + al->second).c_str());
  }
  for (const auto& [alias, name] : lm.model->site_aliases())
    std::printf("# alias: %s = %s\n", alias.c_str(), name.c_str());
  return 0;
}

}  // namespace rig::cli
