#include "export/nwb.h"

#include <algorithm>
#include <ctime>
#include <limits>
#include <map>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "core/trial.h"
#include "core/uuid.h"
#include "export/nwb_schema.h"
#include "io/hdf5.h"
#include "recording/layout.h"
#include "recording/reader.h"
#include "rig/version.h"

namespace rig {
namespace {

namespace fs = std::filesystem;
using h5::Id;

// Time in an exported file is counted in tokens: sample r of every TimeSeries is row r of the
// recording, at r seconds (rate 1 Hz, starting_time 0), trials end to end as in the recording.
// Tokens have no duration in seconds; one per second keeps rows, times and the trials table's
// start/stop times the same integers.
constexpr double kRateHz = 1.0;
constexpr const char* kTimeNote =
    "Time is counted in tokens: sample r is row r of the rig recording (/tokens), at r seconds "
    "(one token per second by convention, rate 1.0, starting_time 0), the trials end to end; trial i spans "
    "[start_time, stop_time) of /intervals/trials.";

Id own(hid_t id, const std::string& what) {
  h5::check(id, what);
  return Id(id);
}

// A variable-length string type (UTF-8, or ASCII as hdmf stores isodatetime values).
Id string_type(bool ascii) {
  Id t = own(H5Tcopy(H5T_C_S1), "copying a string type");
  h5::check(H5Tset_size(t, H5T_VARIABLE), "making a variable-length string type");
  h5::check(H5Tset_cset(t, ascii ? H5T_CSET_ASCII : H5T_CSET_UTF8), "setting a string type's character set");
  return t;
}

// hdmf's three attributes of every typed object (neurodata_type is its class in the schema).
void set_type(hid_t obj, const char* ns, const char* type) {
  h5::set_attr(obj, "namespace", std::string(ns));
  h5::set_attr(obj, "neurodata_type", std::string(type));
  h5::set_attr(obj, "object_id", new_uuid());
}

void set_f64_attr(hid_t obj, const std::string& name, double value) {
  Id space = own(H5Screate(H5S_SCALAR), "creating a dataspace");
  Id a = own(H5Acreate2(obj, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT),
             "creating attribute '" + name + "'");
  h5::check(H5Awrite(a, H5T_NATIVE_DOUBLE, &value), "writing attribute '" + name + "'");
}

Id write_text(hid_t loc, const std::string& name, const std::string& value, bool ascii = false) {
  Id type = string_type(ascii);
  Id space = own(H5Screate(H5S_SCALAR), "creating a dataspace");
  Id ds = own(H5Dcreate2(loc, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
              "creating dataset '" + name + "'");
  const char* p = value.c_str();
  h5::check(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, &p), "writing dataset '" + name + "'");
  return ds;
}

// A 1-D dataset of n elements (contiguous: the tables are small and written once).
Id write_vector(hid_t loc, const std::string& name, hid_t file_type, hid_t mem_type, const void* data, size_t n) {
  const hsize_t dims[1] = {hsize_t(n)};
  Id space = own(H5Screate_simple(1, dims, nullptr), "creating a dataspace");
  Id ds = own(H5Dcreate2(loc, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
              "creating dataset '" + name + "'");
  if (n) h5::check(H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "writing dataset '" + name + "'");
  return ds;
}

Id write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& values, bool ascii = false) {
  std::vector<const char*> p;
  for (const auto& v : values) p.push_back(v.c_str());
  Id type = string_type(ascii);
  return write_vector(loc, name, type, type, p.data(), p.size());
}

Id write_f64(hid_t loc, const std::string& name, const std::vector<double>& values) {
  return write_vector(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, values.data(), values.size());
}

// "2025-01-31T12:00:00Z" -> "2025-01-31T12:00:00+00:00" (the form pynwb writes).
std::string nwb_datetime(std::string iso) {
  if (!iso.empty() && iso.back() == 'Z') iso = iso.substr(0, iso.size() - 1) + "+00:00";
  return iso;
}

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
  return buf;
}

void write_specifications(hid_t file) {
  Id specs = h5::create_group(file, "specifications");
  for (const auto& s : nwb::cached_specs()) {
    Id ns = h5::open_or_create_group(specs, std::string(s.ns));
    Id version = h5::open_or_create_group(ns, std::string(s.version));
    write_text(version, std::string(s.source), std::string(s.text));
  }
  // hdmf finds the cached namespaces through this object reference on the root.
  hobj_ref_t ref;
  h5::check(H5Rcreate(&ref, file, "specifications", H5R_OBJECT, -1), "referencing /specifications");
  Id space = own(H5Screate(H5S_SCALAR), "creating a dataspace");
  Id a = own(H5Acreate2(file, ".specloc", H5T_STD_REF_OBJ, space, H5P_DEFAULT, H5P_DEFAULT),
             "creating attribute '.specloc'");
  h5::check(H5Awrite(a, H5T_STD_REF_OBJ, &ref), "writing attribute '.specloc'");
}

std::string core_version() {
  for (const auto& s : nwb::cached_specs())
    if (s.ns == "core") return std::string(s.version);
  throw Error("rig was built without the NWB core schema (data/nwb/spec/core): reconfigure with CMake");
}

std::string layer_text(int64_t layer) {
  return layer >= 0 ? "decoder layer " + std::to_string(layer) : "outside the decoder layers";
}

std::string neurons_text(const ElectrodeSpec& e) {
  if (e.neurons.empty())
    return "Column j is unit j of the site's " + std::to_string(e.site_width) + " units (all of them).";
  std::string s = "Column j is unit neurons[j] of the site's " + std::to_string(e.site_width) + " units; neurons = [";
  for (size_t j = 0; j < e.neurons.size(); ++j) s += (j ? ", " : "") + std::to_string(e.neurons[j]);
  return s + "].";
}

// Rows [0, n) of the 1-D column `ds` (any integer or float type, or variable-length strings),
// written as loc/name with the same type; row i is row order[i] of `ds` (in order when `order`
// is empty). `what` names the column in errors.
Id copy_column(hid_t loc, const std::string& name, hid_t ds, size_t n, const std::vector<size_t>& order,
               const std::string& what) {
  Id ftype = own(H5Dget_type(ds), "reading the type of " + what);
  const bool is_string = H5Tget_class(ftype) == H5T_STRING;
  if (is_string && H5Tis_variable_str(ftype) <= 0) throw DataError(what + " is not a variable-length string column");
  Id mtype = own(is_string ? H5Tcopy(ftype) : H5Tget_native_type(ftype, H5T_DIR_ASCEND), "a memory type for " + what);
  const size_t size = H5Tget_size(mtype);
  if (h5::rank(ds) != 1 || h5::n_rows(ds) < hsize_t(n))
    throw DataError(what + " is not a column of " + std::to_string(n) + " rows or more");
  std::vector<unsigned char> in(n * size), out;
  const hsize_t cnt[1] = {hsize_t(n)};
  if (n) {
    const hsize_t off[1] = {0};
    Id fspace = own(H5Dget_space(ds), "a dataspace");
    h5::check(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, off, nullptr, cnt, nullptr), "selecting rows of " + what);
    Id mspace = own(H5Screate_simple(1, cnt, nullptr), "a dataspace");
    h5::check(H5Dread(ds, mtype, mspace, fspace, H5P_DEFAULT, in.data()), "reading " + what);
  }
  if (!order.empty()) {
    out.resize(n * size);
    for (size_t i = 0; i < n; ++i) std::copy_n(&in[order[i] * size], size, &out[i * size]);
  }
  Id dst = write_vector(loc, name, ftype, mtype, order.empty() ? in.data() : out.data(), n);
  if (is_string && n) {  // frees the strings HDF5 allocated for the read
    Id mspace = own(H5Screate_simple(1, cnt, nullptr), "a dataspace");
    H5Dvlen_reclaim(mtype, mspace, H5P_DEFAULT, in.data());
  }
  return dst;
}

