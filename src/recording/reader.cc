#include "recording/reader.h"

#include <optional>

#include <algorithm>
#include <map>
#include <type_traits>
#include <variant>

#include "core/error.h"
#include "core/limits.h"
#include "io/hdf5.h"
#include "recording/layout.h"
#include "recording/statistics.h"

namespace rig {

using h5::Id;

struct RecordingReader::Impl {
  std::filesystem::path path;
  Id file, root;
  int64_t version = 0;
  std::map<std::string, std::string> attrs;
  std::map<std::string, int64_t> int_attrs;
  std::vector<TrialRow> trials;
  std::vector<StimulusRow> stimuli;
  std::vector<ElectrodeSpec> electrodes;
  std::vector<Id> recordings;
  std::vector<std::string> events;
  mutable std::map<std::string, std::vector<EventRow>> event_cache;
  // trial index -> event name -> absolute row; built on the first trial() call, so reading
  // every trial costs one pass over /events, not one per trial.
  mutable std::optional<std::map<int64_t, std::map<std::string, int64_t>>> events_by_trial;
  int64_t n_rows = 0;
  std::string dtype = "float32";
  std::string store = "raw";
  BinSpec bins;                         // store statistics
  std::vector<std::string> conditions;  // store statistics: /statistics/conditions

  bool stats() const { return store == "statistics"; }
  DataError bad(const std::string& what) const { return DataError(path.string() + ": " + what); }

  Id group(const std::string& name) const {
    if (!h5::exists(root, name)) throw bad("not a complete rig recording: group /" + name + " is missing");
    return h5::open_group(root, name);
  }

  void read_attrs() {
    for (const auto& name : h5::attr_names(root)) {
      if (h5::attr_is_string(root, name)) {
        try {
          attrs[name] = h5::get_string_attr(root, name);
        } catch (const DataError&) {
          continue;  // a list of strings (source_identifiers): not part of the header
        }
      } else {
        std::vector<int64_t> v;
        try {
          v = h5::get_int_vector_attr(root, name);
        } catch (const DataError&) {
          continue;  // a float or other attribute someone added: not ours
        }
        if (v.size() == 1) int_attrs[name] = v[0];
      }
    }
    auto f = attrs.find(layout::kAttrFormat);
    if (f == attrs.end() || f->second != layout::kFormat)
      throw bad(std::string("not a rig recording (root attribute 'format' is ") +
                (f == attrs.end() ? "missing" : "'" + f->second + "'") + ", expected '" + layout::kFormat + "')");
    auto v = int_attrs.find(layout::kAttrFormatVersion);
    if (v == int_attrs.end()) throw bad("root attribute 'format_version' is missing");
    version = v->second;
    if (version < 1 || version > layout::kFormatVersion)
      throw bad("format_version " + std::to_string(version) +
                " is not supported (this rig reads "
                "1.." +
                std::to_string(layout::kFormatVersion) + "; update rig)");
    if (!int_attrs.count(layout::kAttrTrialsCommitted)) throw bad("root attribute 'n_trials_committed' is missing");
    // The recordings' element type; files of rig before recording_dtype held it in `dtype`.
    if (auto d = attrs.find(layout::kAttrRecordingDtype); d != attrs.end()) dtype = d->second;
    else if (auto old = attrs.find("dtype"); old != attrs.end()) dtype = old->second;
    if (auto st = attrs.find(layout::kAttrStore); st != attrs.end()) store = st->second;
    if (store != "raw" && store != "statistics")
      throw bad("root attribute 'store' is '" + store + "'; expected raw or statistics (update rig?)");
  }

