#include "recording/merge.h"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "core/error.h"
#include "core/uuid.h"
#include "io/hdf5.h"
#include "recording/layout.h"
#include "recording/reader.h"
#include "recording/tables.h"
#include "recording/writer.h"

namespace rig {
namespace fs = std::filesystem;
namespace {

using h5::Dtype;
using h5::Id;

// Root attributes only shard files carry; the merged file is an unsharded run's.
const std::set<std::string> kShardAttrs = {"shard_index", "shard_count", "n_trials_experiment", layout::kAttrResumes};
// Attributes that must agree for shards to be one experiment.
const char* const kSameStrings[] = {layout::kAttrConfigHash, "model", "revision",
                                    "architecture",          "dtype", "sweep_variant"};
const char* const kSameInts[] = {layout::kAttrFormatVersion, "seed",        "shard_count",
                                 "n_trials_experiment",      "sweep_index", "compression"};
// Attributes that describe where or when a shard ran; they may differ (a warning names them).
const std::set<std::string> kPerShard = {
    layout::kAttrCreated, layout::kAttrTrialsPlanned, layout::kAttrTrialsCommitted, layout::kAttrRowsCommitted,
    "shard_index",        layout::kAttrIdentifier};

struct Shard {
  fs::path path;
  std::unique_ptr<RecordingReader> r;
  int64_t index = 0, count = 1, n_experiment = 0;
};

std::string describe_electrode(const ElectrodeSpec& e) {
  return e.dataset_path() + " (" + std::to_string(e.width()) +
         (e.sae.empty() ? " neurons)" : " units of SAE " + e.sae + ")");
}

// Throws DataError unless b belongs to a's experiment.
void check_same_experiment(const Shard& a, const Shard& b) {
  auto differ = [&](const std::string& what, const std::string& va, const std::string& vb) {
    throw DataError("shards of different experiments: " + what + " is " + va + " in " + a.path.string() + " but " + vb +
                    " in " + b.path.string() + "\nHINT: merge only the shard files of one `rig run` config");
  };
  for (const char* k : kSameStrings) {
    auto va = a.r->attr(k), vb = b.r->attr(k);
    if (va != vb) differ(std::string("'") + k + "'", va ? "'" + *va + "'" : "absent", vb ? "'" + *vb + "'" : "absent");
  }
  // What produced each shard: the same weights, tokenizer and libraries (core/trial.h).
  for (const char* k : kProvenanceAttrs) {
    auto va = a.r->attr(k), vb = b.r->attr(k);
    if (va != vb)
      differ(std::string("provenance '") + k + "'", va ? "'" + *va + "'" : "absent", vb ? "'" + *vb + "'" : "absent");
  }
  for (const char* k : kSameInts) {
    auto ia = a.r->int_attrs().find(k), ib = b.r->int_attrs().find(k);
    const bool ha = ia != a.r->int_attrs().end(), hb = ib != b.r->int_attrs().end();
    if (ha != hb || (ha && ia->second != ib->second))
      differ(std::string("'") + k + "'", ha ? std::to_string(ia->second) : "absent",
             hb ? std::to_string(ib->second) : "absent");
  }
  if (a.r->dtype() != b.r->dtype()) differ("the recording dtype", a.r->dtype(), b.r->dtype());
  const auto &ea = a.r->electrodes(), &eb = b.r->electrodes();
  for (size_t i = 0; i < std::max(ea.size(), eb.size()); ++i) {
    const std::string sa = i < ea.size() ? describe_electrode(ea[i]) : "absent";
    const std::string sb = i < eb.size() ? describe_electrode(eb[i]) : "absent";
    if (sa != sb || (i < ea.size() && ea[i].neurons != eb[i].neurons)) differ("electrode " + std::to_string(i), sa, sb);
  }
  if (a.r->event_names() != b.r->event_names()) differ("the event list", "another", "another");
  const auto &sa = a.r->stimuli(), &sb = b.r->stimuli();
  if (sa.size() != sb.size()) differ("the stimulus count", std::to_string(sa.size()), std::to_string(sb.size()));
  // Fields by type and text, so that the NaN of a float field's missing value equals itself.
  auto text = [](const std::map<std::string, FieldValue>& m) {
    std::map<std::string, std::pair<FieldType, std::string>> out;
    for (const auto& [k, v] : m) out[k] = {field_type(v), field_text(v)};
    return out;
  };
  for (size_t i = 0; i < sa.size(); ++i)
    if (sa[i].prompt != sb[i].prompt || sa[i].condition != sb[i].condition || text(sa[i].extra) != text(sb[i].extra))
      differ("stimulus " + std::to_string(i), "'" + sa[i].prompt + "'", "'" + sb[i].prompt + "'");
}

Shard open_shard(const fs::path& p) {
  Shard s;
  s.path = p;
  try {
    s.r = std::make_unique<RecordingReader>(p);
  } catch (const Error& e) {
    throw DataError("cannot read shard " + p.string() + ": " + e.what() +
                    "\nHINT: a truncated or damaged file; rerun its shard with `rig run CONFIG --shard I/N --resume`");
  }
  const auto& ia = s.r->int_attrs();
  auto get = [&](const char* k, int64_t dflt) {
    auto it = ia.find(k);
    return it == ia.end() ? dflt : it->second;
  };
  const int64_t planned = get(layout::kAttrTrialsPlanned, -1);
  s.count = get("shard_count", 1);
  s.index = get("shard_index", 0);
  s.n_experiment = get("n_trials_experiment", planned);
  const int64_t committed = int64_t(s.r->trials().size());
  if (committed != planned)
    throw DataError("shard " + p.string() + " is incomplete: " + std::to_string(committed) + " of " +
                    std::to_string(planned) +
                    " trials committed (its run was interrupted)\nHINT: finish it with "
                    "`rig run CONFIG --shard " +
                    std::to_string(s.index) + "/" + std::to_string(s.count) + " --resume`, then merge again");
  return s;
}

std::string list_indices(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < 10; ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  if (v.size() > 10) s += ", ... (" + std::to_string(v.size()) + " in all)";
  return s;
}

// The shards' identifiers in shard order ("" for a shard of a rig that wrote none).
std::vector<std::string> source_identifiers(const std::vector<Shard>& shards) {
  std::vector<const Shard*> sorted;
  for (const auto& s : shards) sorted.push_back(&s);
  std::sort(sorted.begin(), sorted.end(), [](const Shard* a, const Shard* b) { return a->index < b->index; });
  std::vector<std::string> ids;
  for (const Shard* s : sorted) ids.push_back(s->r->attr(layout::kAttrIdentifier).value_or(""));
  return ids;
}

// Where each trial of the experiment is: (shard, row of its /trials table), in index order.
std::vector<std::pair<size_t, size_t>> locate_trials(const std::vector<Shard>& shards) {
  const int64_t n = shards.front().n_experiment;
  std::vector<std::optional<std::pair<size_t, size_t>>> at(size_t(std::max<int64_t>(n, 0)));
  std::map<int64_t, std::vector<size_t>> by_index;  // shard_index -> shards
  for (size_t s = 0; s < shards.size(); ++s) by_index[shards[s].index].push_back(s);
  for (const auto& [i, list] : by_index)
    if (list.size() > 1)
      throw DataError("duplicate shard: " + shards[list[0]].path.string() + " and " + shards[list[1]].path.string() +
                      " are both shard " + std::to_string(i) + " of " + std::to_string(shards[list[0]].count));
  for (size_t s = 0; s < shards.size(); ++s) {
    const auto& trials = shards[s].r->trials();
    for (size_t row = 0; row < trials.size(); ++row) {
      const int64_t idx = trials[row].index;
      if (idx < 0 || idx >= n)
        throw DataError(shards[s].path.string() + ": trial " + std::to_string(idx) + " is outside the experiment's " +
                        std::to_string(n) + " trials");
      if (at[size_t(idx)])
        throw DataError("duplicate trial " + std::to_string(idx) + ": in " +
                        shards[at[size_t(idx)]->first].path.string() + " and in " + shards[s].path.string());
      at[size_t(idx)] = std::make_pair(s, row);
    }
  }
  std::vector<int64_t> missing;
  std::set<int64_t> missing_shards;
  for (int64_t i = 0; i < n; ++i)
    if (!at[size_t(i)]) missing.push_back(i), missing_shards.insert(i % shards.front().count);
  if (!missing.empty()) {
    std::string which;
    for (int64_t s : missing_shards) which += (which.empty() ? "" : ", ") + std::to_string(s);
    throw DataError("missing trials: " + list_indices(missing) + " of the experiment's " + std::to_string(n) +
                    " are in none of the " + std::to_string(shards.size()) + " files (they belong to shard " + which +
                    " of " + std::to_string(shards.front().count) +
                    ")\nHINT: pass every shard file; run missing "
                    "shards with `rig run CONFIG --shard I/N`");
  }
  std::vector<std::pair<size_t, size_t>> out;
  for (auto& a : at) out.push_back(*a);
  return out;
}

// The merged file's header: the first shard's, as an unsharded run would have written it.
RecordingHeader merged_header(const std::vector<Shard>& shards, MergeResult& res) {
  RecordingHeader h = shards.front().r->header();
  for (const auto& k : kShardAttrs) h.int_attrs.erase(k);
  for (const char* k :
       {layout::kAttrFormatVersion, layout::kAttrTrialsPlanned, layout::kAttrTrialsCommitted,
        layout::kAttrRowsCommitted, "compression", layout::kAttrCheckpointTrials, layout::kAttrCheckpointRows})
    h.int_attrs.erase(k);
  h.attrs.erase(layout::kAttrFormat);
  h.attrs.erase(layout::kAttrIdentifier);  // the merged file is a new file: the writer names it
  h.n_trials_planned = shards.front().n_experiment;
  // Provenance that may differ between machines: keep the first shard's, say so.
  std::string created = h.attrs[layout::kAttrCreated];
  const auto& first_attrs = shards.front().r->attrs();
  for (const auto& s : shards) {
    for (const auto& [k, v] : s.r->attrs()) {
      if (k == layout::kAttrCreated) {
        if (v < created) created = v;  // ISO 8601 UTC sorts as text
        continue;
      }
      auto f = first_attrs.find(k);
      const std::string first = f == first_attrs.end() ? "(absent)" : f->second;
      if (!kPerShard.count(k) && first != v) {
        std::string w = "attribute '" + k + "' differs between shards ('" + first + "' in " +
                        shards.front().path.string() + ", '" + v + "' in " + s.path.string() +
                        "); the merged file keeps the first";
        if (std::find(res.warnings.begin(), res.warnings.end(), w) == res.warnings.end() && k != "config")
          res.warnings.push_back(w);
      }
    }
  }
  h.attrs[layout::kAttrCreated] = created;
  return h;
}

// Removes the temporary output unless disarmed.
struct TempFile {
  fs::path path;
  bool keep = false;
  ~TempFile() {
    std::error_code ec;
    if (!keep) fs::remove(path, ec);
  }
};

void copy_merge(const std::vector<Shard>& shards, const std::vector<std::pair<size_t, size_t>>& order,
                const RecordingHeader& header, const fs::path& tmp, const MergeOptions& opt) {
  WriterOptions wo;
  wo.fsync = false;              // a temp file: a crash leaves nothing that counts
  wo.compress_on_close = false;  // gzip while writing, as rig's compressed copy does
  auto w = RecordingWriter::create(tmp, header, /*force=*/true, wo);
  int64_t row_bytes = 0;
  for (const auto& e : header.electrodes) row_bytes += e.width() * int64_t(sizeof(float));
  std::vector<TrialResult> batch;
  int64_t batch_bytes = 0;
  for (const auto& [s, row] : order) {
    const Shard& sh = shards[s];
    const TrialRow& r = sh.r->trials()[row];
    TrialResult t = sh.r->trial(row);
    batch_bytes += r.n_rows() * row_bytes;
    batch.push_back(std::move(t));
    if (batch_bytes >= opt.batch_bytes) {
      w->append(std::move(batch));
      batch.clear();
      batch_bytes = 0;
    }
  }
  if (!batch.empty()) w->append(std::move(batch));
  w->close();
}

// Statistics shards: the trials' metadata copied as copy_merge does, the moments combined
// with Chan et al.'s formula (equal to one pass over every trial, up to rounding).
void statistics_merge(const std::vector<Shard>& shards, const std::vector<std::pair<size_t, size_t>>& order,
                      const RecordingHeader& header, const fs::path& tmp) {
  WriterOptions wo;
  wo.fsync = false;
  wo.separate_process = false;
  wo.statistics = shards.front().r->statistics();
  for (size_t s = 1; s < shards.size(); ++s) {
    const std::vector<Moments> m = shards[s].r->statistics();
    for (size_t e = 0; e < m.size(); ++e) wo.statistics[e].merge(m[e]);
  }
  auto w = RecordingWriter::create(tmp, header, /*force=*/true, wo);
  std::vector<TrialResult> batch;
  for (const auto& [s, row] : order) {
    batch.push_back(shards[s].r->trial(row));
    if (batch.size() >= 4096) w->append(std::move(batch)), batch.clear();
  }
  if (!batch.empty()) w->append(std::move(batch));
  w->close();
}

// ---- --virtual ----

// A virtual dataset `name` in `loc` of [total_rows(, width)] mapping, for each shard s,
// rows [0, rows[s]) of `src_path` in file `files[s]` to consecutive rows.
Id create_virtual(hid_t loc, const std::string& name, Dtype type, hsize_t width, bool matrix,
                  const std::vector<std::string>& files, const std::string& src_path, const std::vector<int64_t>& rows,
                  const std::vector<fs::path>& shard_paths) {
  hsize_t total = 0;
  for (int64_t r : rows) total += hsize_t(r);
  const int rank = matrix ? 2 : 1;
  if (total == 0) {  // HDF5 maps nothing into an empty space: an ordinary empty dataset
    return matrix ? h5::create_matrix(loc, name, type, width) : h5::create_column(loc, name, type);
  }
  hsize_t dims[2] = {total, width};
  Id vspace(h5::check(H5Screate_simple(rank, dims, nullptr), "creating a dataspace for virtual " + name));
  Id dcpl(h5::check(H5Pcreate(H5P_DATASET_CREATE), "creating a dataset creation property list"));
  hsize_t offset = 0;
  for (size_t s = 0; s < files.size(); ++s) {
    if (rows[s] == 0) continue;
    // The source dataset's real extent (its writer may have left it longer than committed).
    Id src_file = h5::open_file(shard_paths[s], false);
    Id src = h5::open_dataset(src_file, src_path);
    hsize_t sdims[2] = {h5::n_rows(src), width};
    if (sdims[0] < hsize_t(rows[s]))
      throw DataError(shard_paths[s].string() + ": " + src_path + " has " + std::to_string(sdims[0]) +
                      " rows; the committed trials need " + std::to_string(rows[s]));
    Id sspace(h5::check(H5Screate_simple(rank, sdims, nullptr), "creating a source dataspace"));
    hsize_t start[2] = {0, 0}, count[2] = {hsize_t(rows[s]), width};
    h5::check(H5Sselect_hyperslab(sspace, H5S_SELECT_SET, start, nullptr, count, nullptr), "selecting source rows");
    hsize_t vstart[2] = {offset, 0};
    h5::check(H5Sselect_hyperslab(vspace, H5S_SELECT_SET, vstart, nullptr, count, nullptr), "selecting virtual rows");
    h5::check(H5Pset_virtual(dcpl, vspace, files[s].c_str(), src_path.c_str(), sspace),
              "mapping " + src_path + " of " + files[s] + " into virtual " + name);
    offset += hsize_t(rows[s]);
  }
  H5Sselect_all(vspace);
  return Id(h5::check(H5Dcreate2(loc, name.c_str(), h5::file_type(type), vspace, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                      "creating virtual dataset " + src_path));
}

void virtual_merge(const std::vector<Shard>& in, const RecordingHeader& header, const fs::path& out,
                   const fs::path& tmp) {
  // Shards in shard order; each shard's trials in its file order.
  std::vector<const Shard*> shards;
  for (const auto& s : in) shards.push_back(&s);
  std::sort(shards.begin(), shards.end(), [](const Shard* a, const Shard* b) { return a->index < b->index; });
  const fs::path out_dir = fs::absolute(out).parent_path();
  std::vector<std::string> files;
  std::vector<fs::path> paths;
  std::vector<int64_t> rows;
  for (const Shard* s : shards) {
    files.push_back(fs::absolute(s->path).lexically_normal().lexically_relative(out_dir).string());
    paths.push_back(s->path);
    rows.push_back(s->r->n_rows());
  }

  // Virtual datasets need HDF5 1.10's dataset layout (readers: HDF5 >= 1.10, h5py >= 2.9,
  // MATLAB R2021b); everything else, the superblock included, keeps the 1.8 format.
  h5::FileOptions fo;
  fo.hold_metadata_until_flush = false;
  fo.allow_v110_objects = true;
  Id file = h5::create_file(tmp, /*truncate=*/true, fo);
  Id root = h5::open_group(file, "/");
  for (const auto& [k, v] : header.attrs) h5::set_attr(root, k, v);
  for (const auto& [k, v] : header.int_attrs) h5::set_attr(root, k, v);
  h5::set_attr(root, layout::kAttrFormat, std::string(layout::kFormat));
  h5::set_attr(root, layout::kAttrFormatVersion, layout::kFormatVersion);
  h5::set_attr(root, layout::kAttrIdentifier, new_uuid());
  h5::set_attr(root, layout::kAttrSourceIdentifiers, source_identifiers(in));
  h5::set_attr(root, layout::kAttrRecordingDtype, header.dtype);
  h5::set_attr(root, "compression", int64_t(header.compression));
  h5::set_attr(root, "virtual_shards", int64_t(shards.size()));
  write_stimuli_table(root, header.stimuli, {});
  write_electrodes_table(root, header.electrodes, {});

  // /trials and /events: copied, rows renumbered by each shard's offset.
  Id tg = h5::create_group(root, "trials");
  std::vector<Id> tc;
  for (const auto& c : layout::kTrialColumns) tc.push_back(h5::create_column(tg, c.name, c.type));
  const std::vector<FieldColumn> fields = field_columns(header.stimuli);
  std::vector<Id> fc = create_trial_fields(tg, fields, {});
  Id eg = h5::create_group(root, "events");
  std::vector<std::pair<Id, Id>> ec;
  for (const auto& name : header.events) {
    Id g = h5::create_group(eg, name);
    ec.emplace_back(h5::create_column(g, "trial", Dtype::kInt64), h5::create_column(g, "row", Dtype::kInt64));
  }
  int64_t offset = 0, n_trials = 0;
  for (const Shard* s : shards) {
    const auto& t = s->r->trials();
    TrialColumnsBlock table;
    for (const TrialRow& r : t) table.add(r, TrialSpan{r.row_start + offset, r.row_stop + offset});
    table.append_to(tc);
    const auto& stimulus = table.values<int64_t>(layout::trial_column("stimulus"));
    for (size_t k = 0; k < fields.size(); ++k) append_fields(fc[k], fields[k], header.stimuli, stimulus);
    for (size_t e = 0; e < header.events.size(); ++e) {
      std::vector<int64_t> trial, row;
      for (const EventRow& ev : s->r->events(header.events[e]))
        trial.push_back(ev.trial), row.push_back(ev.row + offset);
      h5::append(ec[e].first, trial);
      h5::append(ec[e].second, row);
    }
    offset += s->r->n_rows();
    n_trials += int64_t(t.size());
  }

  // /tokens and /recordings: virtual, nothing copied.
  Id kg = h5::create_group(root, "tokens");
  for (const auto& c : layout::kTokenColumns)
    create_virtual(kg, c.name, c.type, 1, false, files, std::string("/tokens/") + c.name, rows, paths);
  Id rg = h5::create_group(root, "recordings");
  const Dtype rec_type = header.dtype == "float16" ? Dtype::kFloat16 : Dtype::kFloat32;
  for (size_t i = 0; i < header.electrodes.size(); ++i) {
    const ElectrodeSpec& e = header.electrodes[i];
    Id site = h5::open_or_create_group(rg, e.site);
    Id ds = create_virtual(site, side_name(e.side), rec_type, hsize_t(e.width()), true, files, e.dataset_path(), rows,
                           paths);
    set_recording_attrs(ds, e, i);
  }
  describe_tables(root, header.events, fields);
  h5::set_attr(root, layout::kAttrTrialsPlanned, header.n_trials_planned);
  h5::set_attr(root, layout::kAttrTrialsCommitted, n_trials);
  h5::set_attr(root, layout::kAttrRowsCommitted, offset);
  tc.clear(), fc.clear(), ec.clear();
  kg.reset(), rg.reset(), tg.reset(), eg.reset(), root.reset();
  file.close();
}

}  // namespace

MergeResult merge_recordings(const std::vector<fs::path>& paths, const fs::path& out, const MergeOptions& opt) {
  if (paths.empty()) throw ConfigError("rig merge: expected at least one shard file");
  if (fs::exists(out) && !opt.force)
    throw ConfigError("merged recording " + out.string() + " already exists; pass --force to overwrite it");
  std::set<fs::path> seen;
  for (const auto& p : paths) {
    const fs::path canon = fs::weakly_canonical(p);
    if (canon == fs::weakly_canonical(out)) throw ConfigError(p.string() + " is both a shard and the output");
    if (!seen.insert(canon).second) throw ConfigError(p.string() + " is given twice");
  }
  check_output_path(out, opt.force, paths);
  std::vector<Shard> shards;
  for (const auto& p : paths) shards.push_back(open_shard(p));
  // Rows and moments do not combine: refused before the experiment checks (whose config_hash
  // would differ too, less clearly).
  for (const auto& s : shards)
    if (s.r->store() != shards.front().r->store())
      throw DataError("cannot merge a " + shards.front().r->store() + " recording (" + shards.front().path.string() +
                      ") with a " + s.r->store() + " one (" + s.path.string() + "; recording.store)" +
                      "\nHINT: merge the shards of one run, all recorded with the same recording.store");
  const bool stats = shards.front().r->is_statistics();
  if (stats && opt.virtual_datasets)
    throw ConfigError(
        "rig merge --virtual maps rows of raw recordings; statistics files (recording.store: statistics) "
        "are small: merge them without --virtual");
  for (size_t i = 1; i < shards.size(); ++i) check_same_experiment(shards[0], shards[i]);
  const auto order = locate_trials(shards);

  MergeResult res;
  const RecordingHeader header = merged_header(shards, res);
  if (out.has_parent_path()) fs::create_directories(out.parent_path());
  TempFile tmp{out.parent_path() / ("." + out.filename().string() + ".merging-" + std::to_string(::getpid()))};
  if (opt.virtual_datasets) {
    virtual_merge(shards, header, out, tmp.path);
  } else {
    if (stats) statistics_merge(shards, order, header, tmp.path);
    else copy_merge(shards, order, header, tmp.path, opt);
    // The writer stamped itself; the recording was made by the shards' rig.
    Id f = h5::open_file(tmp.path, true);
    Id root = h5::open_group(f, "/");
    for (const char* k : {layout::kAttrRigVersion, layout::kAttrGitCommit})
      if (auto v = shards.front().r->attr(k)) h5::set_attr(root, k, *v);
    h5::set_attr(root, layout::kAttrSourceIdentifiers, source_identifiers(shards));
    root.reset();
    f.close();
  }
  for (const auto& s : shards) res.n_rows += s.r->n_rows();
  res.n_trials = int64_t(order.size());
  publish_file(tmp.path, out, opt.force);  // without --force, never over a file made meanwhile
  tmp.keep = true;
  return res;
}

}  // namespace rig