// The attributes NWB's TimeSeries data carries, and the time base of every series (see kRateHz).
void describe_data(hid_t data, const std::string& unit) {
  h5::set_attr(data, "unit", unit);
  set_f64_attr(data, "conversion", 1.0);
  set_f64_attr(data, "offset", 0.0);
  set_f64_attr(data, "resolution", -1.0);  // unknown, as NWB spells it
}

void write_timing(hid_t ts) {
  const double start = 0.0;
  Id space = own(H5Screate(H5S_SCALAR), "creating a dataspace");
  Id st = own(H5Dcreate2(ts, "starting_time", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
              "creating dataset 'starting_time'");
  h5::check(H5Dwrite(st, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &start), "writing 'starting_time'");
  set_f64_attr(st, "rate", kRateHz);
  h5::set_attr(st, "unit", std::string("seconds"));
}

// One TimeSeries per electrode: data [n_rows, width] in the recording's dtype and compression,
// streamed in blocks of about 8 MiB.
void write_series(hid_t acquisition, const RecordingReader& rec, size_t e, int gzip) {
  const ElectrodeSpec& el = rec.electrodes()[e];
  const std::string side = side_name(el.side);
  Id ts = h5::create_group(acquisition, el.site + "." + side);
  set_type(ts, "core", "TimeSeries");
  const std::string model = rec.attr("model").value_or("(unknown model)");
  h5::set_attr(ts, "description",
               "Activations of the Hugging Face module " + el.site + " (" + el.module_type + "), " + side + " side, " +
                   layer_text(el.layer) + ", of the model " + model + ", recorded by rig: one sample per token. " +
                   kTimeNote);
  h5::set_attr(ts, "comments",
               neurons_text(el) + " The rig recording's dataset: " + el.dataset_path() +
                   "; units are arbitrary (a.u.): the activations as the model computes them.");
  const h5::Dtype dtype = rec.dtype() == "float16" ? h5::Dtype::kFloat16 : h5::Dtype::kFloat32;
  const hsize_t width = hsize_t(el.width());
  h5::Layout layout;
  layout.chunk_rows = h5::chunk_rows_for(width * (dtype == h5::Dtype::kFloat16 ? 2 : 4));
  layout.gzip = gzip;
  Id data = h5::create_matrix(ts, "data", dtype, width, layout);
  describe_data(data, "a.u.");
  const int64_t block = std::max<int64_t>(1, (int64_t(8) << 20) / int64_t(width * sizeof(float)));
  std::vector<float> buf;
  for (int64_t r0 = 0; r0 < rec.n_rows(); r0 += block) {
    const int64_t r1 = std::min(rec.n_rows(), r0 + block);
    buf.resize(size_t((r1 - r0) * int64_t(width)));
    rec.read_rows(e, r0, r1, buf.data());
    h5::append_rows(data, buf.data(), hsize_t(r1 - r0));
  }
  write_timing(ts);
}

// The tokens presented, /tokens' token_id, text and generated columns, as TimeSeries of
// /stimulus/presentation on the same time base as the activations: sample r is row r.
void write_tokens(hid_t presentation, hid_t src, const RecordingReader& rec) {
  Id tokens = h5::open_group(src, "tokens");
  for (const auto& c : layout::kTokenColumns) {
    const std::string name = c.name;
    if (name != "token_id" && name != "text" && name != "generated") continue;  // trial, position: the trials table
    Id ts = h5::create_group(presentation, "token_" + (name == "token_id" ? std::string("id") : name));
    set_type(ts, "core", "TimeSeries");
    h5::set_attr(ts, "description",
                 "The tokens the model processed, one sample per token: " + std::string(c.description) + " (/tokens/" +
                     name + " of the rig recording). " + kTimeNote);
    Id ds = h5::open_dataset(tokens, name);
    Id data = copy_column(ts, "data", ds, size_t(rec.n_rows()), {}, rec.path().string() + ": /tokens/" + name);
    describe_data(data, "n/a");
    write_timing(ts);
  }
}

// The recording's /trials, committed rows only, in row order, as the NWB trials table: every
// column of the recording's table but row_start/row_stop (start_time/stop_time) and index
// (the table's id), copied with its type and description, then one `<event>_time` column per
// event. Copied generically, so columns the recording gains need no change here.
void write_trials(hid_t file, hid_t src, const RecordingReader& rec) {
  const std::vector<TrialRow>& trials = rec.trials();
  const size_t n = trials.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return trials[a].row_start < trials[b].row_start; });
  Id intervals = h5::create_group(file, "intervals");
  Id table = h5::create_group(intervals, "trials");
  set_type(table, "core", "TimeIntervals");
  h5::set_attr(table, "description",
               std::string("The trials of the rig recording, one row per committed trial in time order; id is the "
                           "trial's index in the experiment's full trial list. ") +
                   kTimeNote);
  std::vector<std::string> colnames;
  auto column = [&](Id ds, const std::string& name, const std::string& description) {
    set_type(ds, "hdmf-common", "VectorData");
    h5::set_attr(ds, "description", description);
    colnames.push_back(name);
  };
  std::vector<double> start(n), stop(n);
  std::vector<int64_t> id(n);
  std::map<int64_t, size_t> row_of_index;  // trial index -> row of the NWB table
  for (size_t i = 0; i < n; ++i) {
    const TrialRow& t = trials[order[i]];
    start[i] = double(t.row_start);
    stop[i] = double(t.row_stop);
    id[i] = t.index;
    row_of_index[t.index] = i;
  }
  column(write_f64(table, "start_time", start), "start_time",
         "start of the trial: its first row in the rig recording (row_start), in tokens counted as seconds");
  column(write_f64(table, "stop_time", stop), "stop_time",
         "end of the trial: one past its last row (row_stop, exclusive), in tokens counted as seconds");

  Id src_trials = h5::open_group(src, "trials");
  const std::vector<std::string> names = h5::has_attr(src_trials, "colnames")
                                             ? h5::get_string_vector_attr(src_trials, "colnames")
                                             : h5::children(src_trials);
  for (const std::string& name : names) {
    if (name == "row_start" || name == "row_stop" || name == "index") continue;
    Id ds = h5::open_dataset(src_trials, name);
    std::string description;
    if (h5::has_attr(ds, "description")) description = h5::get_string_attr(ds, "description");
    for (const auto& c : layout::kTrialColumns)
      if (description.empty() && name == c.name) description = c.description;
    if (description.empty()) description = "column " + name + " of the rig recording's /trials";
    Id dst = copy_column(table, name, ds, n, order, rec.path().string() + ": /trials/" + name);
    column(std::move(dst), name, description);
  }

  // Events: the time (row) of each, NaN in trials without it.
  for (const std::string& ev : rec.event_names()) {
    const std::string name = ev + "_time";
    if (std::find(colnames.begin(), colnames.end(), name) != colnames.end())
      throw DataError(rec.path().string() + ": event '" + ev + "' would make column '" + name +
                      "' of the NWB trials table, which the recording's /trials has already");
    std::vector<double> t(n, std::numeric_limits<double>::quiet_NaN());
    for (const EventRow& r : rec.events(ev)) {
      auto it = row_of_index.find(r.trial);
      if (it != row_of_index.end()) t[it->second] = double(r.row);
    }
    column(write_f64(table, name, t), name,
           "time of the event '" + ev + "' in the trial: its row in the rig recording (/events/" + ev +
               "/row), in tokens counted as seconds; NaN: the trial has no such event");
  }
  Id ids = write_vector(table, "id", H5T_STD_I64LE, H5T_NATIVE_INT64, id.data(), n);
  set_type(ids, "hdmf-common", "ElementIdentifiers");
  h5::set_attr(table, "colnames", colnames);
}

