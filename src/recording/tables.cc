#include "recording/tables.h"

#include <cmath>
#include <map>

#include "core/error.h"
#include "recording/layout.h"

namespace rig {
namespace {

template <typename Column, size_t N>
std::vector<h5::ColumnDoc> docs(const Column (&cols)[N]) {
  std::vector<h5::ColumnDoc> out;
  for (const auto& c : cols) out.push_back({c.name, c.description});
  return out;
}

// A /trials column's value as stored (a FinishReason as its name).
int64_t stored(const TrialFields& t, const TrialSpan&, int64_t TrialFields::*m) { return t.*m; }
uint64_t stored(const TrialFields& t, const TrialSpan&, uint64_t TrialFields::*m) { return t.*m; }
std::string stored(const TrialFields& t, const TrialSpan&, std::string TrialFields::*m) { return t.*m; }
std::string stored(const TrialFields& t, const TrialSpan&, FinishReason TrialFields::*m) {
  return finish_reason_name(t.*m);
}
int64_t stored(const TrialFields&, const TrialSpan& s, int64_t TrialSpan::*m) { return s.*m; }

}  // namespace

TrialColumnsBlock::TrialColumnsBlock() {
  for (const auto& c : layout::kTrialColumns)
    std::visit(
        [&](auto m) {
          using V = decltype(stored(TrialFields{}, TrialSpan{}, m));
          values_.emplace_back(std::vector<V>());
        },
        c.member);
}

void TrialColumnsBlock::add(const TrialFields& t, const TrialSpan& rows) {
  for (size_t i = 0; i < values_.size(); ++i)
    std::visit(
        [&](auto m) {
          auto v = stored(t, rows, m);
          std::get<std::vector<decltype(v)>>(values_[i]).push_back(std::move(v));
        },
        layout::kTrialColumns[i].member);
}

void TrialColumnsBlock::append_to(const std::vector<h5::Id>& columns) const {
  for (size_t i = 0; i < values_.size(); ++i)
    std::visit([&](const auto& v) { h5::append(columns.at(i), v); }, values_[i]);
}

h5::Dtype column_type(FieldType t) {
  switch (t) {
    case FieldType::kInt: return h5::Dtype::kInt64;
    case FieldType::kFloat: return h5::Dtype::kFloat64;
    case FieldType::kBool: return h5::Dtype::kUInt8;
    case FieldType::kString: break;
  }
  return h5::Dtype::kString;
}

std::vector<FieldColumn> field_columns(const std::vector<StimulusRow>& stimuli) {
  std::map<std::string, FieldType> types;
  for (const auto& s : stimuli)
    for (const auto& [k, v] : s.extra) types.emplace(k, field_type(v));
  std::vector<FieldColumn> out;
  for (const auto& [k, t] : types) out.push_back({k, t});
  return out;
}

void append_fields(hid_t column, const FieldColumn& f, const std::vector<StimulusRow>& stimuli,
                   const std::vector<int64_t>& rows) {
  // A stimulus without the field, or a row outside the table (a trial whose stimulus index
  // the header does not list, as in tests of the sink alone), gets the column's fill.
  auto value = [&](int64_t r) -> const FieldValue* {
    if (r < 0 || size_t(r) >= stimuli.size()) return nullptr;
    const auto& extra = stimuli[size_t(r)].extra;
    auto it = extra.find(f.name);
    return it == extra.end() || field_type(it->second) != f.type ? nullptr : &it->second;
  };
  switch (f.type) {
    case FieldType::kInt: {
      std::vector<int64_t> v;
      for (int64_t r : rows) v.push_back(value(r) ? std::get<int64_t>(*value(r)) : 0);
      return h5::append(column, v);
    }
    case FieldType::kFloat: {
      std::vector<double> v;
      for (int64_t r : rows) v.push_back(value(r) ? std::get<double>(*value(r)) : std::nan(""));
      return h5::append(column, v);
    }
    case FieldType::kBool: {
      std::vector<uint8_t> v;
      for (int64_t r : rows) v.push_back(value(r) && std::get<bool>(*value(r)) ? 1 : 0);
      return h5::append(column, v);
    }
    case FieldType::kString: {
      std::vector<std::string> v;
      for (int64_t r : rows) v.push_back(value(r) ? std::get<std::string>(*value(r)) : std::string());
      return h5::append(column, v);
    }
  }
}

std::vector<h5::Id> create_trial_fields(hid_t trials, const std::vector<FieldColumn>& fields,
                                        const h5::Layout& layout) {
  std::vector<h5::Id> out;
  for (const auto& f : fields) {
    for (const auto& c : layout::kTrialColumns)
      if (f.name == c.name)
        throw ConfigError("stimulus field '" + f.name + "' clashes with the /trials column '" + f.name +
                          "' (each field becomes a /trials column); rename the field");
    out.push_back(h5::create_column(trials, f.name, column_type(f.type), layout));
  }
  return out;
}

void write_stimuli_table(hid_t root, const std::vector<StimulusRow>& stimuli, const h5::Layout& layout) {
  h5::Id g = h5::create_group(root, "stimuli");
  std::vector<int64_t> index, rows;
  std::vector<std::string> condition, prompt;
  for (const auto& s : stimuli) {
    index.push_back(s.index);
    condition.push_back(s.condition);
    prompt.push_back(s.prompt);
    rows.push_back(int64_t(rows.size()));
  }
  // Same order as layout::kStimulusColumns.
  h5::append(h5::create_column(g, "index", h5::Dtype::kInt64, layout), index);
  h5::append(h5::create_column(g, "condition", h5::Dtype::kString, layout), condition);
  h5::append(h5::create_column(g, "prompt", h5::Dtype::kString, layout), prompt);
  std::vector<h5::ColumnDoc> cols = docs(layout::kStimulusColumns);
  for (const auto& f : field_columns(stimuli)) {
    if (h5::exists(g, f.name))
      throw ConfigError("stimulus field '" + f.name + "' clashes with a built-in stimuli column");
    append_fields(h5::create_column(g, f.name, column_type(f.type), layout), f, stimuli, rows);
    cols.push_back({f.name, field_description(f)});
  }
  h5::describe_table(g, layout::kStimuliDescription, cols);
}

std::string field_description(const FieldColumn& f) {
  return std::string(layout::kStimulusFieldDescription) + " (" + field_type_name(f.type) + ")";
}

void write_electrodes_table(hid_t root, const std::vector<ElectrodeSpec>& electrodes, const h5::Layout& layout) {
  h5::Id g = h5::create_group(root, "electrodes");
  std::vector<std::string> site, side, type, alias;
  std::vector<int64_t> width, layer;
  for (const auto& e : electrodes) {
    site.push_back(e.site);
    side.push_back(side_name(e.side));
    type.push_back(e.module_type);
    width.push_back(e.width());
    layer.push_back(e.layer);
    alias.push_back(e.alias);
  }
  // Same order as layout::kElectrodeColumns.
  h5::append(h5::create_column(g, "site", h5::Dtype::kString, layout), site);
  h5::append(h5::create_column(g, "side", h5::Dtype::kString, layout), side);
  h5::append(h5::create_column(g, "module_type", h5::Dtype::kString, layout), type);
  h5::append(h5::create_column(g, "width", h5::Dtype::kInt64, layout), width);
  h5::append(h5::create_column(g, "layer", h5::Dtype::kInt64, layout), layer);
  h5::append(h5::create_column(g, "alias", h5::Dtype::kString, layout), alias);
  h5::describe_table(g, layout::kElectrodesDescription, docs(layout::kElectrodeColumns));
}

void set_recording_attrs(hid_t ds, const ElectrodeSpec& e, size_t index) {
  h5::set_attr(ds, "site", e.site);
  h5::set_attr(ds, "side", std::string(side_name(e.side)));
  h5::set_attr(ds, "module_type", e.module_type);
  h5::set_attr(ds, "site_width", e.site_width);
  h5::set_attr(ds, "index", int64_t(index));
  h5::set_attr(ds, "layer", e.layer);
  if (!e.alias.empty()) h5::set_attr(ds, "alias", e.alias);
  if (!e.neurons.empty()) h5::set_attr(ds, "neurons", e.neurons);
  if (e.heads > 0) {  // a site inside attention: site column h * (site_width / heads) + j is head h's j-th
    h5::set_attr(ds, "heads", e.heads);
    h5::set_attr(ds, "head_axis", e.head_axis);
  }
  if (!e.sae.empty()) {
    h5::set_attr(ds, "sae", e.sae);
    for (const auto& [k, v] : e.sae_attrs) h5::set_attr(ds, k, v);
  }
  h5::set_attr(ds, "description",
               std::string(e.sae.empty() ? layout::kRecordingsDescription : layout::kSaeRecordingsDescription));
  // In HDF5's (C, h5py) order; MATLAB shows them reversed: [neuron, row].
  h5::set_attr(ds, "dimensions", std::vector<std::string>{"row", "neuron"});
}

void describe_tables(hid_t root, const std::vector<std::string>& events, const std::vector<FieldColumn>& fields) {
  std::vector<h5::ColumnDoc> trial_cols = docs(layout::kTrialColumns);
  for (const auto& f : fields) trial_cols.push_back({f.name, field_description(f) + "; the trial's stimulus's value"});
  h5::describe_table(h5::open_group(root, "trials"), layout::kTrialsDescription, trial_cols);
  h5::describe_table(h5::open_group(root, "tokens"), layout::kTokensDescription, docs(layout::kTokenColumns));
  h5::Id ev = h5::open_group(root, "events");
  for (const auto& name : events)
    h5::describe_table(h5::open_group(ev, name), std::string(layout::kEventDescription) + " '" + name + "'",
                       docs(layout::kEventColumns));
  h5::set_attr(ev, "description", std::string("one table per event the experiment names"));
}

}  // namespace rig
