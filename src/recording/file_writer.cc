#include "recording/file_writer.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "core/uuid.h"
#include "io/hdf5.h"
#include "recording/layout.h"
#include "recording/reader.h"
#include "recording/statistics.h"
#include "recording/tables.h"
#include "rig/version.h"

namespace rig {
namespace {

using h5::Dtype;
using h5::Id;

std::string iso8601_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The first line where two texts differ, for "config differs" messages.
std::string first_difference(const std::string& a, const std::string& b) {
  std::istringstream sa(a), sb(b);
  std::string la, lb;
  for (int line = 1;; ++line) {
    bool ga = bool(std::getline(sa, la)), gb = bool(std::getline(sb, lb));
    if (!ga && !gb) return "";
    if (!ga) la = "<end>";
    if (!gb) lb = "<end>";
    if (la != lb) return "line " + std::to_string(line) + ": file has '" + la + "', this run has '" + lb + "'";
  }
}

// The /trials columns the writer reads back or needs beside the table (trial_cols[i]).
constexpr size_t kIndexColumn = layout::trial_column("index");
constexpr size_t kStimulusColumn = layout::trial_column("stimulus");
constexpr size_t kRowStopColumn = layout::trial_column("row_stop");
constexpr hsize_t kTableChunk = 4096;   // rows per chunk of /trials and /stimuli columns
constexpr hsize_t kTokenChunk = 16384;  // rows per chunk of /tokens and /events columns

// Opens a recording for writing; while another process holds HDF5's lock on it (the writer
// process of a killed run, finishing its last batch) waits for up to a minute. A file system
// without locks is no reason to wait: h5::open_file opens such a file without HDF5's lock.
Id open_when_unlocked(const std::filesystem::path& path) {
  const auto start = std::chrono::steady_clock::now();
  bool said = false;
  for (;;) {
    try {
      return h5::open_file(path, /*writable=*/true);
    } catch (const DataError& e) {
      const auto waited = std::chrono::steady_clock::now() - start;
      if (!h5::is_lock_failure(e) || waited > std::chrono::seconds(60)) throw;
      if (!said && waited > std::chrono::seconds(1)) {
        std::fprintf(stderr,
                     "rig: %s is locked by another process (the writer of a killed run finishing, or a "
                     "reader); waiting for it, up to 60 s\n",
                     path.c_str());
        said = true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// Whether another process holds a lock on `path` (HDF5 holds one while it has a file open).
bool locked_elsewhere(const std::filesystem::path& path) { return h5::probe_lock(path) == h5::LockState::kHeld; }

}  // namespace

void check_header(const RecordingHeader& h) {
  if (h.dtype != "float32" && h.dtype != "float16")
    throw ConfigError("recording dtype '" + h.dtype + "': expected float32 or float16");
  if (h.store != "raw" && h.store != "statistics")
    throw ConfigError("recording store '" + h.store + "': expected raw or statistics");
  if (h.store == "statistics" && h.compression != 0)
    throw ConfigError("recording compression applies to store: raw only (statistics are written uncompressed)");
  if (h.store == "statistics" && (h.bins.pre < 0 || h.bins.post < 0 || h.bins.bin < 1))
    throw ConfigError("recording bins: expected pre, post >= 0 and bin >= 1");
  if (h.compression < 0 || h.compression > 9)
    throw ConfigError("recording compression " + std::to_string(h.compression) + ": expected 0 (none) to 9");
  std::set<std::string> paths;
  for (const auto& e : h.electrodes) {
    if (e.site.empty() || e.site.find('/') != std::string::npos)
      throw ConfigError("electrode site '" + e.site +
                        "': a site name must be non-empty and "
                        "contain no '/'");
    if (e.width() <= 0)
      throw ConfigError("electrode " + e.dataset_path() + " has width " + std::to_string(e.width()) + "; expected > 0");
    if (!paths.insert(e.dataset_path()).second) throw ConfigError("electrode " + e.dataset_path() + " is listed twice");
  }
  std::set<std::string> events;
  for (const auto& name : h.events)
    if (name.empty() || name.find('/') != std::string::npos || !events.insert(name).second)
      throw ConfigError("event name '" + name + "': expected unique non-empty names without '/'");
}

void check_output_path(const std::filesystem::path& out, bool force, const std::vector<std::filesystem::path>& inputs) {
  struct stat st {};
  if (::lstat(out.c_str(), &st) != 0) return;  // nothing there: created atomically later
  if (!force)
    throw ConfigError("recording " + out.string() +
                      " already exists; pass --force to overwrite it or --resume to continue it");
  if (S_ISLNK(st.st_mode))
    throw ConfigError(out.string() +
                      ": --force replaces regular files only, and this is a symbolic link; "
                      "remove it or choose another output");
  if (!S_ISREG(st.st_mode))
    throw ConfigError(out.string() + ": --force replaces regular files only, and this is " +
                      (S_ISDIR(st.st_mode) ? "a directory" : "a device, fifo or socket") + "; choose another output");
  for (const auto& in : inputs) {
    struct stat is {};
    if (::stat(in.c_str(), &is) == 0 && is.st_dev == st.st_dev && is.st_ino == st.st_ino)
      throw ConfigError(out.string() + ": --force would overwrite " + in.string() +
                        ", an input of this run; choose another output");
  }
  if (locked_elsewhere(out))
    throw ConfigError(out.string() +
                      " is open in another process (another rig run writing it, or a reader); "
                      "--force will not replace a file in use");
}

void publish_file(const std::filesystem::path& tmp, const std::filesystem::path& out, bool force) {
  if (force) {
    if (::rename(tmp.c_str(), out.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      throw Error("renaming " + tmp.string() + " to " + out.string() + ": " + std::strerror(err));
    }
    return;
  }
  // link(2) is the atomic "create if absent": of two runs started together on one path,
  // exactly one gets it (rename would let the second silently replace the first's file).
  int rc = ::link(tmp.c_str(), out.c_str());
  int err = errno;
  if (rc != 0 && err != EEXIST) {  // a file system without hard links: the same test in one call
    rc = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, out.c_str(), RENAME_NOREPLACE);
    err = errno;
  }
  ::unlink(tmp.c_str());
  if (rc != 0 && err == EEXIST)
    throw ConfigError("recording " + out.string() +
                      " already exists (another run created it meanwhile); "
                      "pass --force to overwrite it or --resume to continue it");
  if (rc != 0) throw Error("creating " + out.string() + ": " + std::strerror(err));
}

struct RecordingFile::Impl {
  std::filesystem::path path;
  RecordingHeader header;
  WriterOptions opt;
  Dtype dtype = Dtype::kFloat32;

  // HDF5 objects: touched by the constructor's thread before the writer thread starts, then
  // by the writer thread only, then by close() after joining it.
  Id file, root;
  std::vector<Id> trial_cols, token_cols;
  std::vector<FieldColumn> fields;            // extra stimulus fields: /trials/<field>
  std::vector<Id> field_cols;                 // per field
  std::vector<std::pair<Id, Id>> event_cols;  // per header event: (trial, row)
  std::vector<Id> recordings;                 // per electrode (store raw)
  // store statistics: the moments of the committed trials (after a batch: including it), per
  // electrode, and the conditions they are indexed by.
  bool stats = false;
  std::vector<Moments> moments;
  std::vector<std::string> conditions;
  int64_t n_trials = 0, n_rows = 0;  // committed
  // The file's identity once it is in place at `path`: another process may replace or remove
  // the name while we write (a second run with --force, a user's rm); committed trials would
  // then be lost without a word, so each commit and close() check the name still leads here.
  dev_t dev = 0;
  ino_t ino = 0;

  // What a flush may allocate beyond the end of allocation (h5::flush's reserve): the next
  // chunks of every dataset (chunks get their file space when the flush writes them), twice
  // the batch's bytes, and room for metadata.
  hsize_t flush_reserve(hsize_t batch_bytes) const {
    hsize_t r = (hsize_t(4) << 20) + 2 * batch_bytes;
    for (const auto* list : {&trial_cols, &field_cols, &token_cols, &recordings})
      for (const Id& d : *list) r += 2 * h5::chunk_bytes(d);
    for (const auto& [trial, row] : event_cols) r += 2 * (h5::chunk_bytes(trial) + h5::chunk_bytes(row));
    for (const auto& m : moments) r += 2 * (m.count.size() * 8 + 2 * m.mean.size() * 8);
    return r;
  }

  void remember_identity() {
    void* handle = nullptr;
    struct stat st {};
    if (H5Fget_vfd_handle(file, H5P_DEFAULT, &handle) >= 0 && handle && ::fstat(*static_cast<int*>(handle), &st) == 0)
      dev = st.st_dev, ino = st.st_ino;
  }
  void check_in_place() const {
    if (!ino) return;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || st.st_dev != dev || st.st_ino != ino)
      throw Error("recording " + path.string() +
                  " was replaced or removed by another process while this run wrote "
                  "it: the " +
                  std::to_string(n_trials) +
                  " trials this run committed are not in the file at that "
                  "path (was a second run started with --force on the same output?)");
  }

  mutable std::mutex mu;           // guards committed
  std::vector<int64_t> committed;  // trial indices, in file order

  // gzip level of the datasets while recording (see WriterOptions::compress_on_close).
  int gzip() const { return opt.compress_on_close ? 0 : header.compression; }
  h5::Layout chunked(hsize_t rows) const { return {rows, gzip(), std::nullopt}; }

  void create_datasets() {
    Id g = h5::create_group(root, "trials");
    for (const auto& c : layout::kTrialColumns)
      trial_cols.push_back(h5::create_column(g, c.name, c.type, chunked(kTableChunk)));
    fields = field_columns(header.stimuli);
    field_cols = create_trial_fields(g, fields, chunked(kTableChunk));
    g = h5::create_group(root, "tokens");
    for (const auto& c : layout::kTokenColumns)
      token_cols.push_back(h5::create_column(g, c.name, c.type, chunked(kTokenChunk)));
    g = h5::create_group(root, "events");
    for (const auto& name : header.events) {
      Id ev = h5::create_group(g, name);
      h5::Layout l = chunked(kTokenChunk);
      l.int_fill = -1;  // see h5::Layout::int_fill
      event_cols.emplace_back(h5::create_column(ev, "trial", Dtype::kInt64, l),
                              h5::create_column(ev, "row", Dtype::kInt64, l));
    }
    if (stats) {
      // No /recordings: the moments and, written before them at each commit, their copy.
      create_statistics(root, kStatisticsGroup, header);
      create_statistics(root, kCheckpointGroup, header);
      write_electrodes_table(root, header.electrodes, chunked(kTableChunk));
      describe_tables(root, header.events, fields);
      return;
    }
    g = h5::create_group(root, "recordings");
    const hsize_t elem = dtype == Dtype::kFloat16 ? 2 : 4;
    for (size_t i = 0; i < header.electrodes.size(); ++i) {
      const ElectrodeSpec& e = header.electrodes[i];
      Id site = h5::open_or_create_group(g, e.site);
      const hsize_t w = hsize_t(e.width());
      Id ds = h5::create_matrix(site, side_name(e.side), dtype, w,
                                chunked(std::min<hsize_t>(kTokenChunk, h5::chunk_rows_for(w * elem))));
      set_recording_attrs(ds, e, i);
      ds.reset();
      recordings.push_back(h5::open_dataset(site, side_name(e.side)));
    }
    write_electrodes_table(root, header.electrodes, chunked(kTableChunk));
    describe_tables(root, header.events, fields);
  }

  void open_datasets() {
    Id g = h5::open_group(root, "trials");
    for (const auto& c : layout::kTrialColumns) trial_cols.push_back(h5::open_dataset(g, c.name));
    fields = field_columns(header.stimuli);
    std::vector<FieldColumn> missing;  // a file of a rig before typed /trials fields
    for (const auto& f : fields)
      if (!h5::exists(g, f.name)) missing.push_back(f);
    if (!missing.empty()) {  // filled from the stimulus column; cut with the others
      std::vector<Id> made = create_trial_fields(g, missing, chunked(kTableChunk));
      const std::vector<int64_t> stim = h5::read_int64(trial_cols[kStimulusColumn]);
      for (size_t k = 0; k < missing.size(); ++k) append_fields(made[k], missing[k], header.stimuli, stim);
      made.clear();
      describe_tables(root, header.events, fields);
    }
    for (const auto& f : fields) field_cols.push_back(h5::open_dataset(g, f.name));
    g = h5::open_group(root, "tokens");
    for (const auto& c : layout::kTokenColumns) token_cols.push_back(h5::open_dataset(g, c.name));
    g = h5::open_group(root, "events");
    for (const auto& name : header.events) {
      Id ev = h5::open_group(g, name);
      event_cols.emplace_back(h5::open_dataset(ev, "trial"), h5::open_dataset(ev, "row"));
    }
    if (stats) return;
    g = h5::open_group(root, "recordings");
    for (const auto& e : header.electrodes) {
      Id site = h5::open_group(g, e.site);
      recordings.push_back(h5::open_dataset(site, side_name(e.side)));
    }
  }

  // store statistics: each committed trial's binned values, added to its condition's moments.
  void accumulate(const std::vector<TrialResult>& batch, const RowSource& rows) {
    std::vector<double> binned;
    std::vector<char> valid;
    for (size_t i = 0; i < batch.size(); ++i) {
      const TrialResult& t = batch[i];
      const int64_t c = std::find(conditions.begin(), conditions.end(), t.condition) - conditions.begin();
      const int64_t ev = statistics_event_row(header.bins, t);
      if (c >= int64_t(conditions.size()) || ev < 0) continue;  // counted in no bin (as the analysis)
      for (size_t e = 0; e < moments.size(); ++e) {
        const int64_t w = moments[e].width;
        bin_trial(header.bins, rows(i, e), int64_t(t.tokens.size()), w, ev, binned, valid);
        for (int64_t b = 0; b < int64_t(valid.size()); ++b)
          if (valid[size_t(b)]) moments[e].add(c, b, &binned[size_t(b * w)]);
      }
    }
  }

  // A killed writer may have stopped while rewriting /statistics; its copy, complete and marked
  // (statistics_checkpoint_trials) before /statistics was touched, then holds the next commit.
  void recover_statistics() {
    const int64_t committed_trials = h5::get_int_attr(root, layout::kAttrTrialsCommitted);
    if (h5::has_attr(root, layout::kAttrCheckpointTrials) &&
        h5::get_int_attr(root, layout::kAttrCheckpointTrials) > committed_trials) {
      write_statistics(root, kStatisticsGroup, header.electrodes,
                       read_statistics(root, kCheckpointGroup, header.electrodes));
      h5::flush(file, opt.fsync, flush_reserve(0));
      h5::set_attr(root, layout::kAttrTrialsCommitted, h5::get_int_attr(root, layout::kAttrCheckpointTrials));
      h5::set_attr(root, layout::kAttrRowsCommitted, h5::get_int_attr(root, layout::kAttrCheckpointRows));
      h5::flush(file, opt.fsync, flush_reserve(0));
    }
    moments = read_statistics(root, kStatisticsGroup, header.electrodes);
  }

  void set_store() {
    stats = header.store == "statistics";
    if (!stats) return;
    conditions = statistics_conditions(header.stimuli);
    if (!opt.statistics.empty()) {
      moments = opt.statistics;
      return;
    }
    for (const auto& e : header.electrodes)
      moments.emplace_back(int64_t(conditions.size()), header.bins.n_bins(), e.width());
  }

  void write_stimuli() { write_stimuli_table(root, header.stimuli, chunked(kTableChunk)); }

  // Compares the file with the header; returns what differs, one item per line.
  std::string differences() {
    std::string diff;
    auto add = [&](const std::string& s) { diff += "\n  " + s; };
    static const std::set<std::string> volatile_attrs = {layout::kAttrCreated, layout::kAttrRigVersion,
                                                         layout::kAttrGitCommit, "device", layout::kAttrIdentifier};
    // A file of a rig before recording_dtype held the recording dtype in `dtype`.
    const bool old_dtype = !h5::has_attr(root, layout::kAttrRecordingDtype);
    const char* dtype_attr = old_dtype ? "dtype" : layout::kAttrRecordingDtype;
    const std::string file_dtype = h5::has_attr(root, dtype_attr) ? h5::get_string_attr(root, dtype_attr) : "(none)";
    for (const auto& [k, v] : header.attrs) {
      if (volatile_attrs.count(k) || (old_dtype && k == "dtype")) continue;
      if (!h5::has_attr(root, k)) {
        if (std::find(std::begin(kProvenanceAttrs), std::end(kProvenanceAttrs), k) != std::end(kProvenanceAttrs))
          continue;  // a file of a rig before provenance attributes
        add("attribute '" + k + "': missing in the file");
        continue;
      }
      const std::string f = h5::get_string_attr(root, k);
      if (f == v) continue;
      if (k == "config") add("config differs at " + first_difference(f, v));
      else if (f.size() + v.size() < 200) add("attribute '" + k + "': file has '" + f + "', this run has '" + v + "'");
      else add("attribute '" + k + "' differs");
    }
    if (file_dtype != header.dtype) add("recording dtype: file has " + file_dtype + ", this run has " + header.dtype);
    const std::string file_store =
        h5::has_attr(root, layout::kAttrStore) ? h5::get_string_attr(root, layout::kAttrStore) : "raw";
    if (file_store != header.store) {
      add("store: file has " + file_store + ", this run has " + header.store);
      return diff;
    }
    if (stats) {
      Id mean = h5::open_group(h5::open_group(root, kStatisticsGroup), "mean");
      for (const auto& e : header.electrodes)
        if (!h5::exists(mean, e.site) || !h5::exists(h5::open_group(mean, e.site), side_name(e.side)))
          add("electrode " + e.dataset_path() + ": missing in the file's /statistics");
      return diff;
    }
    Id rec = h5::open_group(root, "recordings");
    for (const auto& e : header.electrodes) {
      if (!h5::exists(rec, e.site) || !h5::exists(h5::open_group(rec, e.site), side_name(e.side))) {
        add("electrode " + e.dataset_path() + ": missing in the file");
        continue;
      }
      Id ds = h5::open_dataset(h5::open_group(rec, e.site), side_name(e.side));
      if (int64_t(h5::width(ds)) != e.width())
        add("electrode " + e.dataset_path() + ": file has " + std::to_string(h5::width(ds)) +
            " neurons, this run has " + std::to_string(e.width()));
    }
    size_t n_file = 0;
    for (const auto& site : h5::children(rec)) n_file += h5::children(h5::open_group(rec, site)).size();
    if (n_file != header.electrodes.size())
      add("electrodes: file has " + std::to_string(n_file) + ", this run has " +
          std::to_string(header.electrodes.size()));
    Id ev = h5::open_group(root, "events");
    for (const auto& name : header.events)
      if (!h5::exists(ev, name)) add("event '" + name + "': missing in the file");
    return diff;
  }

  // Cuts every dataset to the committed trials (rows a killed writer left behind).
  void cut_to_committed() {
    n_trials = h5::get_int_attr(root, layout::kAttrTrialsCommitted);
    const hsize_t rows_in_table = h5::n_rows(trial_cols[kIndexColumn]);
    if (hsize_t(n_trials) > rows_in_table)
      throw DataError(path.string() + " is damaged: " + std::to_string(n_trials) +
                      " trials committed but the trials table has " + std::to_string(rows_in_table) + " rows");
    std::vector<int64_t> stops = h5::read_int64(trial_cols[kRowStopColumn], 0, hsize_t(n_trials));
    n_rows = stops.empty() ? 0 : stops.back();
    committed = h5::read_int64(trial_cols[kIndexColumn], 0, hsize_t(n_trials));
    // String columns are cleaned beyond the cut (see h5::cut_rows_clean); numbers are simply
    // overwritten by the next appends.
    auto cut = [](const Id& c, Dtype type, hsize_t rows) {
      if (type == Dtype::kString) h5::cut_rows_clean(c, rows);
      else h5::set_rows(c, rows);
    };
    for (size_t i = 0; i < trial_cols.size(); ++i) cut(trial_cols[i], layout::kTrialColumns[i].type, hsize_t(n_trials));
    for (size_t i = 0; i < field_cols.size(); ++i) cut(field_cols[i], column_type(fields[i].type), hsize_t(n_trials));
    for (size_t i = 0; i < token_cols.size(); ++i) cut(token_cols[i], layout::kTokenColumns[i].type, hsize_t(n_rows));
    for (auto& r : recordings) {
      if (h5::n_rows(r) < hsize_t(n_rows))
        throw DataError(path.string() + " is damaged: " + h5::object_path(r) + " has " + std::to_string(h5::n_rows(r)) +
                        " rows; the committed trials need " + std::to_string(n_rows));
      h5::set_rows(r, hsize_t(n_rows));
    }
    for (auto& [trial, row] : event_cols) {
      // Events are appended trial by trial, so the committed ones come first.
      std::vector<int64_t> rows = h5::read_int64(row);
      hsize_t keep = 0;
      while (keep < rows.size() && rows[keep] >= 0 && rows[keep] < n_rows) ++keep;
      h5::set_rows(trial, keep);
      h5::set_rows(row, keep);
    }
    h5::set_attr(root, layout::kAttrRowsCommitted, n_rows);
  }

  void write_batch(const std::vector<TrialResult>& batch, const RowSource& rows) {
    const size_t nt = batch.size();
    TrialColumnsBlock table;
    std::vector<int64_t> tok_trial, tok_pos, tok_id;
    std::vector<std::string> tok_text;
    std::vector<uint8_t> tok_gen;
    std::vector<std::vector<int64_t>> ev_trial(header.events.size()), ev_row(header.events.size());
    int64_t row = n_rows;
    for (size_t i = 0; i < nt; ++i) {
      const TrialResult& t = batch[i];
      const TrialSpan span{row, row + int64_t(t.tokens.size())};
      table.add(t, span);
      for (const TokenRow& k : t.tokens) {
        tok_trial.push_back(t.index);
        tok_pos.push_back(k.position);
        tok_id.push_back(k.token_id);
        tok_text.push_back(k.text);
        tok_gen.push_back(k.generated ? 1 : 0);
      }
      for (size_t e = 0; e < header.events.size(); ++e) {
        auto it = t.events.find(header.events[e]);
        if (it == t.events.end()) continue;
        ev_trial[e].push_back(t.index);
        ev_row[e].push_back(row + it->second);
      }
      row = span.row_stop;
    }
    if (stats && opt.statistics.empty()) accumulate(batch, rows);
    // Recordings first (the bulk): one append per electrode for the whole batch.
    std::vector<std::pair<const float*, hsize_t>> blocks(nt);
    for (size_t e = 0; e < recordings.size(); ++e) {
      for (size_t i = 0; i < nt; ++i) blocks[i] = {rows(i, e), batch[i].tokens.size()};
      h5::append_row_blocks(recordings[e], blocks);
    }
    h5::append(token_cols[0], tok_trial);
    h5::append(token_cols[1], tok_pos);
    h5::append(token_cols[2], tok_id);
    h5::append(token_cols[3], tok_text);
    h5::append(token_cols[4], tok_gen);
    for (size_t e = 0; e < event_cols.size(); ++e) {
      h5::append(event_cols[e].first, ev_trial[e]);
      h5::append(event_cols[e].second, ev_row[e]);
    }
    table.append_to(trial_cols);
    const auto& stimulus = table.values<int64_t>(kStimulusColumn);
    for (size_t k = 0; k < fields.size(); ++k) append_fields(field_cols[k], fields[k], header.stimuli, stimulus);

    // Commit: data on disk first, then the marker that makes it count.
    hsize_t row_bytes = 0;  // the rows may lie in shared memory (writer process): from the header
    for (const auto& e : header.electrodes) row_bytes += hsize_t(e.width()) * sizeof(float);
    hsize_t batch_bytes = 0;
    for (const TrialResult& t : batch) {
      batch_bytes += t.prompt.size() + t.response.size() + t.condition.size() + 256 + t.tokens.size() * row_bytes;
      for (const TokenRow& k : t.tokens) batch_bytes += k.text.size() + 64;
    }
    const hsize_t reserve = flush_reserve(batch_bytes);
    h5::flush(file, opt.fsync, reserve);
    if (stats) {
      // The copy first, marked complete; then /statistics, rewritten in place, which only the
      // commit marker below makes count (recover_statistics).
      write_statistics(root, kCheckpointGroup, header.electrodes, moments);
      h5::flush(file, opt.fsync, reserve);
      h5::set_attr(root, layout::kAttrCheckpointTrials, n_trials + int64_t(nt));
      h5::set_attr(root, layout::kAttrCheckpointRows, row);
      h5::flush(file, opt.fsync, reserve);
      write_statistics(root, kStatisticsGroup, header.electrodes, moments);
      h5::flush(file, opt.fsync, reserve);
    }
    h5::set_attr(root, layout::kAttrTrialsCommitted, n_trials + int64_t(nt));
    h5::set_attr(root, layout::kAttrRowsCommitted, row);
    h5::flush(file, opt.fsync, reserve);
    n_trials += int64_t(nt);
    n_rows = row;
    check_in_place();
    std::lock_guard<std::mutex> lock(mu);
    const auto& index = table.values<int64_t>(kIndexColumn);
    committed.insert(committed.end(), index.begin(), index.end());
  }
};

std::unique_ptr<RecordingFile> RecordingFile::create(const std::filesystem::path& path, const RecordingHeader& header,
                                                     bool force, const WriterOptions& opt) {
  check_header(header);
  check_output_path(path, force, {});
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  // The file is built under a temporary name and renamed into place once its skeleton is on
  // disk: a kill during creation then leaves no file (or, with --force, the old one), never a
  // half-written one that readers cannot open. The name is the process's own: H5Fcreate
  // truncates an existing file before it finds it locked by another writer.
  const std::filesystem::path creating = path.string() + ".creating." + std::to_string(::getpid());
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->header = header;
  impl->opt = opt;
  impl->dtype = header.dtype == "float16" ? Dtype::kFloat16 : Dtype::kFloat32;
  impl->set_store();
  // Whatever fails below (a full disk included) leaves no file at `path` and removes ours.
  struct RemoveOnError {
    const std::filesystem::path& p;
    bool armed = true;
    ~RemoveOnError() {
      std::error_code ec;
      if (armed) std::filesystem::remove(p, ec);
    }
  } cleanup{creating};
  impl->file = h5::create_file(creating, /*truncate=*/true);
  impl->root = h5::open_group(impl->file, "/");
  hid_t root = impl->root;
  for (const auto& [k, v] : header.attrs) h5::set_attr(root, k, v);
  for (const auto& [k, v] : header.int_attrs) h5::set_attr(root, k, v);
  h5::set_attr(root, layout::kAttrFormat, std::string(layout::kFormat));
  h5::set_attr(root, layout::kAttrFormatVersion, layout::kFormatVersion);
  h5::set_attr(root, layout::kAttrRigVersion, std::string(kVersion));
  h5::set_attr(root, layout::kAttrGitCommit, std::string(kGitCommit));
  if (!header.attrs.count(layout::kAttrCreated))  // a compressed copy keeps the original's
    h5::set_attr(root, layout::kAttrCreated, iso8601_now());
  // The compressed copy keeps the original's identifier (it is the same recording).
  if (!header.attrs.count(layout::kAttrIdentifier)) h5::set_attr(root, layout::kAttrIdentifier, new_uuid());
  h5::set_attr(root, layout::kAttrRecordingDtype, header.dtype);
  h5::set_attr(root, "compression", int64_t(header.compression));
  h5::set_attr(root, layout::kAttrStore, header.store);
  h5::set_attr(root, layout::kAttrTrialsPlanned, header.n_trials_planned);
  h5::set_attr(root, layout::kAttrTrialsCommitted, int64_t(0));
  h5::set_attr(root, layout::kAttrRowsCommitted, int64_t(0));
  impl->write_stimuli();
  impl->create_datasets();
  h5::flush(impl->file, /*sync=*/true, impl->flush_reserve(0));
  if (opt.still_wanted && !opt.still_wanted()) {
    impl.reset();  // closes every HDF5 object, the file last
    std::filesystem::remove(creating);
    throw Error("recording " + path.string() + ": creation abandoned (its run ended)");
  }
  if (force && locked_elsewhere(path))  // checked again: another run may have started meanwhile
    throw ConfigError(path.string() +
                      " is open in another process (another rig run writing it, or a reader); "
                      "--force will not replace a file in use");
  publish_file(creating, path, force);  // the open handle follows the file
  cleanup.armed = false;
  impl->remember_identity();
  if (opt.fsync) h5::fsync_directory(path);
  return std::unique_ptr<RecordingFile>(new RecordingFile(std::move(impl)));
}

std::unique_ptr<RecordingFile> RecordingFile::resume(const std::filesystem::path& path, const RecordingHeader& header,
                                                     const WriterOptions& opt) {
  check_header(header);
  if (!std::filesystem::exists(path)) throw ConfigError("cannot resume " + path.string() + ": no such file");
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->header = header;
  impl->opt = opt;
  impl->dtype = header.dtype == "float16" ? Dtype::kFloat16 : Dtype::kFloat32;
  impl->set_store();
  impl->file = open_when_unlocked(path);
  impl->root = h5::open_group(impl->file, "/");
  hid_t root = impl->root;
  if (!h5::has_attr(root, layout::kAttrFormat) || h5::get_string_attr(root, layout::kAttrFormat) != layout::kFormat)
    throw DataError("cannot resume " + path.string() +
                    ": not a rig recording (root attribute "
                    "format != '" +
                    layout::kFormat + "')");
  const int64_t version = h5::get_int_attr(root, layout::kAttrFormatVersion);
  if (version != layout::kFormatVersion)
    throw DataError("cannot resume " + path.string() + ": format_version " + std::to_string(version) +
                    ", this rig writes " + std::to_string(layout::kFormatVersion));
  if (std::string diff = impl->differences(); !diff.empty())
    throw ConfigError("cannot resume " + path.string() + ": it records a different experiment:" + diff +
                      "\nHINT: run with the file's config, or pass --force to start over");
  h5::reserve_to_end_of_file(impl->file);
  if (!h5::has_attr(root, layout::kAttrRecordingDtype)) {  // a file of an older rig
    h5::set_attr(root, layout::kAttrRecordingDtype, header.dtype);
    if (auto d = header.attrs.find("dtype"); d != header.attrs.end()) h5::set_attr(root, "dtype", d->second);
  }
  if (!h5::has_attr(root, layout::kAttrIdentifier)) h5::set_attr(root, layout::kAttrIdentifier, new_uuid());
  impl->open_datasets();
  if (impl->stats) impl->recover_statistics();
  impl->cut_to_committed();
  h5::set_attr(root, layout::kAttrResumes,
               (h5::has_attr(root, layout::kAttrResumes) ? h5::get_int_attr(root, layout::kAttrResumes) : 0) + 1);
  h5::flush(impl->file, opt.fsync, impl->flush_reserve(0));
  impl->remember_identity();
  return std::unique_ptr<RecordingFile>(new RecordingFile(std::move(impl)));
}

RecordingFile::RecordingFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RecordingFile::~RecordingFile() = default;  // closes every HDF5 object, the file last

void RecordingFile::write(const std::vector<TrialResult>& batch, const RowSource& rows) {
  impl_->write_batch(batch, rows);
}

void RecordingFile::close() {
  Impl& m = *impl_;
  std::exception_ptr error;
  try {
    m.check_in_place();
  } catch (...) {
    error = std::current_exception();
  }
  try {
    m.trial_cols.clear();
    m.field_cols.clear();
    m.token_cols.clear();
    m.event_cols.clear();
    m.recordings.clear();
    m.root.reset();
    m.file.close();
  } catch (...) {
    if (!error) error = std::current_exception();
  }
  if (error) std::rethrow_exception(error);
}

std::vector<int64_t> RecordingFile::committed() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->committed;
}

const std::filesystem::path& RecordingFile::path() const { return impl_->path; }
const RecordingHeader& RecordingFile::header() const { return impl_->header; }
const WriterOptions& RecordingFile::options() const { return impl_->opt; }

}  // namespace rig