  void read_trials() {
    Id g = group("trials");
    const int64_t committed = int_attrs.at(layout::kAttrTrialsCommitted);
    if (committed < 0 || committed > limits::kMaxRecordingTrials)
      throw bad("root attribute 'n_trials_committed' is " + std::to_string(committed) + "; expected 0.." +
                std::to_string(limits::kMaxRecordingTrials) + " (rig's limit)");
    const hsize_t n = hsize_t(committed);
    std::vector<Id> c;
    for (const auto& col : layout::kTrialColumns) {
      if (!h5::exists(g, col.name)) throw bad(std::string("column /trials/") + col.name + " is missing");
      c.push_back(h5::open_dataset(g, col.name));
      if (h5::rank(c.back()) != 1)
        throw bad(std::string("/trials/") + col.name + " has " + std::to_string(h5::rank(c.back())) +
                  " dimensions; expected a column (1)");
      if (h5::n_rows(c.back()) < n)
        throw bad(std::string("/trials/") + col.name + " has " + std::to_string(h5::n_rows(c.back())) + " rows; " +
                  std::to_string(n) + " trials are committed");
    }
    trials.resize(n);
    for (size_t k = 0; k < c.size(); ++k) read_trial_column(layout::kTrialColumns[k], c[k], n);
    int64_t prev_stop = 0;
    for (size_t i = 0; i < n; ++i) {
      const TrialRow& t = trials[i];
      const int64_t start = t.row_start, stop = t.row_stop, n_prompt = t.n_prompt_tokens, n_gen = t.n_generated;
      // Rows are what readers index recordings with: a trial's rows follow the previous
      // trial's, and its token counts fit in them.
      if (start < prev_stop || stop < start || n_prompt < 0 || n_gen < 0 || n_prompt > stop - start ||
          n_gen > stop - start - n_prompt)
        throw bad("/trials row " + std::to_string(i) + ": rows [" + std::to_string(start) + ", " +
                  std::to_string(stop) + ") with " + std::to_string(n_prompt) + " prompt and " + std::to_string(n_gen) +
                  " generated tokens; expected rows after the previous trial's (" + std::to_string(prev_stop) +
                  ") that hold its tokens");
      prev_stop = stop;
    }
    n_rows = trials.empty() ? 0 : trials.back().row_stop;
    Id tok = group("tokens");
    for (const char* col : {"position", "token_id", "text", "generated"}) {
      Id ds = h5::open_dataset(tok, col);
      if (h5::rank(ds) != 1 || int64_t(h5::n_rows(ds)) < n_rows)
        throw bad(std::string("/tokens/") + col + " has " + std::to_string(h5::rank(ds)) + " dimension(s) and " +
                  std::to_string(h5::n_rows(ds)) + " rows; expected a column of at least " + std::to_string(n_rows) +
                  " rows (the committed trials')");
    }
  }

  // Rows [0, n) of `column` into its member of every trial.
  void read_trial_column(const layout::TrialColumn& col, hid_t column, hsize_t n) {
    auto put = [&](const auto& values, auto m) {
      for (size_t i = 0; i < n; ++i) trials[i].*m = values[i];
    };
    std::visit(
        [&](auto m) {
          using M = decltype(m);
          if constexpr (std::is_same_v<M, uint64_t TrialFields::*>) {
            put(h5::read_uint64(column, 0, n), m);
          } else if constexpr (std::is_same_v<M, std::string TrialFields::*>) {
            put(h5::read_strings(column, 0, n), m);
          } else if constexpr (std::is_same_v<M, FinishReason TrialFields::*>) {
            const std::vector<std::string> names = h5::read_strings(column, 0, n);
            for (size_t i = 0; i < n; ++i)
              if (!parse_finish_reason(names[i], &(trials[i].*m)))
                throw bad(std::string("/trials/") + col.name + " row " + std::to_string(i) + " is '" + names[i] +
                          "'; expected " + kFinishReasonList);
          } else {
            static_assert(std::is_same_v<M, int64_t TrialFields::*> || std::is_same_v<M, int64_t TrialSpan::*>,
                          "a /trials member the reader cannot read");
            put(h5::read_int64(column, 0, n), m);
          }
        },
        col.member);
  }

