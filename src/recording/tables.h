#pragma once
// The parts of a recording that the writer and `rig merge --virtual` both build: the fixed
// tables (/stimuli, /electrodes), the recordings' attributes, and the self-description of
// every table (docs/FORMAT.md, "Tables").
#include <string>
#include <vector>

#include "io/hdf5.h"
#include "core/trial.h"

namespace rig {

// /stimuli: index, condition, prompt, then one string column per extra field (a stimulus
// lacking it: ""), described. ConfigError for an extra field named like a built-in column.
void write_stimuli_table(hid_t root, const std::vector<StimulusRow>& stimuli, const h5::Layout& layout);
// /electrodes: one row per electrode, in order (layout::kElectrodeColumns), described.
void write_electrodes_table(hid_t root, const std::vector<ElectrodeSpec>& electrodes, const h5::Layout& layout);
// The attributes of electrode `index`'s recording dataset (docs/FORMAT.md, "Recordings").
void set_recording_attrs(hid_t dataset, const ElectrodeSpec& e, size_t index);
// colnames and descriptions of /trials, /tokens and /events/<name>, whose columns exist.
void describe_tables(hid_t root, const std::vector<std::string>& events);

}  // namespace rig
