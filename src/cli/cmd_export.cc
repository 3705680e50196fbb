// rig export --nwb REC.h5 OUT.nwb: a recording as an NWB 2.x file (docs/NWB.md).
#include <iostream>

#include "cli/commands.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "export/nwb.h"

namespace po = boost::program_options;

namespace rig::cli {

int cmd_export(const Args& args) {
  std::string recording, out;
  bool nwb = false, quiet = false;
  NwbExportOptions o;
  po::options_description desc("usage: rig export --nwb RECORDING.h5 OUT.nwb [options]\n\noptions");
  desc.add_options()("help,h", "show this help")("nwb", po::bool_switch(&nwb),
                                                 "write NWB 2.x (Neurodata Without Borders; the only format so far)")(
      "recording", po::value(&recording)->required(), "the rig recording to export (read only)")(
      "out", po::value(&out)->required(), "the file to write")(
      "force", po::bool_switch(&o.force), "overwrite an existing OUT")("quiet,q", po::bool_switch(&quiet),
                                                                       "no summary");
  po::positional_options_description pos;
  pos.add("recording", 1).add("out", 1);
  const auto vm = parse(args, desc, pos);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  // A flag, not a default: other formats may follow, and the command line says which it wrote.
  if (!nwb) throw ConfigError("name the output format: --nwb (the only one so far)");
  const NwbExportResult r = export_nwb(recording, out, o);
  if (!quiet)
    std::cerr << "rig: exported " << r.n_trials << " trials, " << r.n_rows << " tokens and " << r.n_series
              << " electrodes (TimeSeries) to " << out << " (NWB " << r.nwb_version << ", identifier " << r.identifier
              << ")\n";
  return 0;
}

}  // namespace rig::cli