// Provenance as "name: value" lines (every root attribute of the recording but the config,
// which goes to /general/protocol).
std::string notes(const RecordingReader& rec) {
  std::string s = "Exported by rig " + std::string(kVersion) + " (" + kGitCommit + ") from the rig recording " +
                  fs::absolute(rec.path()).lexically_normal().string() +
                  " (docs/FORMAT.md). Its root attributes, the recording's provenance:\n";
  for (const auto& [k, v] : rec.attrs()) {
    if (k == "config") continue;
    if (v.find('\n') == std::string::npos) {
      s += k + ": " + v + "\n";
    } else {  // sha256sum lines
      s += k + ":\n";
      size_t b = 0;
      while (b < v.size()) {
        const size_t e = std::min(v.find('\n', b), v.size());
        if (e > b) s += "  " + v.substr(b, e - b) + "\n";
        b = e + 1;
      }
    }
  }
  for (const auto& [k, v] : rec.int_attrs()) s += k + ": " + std::to_string(v) + "\n";
  return s;
}

// The subject is the model. NWB's subject fields are an animal's; rig fills in only what is
// true of a model: its id (NWB forbids '/' there: the hub id's '/' becomes "--", as in the HF
// cache), what it is, sex "O" (other) and age "P0D/" (NWB's open range, "0 days or more": the
// age is unknown). No species: a model has none (nwbinspector reports that as a best-practice
// violation, docs/NWB.md).
void write_subject(hid_t general, const RecordingReader& rec) {
  std::string id = rec.attr("model").value_or("model");
  for (size_t p; (p = id.find('/')) != std::string::npos;) id.replace(p, 1, "--");
  const std::string revision = rec.attr("revision").value_or("");
  if (!revision.empty()) id += "@" + revision;
  Id subject = h5::create_group(general, "subject");
  set_type(subject, "core", "Subject");
  write_text(subject, "subject_id", id);
  write_text(subject, "description",
             "the language model " + rec.attr("model").value_or("(unknown)") +
                 (revision.empty() ? "" : " at revision " + revision) + ", architecture " +
                 rec.attr("architecture").value_or("(unknown)") + ", weights sha256 " +
                 rec.attr("weights_sha256").value_or("(not recorded)"));
  write_text(subject, "sex", "O");
  write_text(subject, "age", "P0D/");
}