  void read_stimuli() {
    Id g = group("stimuli");
    std::vector<std::string> names = h5::children(g);
    for (const char* req : {"index", "condition", "prompt"})
      if (std::find(names.begin(), names.end(), req) == names.end())
        throw bad(std::string("column /stimuli/") + req + " is missing");
    auto index = h5::read_int64(h5::open_dataset(g, "index"));
    auto condition = h5::read_strings(h5::open_dataset(g, "condition"));
    auto prompt = h5::read_strings(h5::open_dataset(g, "prompt"));
    if (condition.size() != index.size() || prompt.size() != index.size())
      throw bad("/stimuli columns have " + std::to_string(index.size()) + " index, " +
                std::to_string(condition.size()) + " condition and " + std::to_string(prompt.size()) +
                " prompt rows; expected equal lengths");
    stimuli.resize(index.size());
    for (size_t i = 0; i < index.size(); ++i) stimuli[i] = StimulusRow{index[i], condition.at(i), prompt.at(i), {}};
    for (const auto& name : names) {
      if (name == "index" || name == "condition" || name == "prompt") continue;
      // Typed as written (rig before typed fields wrote text only); other types are not ours.
      Id ds = h5::open_dataset(g, name);
      auto put = [&](const auto& col) {
        for (size_t i = 0; i < stimuli.size() && i < col.size(); ++i) stimuli[i].extra[name] = col[i];
      };
      switch (h5::dtype_of(ds)) {
        case h5::Dtype::kString: put(h5::read_strings(ds)); break;
        case h5::Dtype::kInt64: put(h5::read_int64(ds)); break;
        case h5::Dtype::kFloat64: put(h5::read_float64(ds)); break;
        case h5::Dtype::kUInt8: {
          const auto col = h5::read_uint8(ds);
          for (size_t i = 0; i < stimuli.size() && i < col.size(); ++i) stimuli[i].extra[name] = col[i] != 0;
          break;
        }
        default: break;
      }
    }
  }

