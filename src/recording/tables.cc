#include "recording/tables.h"

#include <map>

#include "core/error.h"
#include "recording/layout.h"

namespace rig {
namespace {

template <size_t N>
std::vector<h5::ColumnDoc> docs(const layout::Column (&cols)[N]) {
  std::vector<h5::ColumnDoc> out;
  for (const auto& c : cols) out.push_back({c.name, c.description});
  return out;
}

}  // namespace

void write_stimuli_table(hid_t root, const std::vector<StimulusRow>& stimuli, const h5::Layout& layout) {
  h5::Id g = h5::create_group(root, "stimuli");
  std::vector<int64_t> index;
  std::vector<std::string> condition, prompt;
  std::map<std::string, std::vector<std::string>> extra;
  for (const auto& s : stimuli)
    for (const auto& kv : s.extra) extra[kv.first];
  for (const auto& s : stimuli) {
    index.push_back(s.index);
    condition.push_back(s.condition);
    prompt.push_back(s.prompt);
    for (auto& [k, col] : extra) {
      auto it = s.extra.find(k);
      col.push_back(it == s.extra.end() ? "" : it->second);
    }
  }
  // Same order as layout::kStimulusColumns.
  h5::append(h5::create_column(g, "index", h5::Dtype::kInt64, layout), index);
  h5::append(h5::create_column(g, "condition", h5::Dtype::kString, layout), condition);
  h5::append(h5::create_column(g, "prompt", h5::Dtype::kString, layout), prompt);
  std::vector<h5::ColumnDoc> cols = docs(layout::kStimulusColumns);
  for (const auto& [k, col] : extra) {
    if (h5::exists(g, k)) throw ConfigError("stimulus field '" + k + "' clashes with a built-in stimuli column");
    h5::append(h5::create_column(g, k, h5::Dtype::kString, layout), col);
    cols.push_back({k, layout::kStimulusFieldDescription});
  }
  h5::describe_table(g, layout::kStimuliDescription, cols);
}

void write_electrodes_table(hid_t root, const std::vector<ElectrodeSpec>& electrodes, const h5::Layout& layout) {
  h5::Id g = h5::create_group(root, "electrodes");
  std::vector<std::string> site, side, type;
  std::vector<int64_t> width, layer;
  for (const auto& e : electrodes) {
    site.push_back(e.site);
    side.push_back(side_name(e.side));
    type.push_back(e.module_type);
    width.push_back(e.width());
    layer.push_back(e.layer);
  }
  // Same order as layout::kElectrodeColumns.
  h5::append(h5::create_column(g, "site", h5::Dtype::kString, layout), site);
  h5::append(h5::create_column(g, "side", h5::Dtype::kString, layout), side);
  h5::append(h5::create_column(g, "module_type", h5::Dtype::kString, layout), type);
  h5::append(h5::create_column(g, "width", h5::Dtype::kInt64, layout), width);
  h5::append(h5::create_column(g, "layer", h5::Dtype::kInt64, layout), layer);
  h5::describe_table(g, layout::kElectrodesDescription, docs(layout::kElectrodeColumns));
}

void set_recording_attrs(hid_t ds, const ElectrodeSpec& e, size_t index) {
  h5::set_attr(ds, "site", e.site);
  h5::set_attr(ds, "side", std::string(side_name(e.side)));
  h5::set_attr(ds, "module_type", e.module_type);
  h5::set_attr(ds, "site_width", e.site_width);
  h5::set_attr(ds, "index", int64_t(index));
  h5::set_attr(ds, "layer", e.layer);
  if (!e.neurons.empty()) h5::set_attr(ds, "neurons", e.neurons);
  if (!e.sae.empty()) {
    h5::set_attr(ds, "sae", e.sae);
    for (const auto& [k, v] : e.sae_attrs) h5::set_attr(ds, k, v);
  }
  h5::set_attr(ds, "description", std::string(e.sae.empty() ? layout::kRecordingsDescription : layout::kSaeRecordingsDescription));
  // In HDF5's (C, h5py) order; MATLAB shows them reversed: [neuron, row].
  h5::set_attr(ds, "dimensions", std::vector<std::string>{"row", "neuron"});
}

void describe_tables(hid_t root, const std::vector<std::string>& events) {
  h5::describe_table(h5::open_group(root, "trials"), layout::kTrialsDescription, docs(layout::kTrialColumns));
  h5::describe_table(h5::open_group(root, "tokens"), layout::kTokensDescription, docs(layout::kTokenColumns));
  h5::Id ev = h5::open_group(root, "events");
  for (const auto& name : events)
    h5::describe_table(h5::open_group(ev, name), std::string(layout::kEventDescription) + " '" + name + "'",
                       docs(layout::kEventColumns));
  h5::set_attr(ev, "description", std::string("one table per event the experiment names"));
}

}  // namespace rig
