#pragma once
// The parts of a recording that the writer and `rig merge --virtual` both build: the fixed
// tables (/stimuli, /electrodes), the recordings' attributes, and the self-description of
// every table (docs/FORMAT.md, "Tables").
#include <string>
#include <variant>
#include <vector>

#include "io/hdf5.h"
#include "core/trial.h"
#include "recording/layout.h"

namespace rig {

// An extra stimulus field as a column of /stimuli and /trials (core/fields.h), in name order.
struct FieldColumn {
  std::string name;
  FieldType type;
};
std::vector<FieldColumn> field_columns(const std::vector<StimulusRow>& stimuli);
// int64, float64, uint8 (bool) or string.
h5::Dtype column_type(FieldType t);
std::string field_description(const FieldColumn& f);
// /trials/<field> for each field (empty columns), in order. ConfigError for a field named
// like a built-in /trials column.
std::vector<h5::Id> create_trial_fields(hid_t trials, const std::vector<FieldColumn>& fields, const h5::Layout& layout);
// Appends field f of stimuli[rows[i]] for each i to `column`.
void append_fields(hid_t column, const FieldColumn& f, const std::vector<StimulusRow>& stimuli,
                   const std::vector<int64_t>& rows);

// /trials's own columns (layout::kTrialColumns) for a block of trials, gathered a trial at a
// time and appended together: how the writer and merge write a trial's values.
class TrialColumnsBlock {
 public:
  TrialColumnsBlock();
  void add(const TrialFields& t, const TrialSpan& rows);
  // Appends every column's values to its dataset: columns[i] is kTrialColumns[i]'s.
  void append_to(const std::vector<h5::Id>& columns) const;
  // Column i's values (V: its member's type as stored: int64_t, uint64_t or std::string).
  template <typename V>
  const std::vector<V>& values(size_t i) const {
    return std::get<std::vector<V>>(values_.at(i));
  }

 private:
  std::vector<std::variant<std::vector<int64_t>, std::vector<uint64_t>, std::vector<std::string>>> values_;
};

// /stimuli: index, condition, prompt, then one typed column per extra field, described.
// ConfigError for an extra field named like a built-in column.
void write_stimuli_table(hid_t root, const std::vector<StimulusRow>& stimuli, const h5::Layout& layout);
// /electrodes: one row per electrode, in order (layout::kElectrodeColumns), described.
void write_electrodes_table(hid_t root, const std::vector<ElectrodeSpec>& electrodes, const h5::Layout& layout);
// The attributes of electrode `index`'s recording dataset (docs/FORMAT.md, "Recordings").
void set_recording_attrs(hid_t dataset, const ElectrodeSpec& e, size_t index);
// colnames and descriptions of /trials (its fixed columns, then `fields`), /tokens and
// /events/<name>, whose columns exist.
void describe_tables(hid_t root, const std::vector<std::string>& events, const std::vector<FieldColumn>& fields);

}  // namespace rig