  void read_electrodes() {
    // A statistics file's electrodes are its mean datasets [conditions, bins, neurons].
    Id g = stats() ? h5::open_group(group(kStatisticsGroup), "mean") : group("recordings");
    const std::string top = stats() ? "/statistics/mean/" : "/recordings/";
    std::vector<std::pair<int64_t, size_t>> order;
    for (const auto& site : h5::children(g)) {
      Id s = h5::open_group(g, site);
      for (const auto& side : h5::children(s)) {
        Id ds = h5::open_dataset(s, side);
        ElectrodeSpec e;
        e.site = site;
        if (side != "input" && side != "output") throw bad(top + site + "/" + side + ": side must be input or output");
        hsize_t width = 0;
        if (stats()) {
          Id space(h5::check(H5Dget_space(ds), "getting a dataspace"));
          hsize_t d[3] = {0, 0, 0};
          if (H5Sget_simple_extent_ndims(space) != 3)
            throw bad(top + site + "/" + side + ": expected 3 dimensions ([conditions, bins, neurons])");
          H5Sget_simple_extent_dims(space, d, nullptr);
          width = d[2];
        } else {
          if (h5::rank(ds) != 2)
            throw bad("/recordings/" + site + "/" + side + " has " + std::to_string(h5::rank(ds)) +
                      " dimension(s); expected 2 ([rows, neurons])");
          width = h5::width(ds);
        }
        if (width == 0) throw bad(top + site + "/" + side + " has no neurons (width 0)");
        e.side = side == "input" ? Side::kInput : Side::kOutput;
        if (h5::has_attr(ds, "module_type")) e.module_type = h5::get_string_attr(ds, "module_type");
        if (h5::has_attr(ds, "sae")) e.sae = h5::get_string_attr(ds, "sae");
        for (const char* k : {"sae_architecture", "sae_weights_sha256", "sae_hook_name"})
          if (h5::has_attr(ds, k)) e.sae_attrs[k] = h5::get_string_attr(ds, k);
        if (h5::has_attr(ds, "neurons")) e.neurons = h5::get_int_vector_attr(ds, "neurons");
        if (h5::has_attr(ds, "layer")) e.layer = h5::get_int_attr(ds, "layer");
        if (h5::has_attr(ds, "alias")) e.alias = h5::get_string_attr(ds, "alias");
        e.site_width = h5::has_attr(ds, "site_width") ? h5::get_int_attr(ds, "site_width") : int64_t(width);
        if (e.width() <= 0 || e.width() != int64_t(width))
          throw bad(top + site + "/" + side + " has " + std::to_string(width) + " neurons but its attributes say " +
                    std::to_string(e.width()));
        if (!stats() && int64_t(h5::n_rows(ds)) < n_rows)
          throw bad(e.dataset_path() + " has " + std::to_string(h5::n_rows(ds)) +
                    " rows; the "
                    "committed trials need " +
                    std::to_string(n_rows));
        int64_t idx = h5::has_attr(ds, "index") ? h5::get_int_attr(ds, "index") : int64_t(electrodes.size());
        order.emplace_back(idx, electrodes.size());
        electrodes.push_back(std::move(e));
        recordings.push_back(std::move(ds));
      }
    }
    std::sort(order.begin(), order.end());
    std::vector<ElectrodeSpec> es;
    std::vector<Id> rs;
    for (const auto& [idx, i] : order) {
      es.push_back(std::move(electrodes[i]));
      rs.push_back(std::move(recordings[i]));
    }
    electrodes = std::move(es);
    recordings = std::move(rs);
  }
};

RecordingReader::RecordingReader(const std::filesystem::path& path) : impl_(new Impl) {
  Impl& m = *impl_;
  m.path = path;
  h5::FileOptions opt;
  opt.hold_metadata_until_flush = false;
  m.file = h5::open_file(path, /*writable=*/false, opt);
  m.root = h5::open_group(m.file, "/");
  m.read_attrs();
  m.read_trials();
  m.read_stimuli();
  m.read_electrodes();
  if (m.stats()) {
    m.bins = read_bin_spec(m.root);
    m.conditions = read_statistics_conditions(m.root);
  }
  m.events = h5::children(m.group("events"));
}

RecordingReader::~RecordingReader() = default;
RecordingReader::RecordingReader(RecordingReader&&) noexcept = default;
RecordingReader& RecordingReader::operator=(RecordingReader&&) noexcept = default;

const std::filesystem::path& RecordingReader::path() const { return impl_->path; }
int64_t RecordingReader::format_version() const { return impl_->version; }
const std::map<std::string, std::string>& RecordingReader::attrs() const { return impl_->attrs; }
const std::map<std::string, int64_t>& RecordingReader::int_attrs() const { return impl_->int_attrs; }
std::optional<std::string> RecordingReader::attr(const std::string& name) const {
  auto it = impl_->attrs.find(name);
  if (it == impl_->attrs.end()) return std::nullopt;
  return it->second;
}
const std::vector<TrialRow>& RecordingReader::trials() const { return impl_->trials; }
const std::vector<StimulusRow>& RecordingReader::stimuli() const { return impl_->stimuli; }
const std::vector<ElectrodeSpec>& RecordingReader::electrodes() const { return impl_->electrodes; }
std::string RecordingReader::dtype() const { return impl_->dtype; }
int64_t RecordingReader::n_rows() const { return impl_->n_rows; }
std::vector<std::string> RecordingReader::event_names() const { return impl_->events; }

std::vector<EventRow> RecordingReader::events(const std::string& name) const {
  const Impl& m = *impl_;
  if (std::find(m.events.begin(), m.events.end(), name) == m.events.end())
    throw m.bad("no event '" + name + "' (the file has " + std::to_string(m.events.size()) + " events)");
  if (auto c = m.event_cache.find(name); c != m.event_cache.end()) return c->second;
  Id g = h5::open_group(h5::open_group(m.root, "events"), name);
  auto trial = h5::read_int64(h5::open_dataset(g, "trial"));
  auto row = h5::read_int64(h5::open_dataset(g, "row"));
  std::vector<EventRow> out;
  // Committed events come first, with rows inside the committed rows; a killed writer may
  // leave rows of -1 (never written) or beyond n_rows after them.
  for (size_t i = 0; i < trial.size() && i < row.size(); ++i) {
    if (row[i] < 0 || row[i] >= m.n_rows) break;
    out.push_back({trial[i], row[i]});
  }
  m.event_cache[name] = out;
  return out;
}

std::vector<int64_t> RecordingReader::event_rows(const std::string& name) const {
  const std::vector<TrialRow>& ts = trials();
  std::vector<int64_t> out(ts.size(), -1);
  const auto& names = impl_->events;
  if (std::find(names.begin(), names.end(), name) != names.end()) {
    std::map<int64_t, int64_t> row_of;  // trial index -> absolute row
    for (const EventRow& e : events(name)) row_of.emplace(e.trial, e.row);
    for (size_t i = 0; i < ts.size(); ++i)
      if (auto it = row_of.find(ts[i].index); it != row_of.end()) out[i] = it->second;
  } else if (is_builtin_event(name)) {
    for (size_t i = 0; i < ts.size(); ++i) {
      const auto b = builtin_events(ts[i]);
      if (auto it = b.find(name); it != b.end()) out[i] = ts[i].row_start + it->second;
    }
  } else {
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    throw impl_->bad("no event '" + name + "' (recorded: " + (known.empty() ? "none" : known) +
                     "; built in: " + kBuiltinEventList + ")");
  }
  return out;
}

std::vector<TokenRow> RecordingReader::tokens(int64_t r0, int64_t r1) const {
  const Impl& m = *impl_;
  if (r0 < 0 || r1 < r0 || r1 > m.n_rows)
    throw Error("reading tokens [" + std::to_string(r0) + ", " + std::to_string(r1) + ") of " + m.path.string() +
                ": the file has " + std::to_string(m.n_rows) + " rows");
  Id g = m.group("tokens");
  auto pos = h5::read_int64(h5::open_dataset(g, "position"), hsize_t(r0), hsize_t(r1));
  auto id = h5::read_int64(h5::open_dataset(g, "token_id"), hsize_t(r0), hsize_t(r1));
  auto text = h5::read_strings(h5::open_dataset(g, "text"), hsize_t(r0), hsize_t(r1));
  auto gen = h5::read_int64(h5::open_dataset(g, "generated"), hsize_t(r0), hsize_t(r1));
  const size_t want = size_t(r1 - r0);
  if (pos.size() != want || id.size() != want || text.size() != want || gen.size() != want)
    throw m.bad("/tokens columns hold fewer than the " + std::to_string(r1) + " rows the trials need");
  std::vector<TokenRow> out(pos.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = TokenRow{pos[i], id[i], text[i], gen[i] != 0};
  return out;
}

void RecordingReader::read_rows(size_t e, int64_t r0, int64_t r1, float* out) const {
  const Impl& m = *impl_;
  if (e >= m.electrodes.size())
    throw Error("electrode " + std::to_string(e) + " of " + m.path.string() + ": the file has " +
                std::to_string(m.electrodes.size()));
  if (m.stats())
    throw Error(m.path.string() + " holds statistics (recording.store: statistics), not rows: " +
                m.electrodes[e].dataset_path() + " has no data; read /statistics (docs/FORMAT.md)");
  if (r0 < 0 || r1 < r0 || r1 > m.n_rows)
    throw Error("reading rows [" + std::to_string(r0) + ", " + std::to_string(r1) + ") of " +
                m.electrodes[e].dataset_path() + " in " + m.path.string() + ": the file has " +
                std::to_string(m.n_rows) + " committed rows");
  h5::read_rows(m.recordings[e], hsize_t(r0), hsize_t(r1), out);
}

std::vector<float> RecordingReader::read_rows(size_t e, int64_t r0, int64_t r1) const {
  std::vector<float> out;
  if (e < impl_->electrodes.size() && r1 >= r0) out.resize(size_t(r1 - r0) * size_t(impl_->electrodes[e].width()));
  read_rows(e, r0, r1, out.data());
  return out;
}

size_t RecordingReader::electrode_index(const std::string& site, Side side) const {
  const auto& es = impl_->electrodes;
  for (size_t i = 0; i < es.size(); ++i)
    if (es[i].site == site && es[i].side == side) return i;
  throw impl_->bad(std::string("no recording /recordings/") + site + "/" + side_name(side));
}

TrialResult RecordingReader::trial(size_t i) const {
  const TrialRow& r = impl_->trials.at(i);
  TrialResult t;
  static_cast<TrialFields&>(t) = r;
  t.tokens = tokens(r.row_start, r.row_stop);
  if (!impl_->events_by_trial) {
    impl_->events_by_trial.emplace();
    for (const auto& name : impl_->events)
      for (const EventRow& ev : events(name)) (*impl_->events_by_trial)[ev.trial][name] = ev.row;
  }
  if (auto ev = impl_->events_by_trial->find(r.index); ev != impl_->events_by_trial->end())
    for (const auto& [name, row] : ev->second)
      if (row >= r.row_start && row < r.row_stop) t.events[name] = row - r.row_start;
  for (size_t e = 0; e < impl_->electrodes.size() && !impl_->stats(); ++e)
    t.recordings.push_back(read_rows(e, r.row_start, r.row_stop));
  return t;
}

RecordingHeader RecordingReader::header() const {
  const Impl& m = *impl_;
  RecordingHeader h;
  h.attrs = m.attrs;
  h.int_attrs = m.int_attrs;
  h.stimuli = m.stimuli;
  h.electrodes = m.electrodes;
  h.events = m.events;
  h.dtype = m.dtype;
  if (auto c = m.int_attrs.find("compression"); c != m.int_attrs.end()) h.compression = int(c->second);
  if (auto n = m.int_attrs.find(layout::kAttrTrialsPlanned); n != m.int_attrs.end()) h.n_trials_planned = n->second;
  h.store = m.store;
  h.bins = m.bins;
  return h;
}

const std::string& RecordingReader::store() const { return impl_->store; }
bool RecordingReader::is_statistics() const { return impl_->stats(); }
const BinSpec& RecordingReader::bins() const { return impl_->bins; }
const std::vector<std::string>& RecordingReader::statistics_conditions() const { return impl_->conditions; }

std::vector<Moments> RecordingReader::statistics() const {
  const Impl& m = *impl_;
  if (!m.stats()) throw Error(m.path.string() + " is a raw recording (store: raw): it has no /statistics");
  if (auto k = m.int_attrs.find(layout::kAttrCheckpointTrials);
      k != m.int_attrs.end() && k->second > m.int_attrs.at(layout::kAttrTrialsCommitted))
    throw m.bad("its writer was killed while rewriting /statistics (statistics_checkpoint_trials " +
                std::to_string(k->second) + " > n_trials_committed): `rig run CONFIG --resume` repairs it");
  std::vector<Moments> out = read_statistics(m.root, kStatisticsGroup, m.electrodes);
  for (const auto& s : out)
    if (s.n_conditions != int64_t(m.conditions.size()) || s.n_bins != m.bins.n_bins())
      throw m.bad("/statistics holds " + std::to_string(s.n_conditions) + " conditions x " + std::to_string(s.n_bins) +
                  " bins; its conditions and bin attributes say " + std::to_string(m.conditions.size()) + " x " +
                  std::to_string(m.bins.n_bins()));
  return out;
}

}  // namespace rig