void write_general(hid_t file, const RecordingReader& rec) {
  Id general = h5::create_group(file, "general");
  write_subject(general, rec);
  write_text(general, "notes", notes(rec));
  if (auto c = rec.attr("config")) write_text(general, "protocol", "The rig experiment config (YAML) as run:\n" + *c);
  const std::string model = rec.attr("model").value_or("(unknown)");
  write_text(general, "experiment_description",
             "rig experiment '" + rec.attr("name").value_or("") +
                 "': stimuli (prompts) presented in trials to the "
                 "language model " +
                 model + ", its activations recorded at every token.");
  write_text(general, "data_collection",
             "Activations recorded by rig's forward hooks at Hugging Face named_modules() sites, one sample per "
             "token the model processed (prompt tokens, then generated ones), " +
                 rec.attr("dtype").value_or("?") + " compute on " + rec.attr("device").value_or("?") + ".");
  if (auto id = rec.attr(layout::kAttrIdentifier)) write_text(general, "session_id", *id);
  write_strings(general, "keywords", {"language model", "activations", "rig", rec.attr("architecture").value_or("?")});
  Id script =
      write_text(general, "source_script", std::string("rig ") + kVersion + " (" + kGitCommit + "): rig export --nwb");
  h5::set_attr(script, "file_name", std::string("rig"));
}

}  // namespace

NwbExportResult export_nwb(const fs::path& recording, const fs::path& out, const NwbExportOptions& options) {
  std::error_code ec;
  if (fs::exists(out) && fs::equivalent(recording, out, ec))
    throw ConfigError(out.string() + ": is the recording itself; name another output file");
  if (fs::exists(out) && !options.force) throw ConfigError(out.string() + ": exists (use --force to overwrite it)");
  RecordingReader rec(recording);
  Id src = h5::open_file(recording, false);

  NwbExportResult result;
  result.identifier = new_uuid();
  result.nwb_version = core_version();
  result.n_trials = int64_t(rec.trials().size());
  result.n_rows = rec.n_rows();
  result.n_series = int64_t(rec.electrodes().size());

  const fs::path tmp = out.string() + ".creating";
  h5::FileOptions fo;
  fo.hold_metadata_until_flush = false;
  try {
    Id file = h5::create_file(tmp, true, fo);
    set_type(file, "core", "NWBFile");
    h5::set_attr(file, "nwb_version", result.nwb_version);
    write_specifications(file);
    write_text(file, "identifier", result.identifier);
    const std::string created = nwb_datetime(rec.attr(layout::kAttrCreated).value_or(now_utc()));
    write_text(file, "session_description",
               "rig recording '" + rec.attr("name").value_or("") + "' of " + rec.attr("model").value_or("(unknown)") +
                   ": " + std::to_string(result.n_trials) + " trials, " + std::to_string(result.n_rows) + " tokens, " +
                   std::to_string(result.n_series) + " electrodes");
    write_text(file, "session_start_time", created, true);
    write_text(file, "timestamps_reference_time", created, true);
    write_strings(file, "file_create_date", {now_utc()}, true);
    write_general(file, rec);
    Id acquisition = h5::create_group(file, "acquisition");
    const auto gz = rec.int_attrs().find("compression");
    const int gzip = gz == rec.int_attrs().end() ? 0 : int(gz->second);
    for (size_t e = 0; e < rec.electrodes().size(); ++e) write_series(acquisition, rec, e, gzip);
    h5::create_group(file, "analysis");
    h5::create_group(file, "processing");
    Id stimulus = h5::create_group(file, "stimulus");
    Id presentation = h5::create_group(stimulus, "presentation");
    write_tokens(presentation, src, rec);
    presentation.reset();
    h5::create_group(stimulus, "templates");
    write_trials(file, src, rec);
    acquisition.reset();
    stimulus.reset();
    file.close();
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  fs::rename(tmp, out);
  return result;
}

}  // namespace rig
