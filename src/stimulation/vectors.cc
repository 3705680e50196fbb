#include "stimulation/vectors.h"

#include <hdf5.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>

#include "core/error.h"
#include "core/events.h"
#include "io/hdf5.h"
#include "recording/reader.h"

namespace rig {
namespace fs = std::filesystem;
using cfg::child;
using cfg::KeyPath;

namespace {

// The recording form's two conditions [A, B].
cfg::Codec<std::vector<std::string>> two_conditions() {
  return {[](const cfg::Decoder& d, const YAML::Node& n, const KeyPath& p) {
            std::vector<std::string> out;
            for (size_t i = 0; n.IsSequence() && n.size() == 2 && i < 2; ++i)
              if (n[i].IsScalar() && !n[i].Scalar().empty()) out.push_back(n[i].Scalar());
            if (out.size() != 2)
              cfg::fail(d.source(), n, p,
                        "expected two conditions [A, B] (mean of A minus mean of B), got " + cfg::describe(n));
            return out;
          },
          [](const std::vector<std::string>& v) {
            YAML::Node n;
            for (const auto& c : v) n.push_back(c);
            return n;
          }};
}

}  // namespace

cfg::Codec<RowSelector> rows_codec() {
  return {[](const cfg::Decoder& d, const YAML::Node& n, const KeyPath& p) {
            std::optional<RowSelector> r;
            if (n.IsScalar()) r = parse_rows(n.Scalar());
            if (!r) cfg::fail(d.source(), n, p, std::string("expected ") + kRowSyntax + ", got " + cfg::describe(n));
            return *r;
          },
          [](const RowSelector& r) { return YAML::Node(r.text); }};
}

// The mapping forms' keys (the inline form is a sequence: vector_codec).
template <class V>
void fields(V& v, VectorSource& s) {
  if (!s.mean_only) {
    v("file", s.file, cfg::text());
    v("dataset", s.dataset, cfg::text());
  }
  v("recording", s.recording, cfg::text());
  std::string condition = s.conditions.size() == 1 ? s.conditions[0] : "";
  v("condition", condition, cfg::text());
  std::vector<std::string> two = s.conditions.size() == 2 ? s.conditions : std::vector<std::string>{};
  if (!s.mean_only) v("conditions", two, two_conditions());
  v("rows", s.rows, rows_codec());
  v("site", s.site, cfg::text());
  v("side", s.side, cfg::one_of({"output", "input"}));
  v.validate([&](cfg::Decoder& d) {
    d.finish();  // a misspelt key first: "fil: unknown key; did you mean 'file'?"
    s.conditions = d.has("condition") ? std::vector<std::string>{condition} : two;
    const bool from_recording = d.has("recording");
    s.where = d.where(from_recording ? "" : "file");
    s.dataset_where = d.where("dataset");
    if (from_recording == d.has("file"))
      d.fail_here(s.mean_only ? "expected recording: FILE.h5 (a rig recording)"
                              : "expected one of file: (a .npy or .h5 file) or recording: (a rig recording)");
    const char* const recording_keys[] = {"condition", "conditions", "rows", "site", "side"};
    if (!from_recording) {
      for (const char* k : recording_keys)
        if (d.has(k)) d.fail_at(k, "only applies with recording: (a rig recording's condition means)");
      const std::string ext = fs::path(s.file).extension().string();
      if (ext == ".npy" && d.has("dataset")) d.fail_at("dataset", "only applies to an .h5 file");
      if ((ext == ".h5" || ext == ".hdf5") && !d.has("dataset"))
        d.fail_at("dataset", "missing required key for an .h5 file");
      if (ext != ".npy" && ext != ".h5" && ext != ".hdf5")
        d.fail_at("file", "expected a .npy or .h5 file, got '" + s.file + "'");
    } else {
      if (d.has("dataset")) d.fail_at("dataset", "only applies with file: (an .h5 file)");
      if (d.has("condition") == d.has("conditions"))
        d.fail_here(s.mean_only ? "expected condition: NAME"
                                : "expected exactly one of condition: NAME (its mean) or conditions: [A, B] (mean "
                                  "of A minus mean of B)");
    }
    const char* key = from_recording ? "recording" : "file";
    const std::string f = from_recording ? s.recording : s.file;
    if (!fs::is_regular_file(f))
      d.fail_at(key, "expected a file, got '" + f + "', which " +
                         (fs::exists(f) ? "is not a regular file" : "does not exist") +
                         " (relative to the working directory " + fs::current_path().string() + ")");
  });
}

cfg::Codec<VectorSource> vector_codec(bool mean_only) {
  return {[mean_only](const cfg::Decoder& d, const YAML::Node& n, const KeyPath& p) {
            VectorSource s;
            s.mean_only = mean_only;
            if (n.IsSequence() && !mean_only) {
              for (size_t i = 0; i < n.size(); ++i) {
                double x = 0;
                if (!n[i].IsScalar() || !cfg::parse_double(n[i].Scalar(), x))
                  cfg::fail(d.source(), n[i], child(p, std::to_string(i)),
                            "expected a number, got " + cfg::describe(n[i]));
                s.values.push_back(x);
              }
              s.where = d.source().where(n, p);
              return s;
            }
            cfg::Decoder m(d.source(), n, p,
                           mean_only ? "{recording: FILE.h5, condition: NAME, rows: ROWS}"
                                     : "a list of numbers, {file: V.npy}, {file: F.h5, dataset: NAME} or "
                                       "{recording: R.h5, conditions: [A, B], rows: ROWS}");
            fields(m, s);
            m.finish();
            return s;
          },
          [](const VectorSource& s) {
            if (s.file.empty() && s.recording.empty()) {
              YAML::Node n(YAML::NodeType::Sequence);
              for (double x : s.values) n.push_back(cfg::format_double(x));
              return n;
            }
            VectorSource c = s;
            cfg::Printer pr(false);
            fields(pr, c);
            return pr.out;
          }};
}

namespace {

std::vector<float> read_h5_dataset(const std::string& file, const std::string& dataset, const std::string& where) {
  h5::Id f = h5::open_file(file, /*writable=*/false);
  // H5Lexists fails on a missing intermediate group: check each prefix of the path.
  for (size_t pos = 0;; ++pos) {
    pos = dataset.find('/', pos);
    const std::string prefix = pos == std::string::npos ? dataset : dataset.substr(0, pos);
    if (!prefix.empty() && prefix != "/" && H5Lexists(f, prefix.c_str(), H5P_DEFAULT) <= 0)
      throw ConfigError(where + ": expected a dataset of " + file + ", got '" + dataset +
                        "', which is not in the file");
    if (pos == std::string::npos) break;
  }
  h5::Id d(H5Dopen2(f, dataset.c_str(), H5P_DEFAULT));
  if (!d.valid()) throw ConfigError(where + ": '" + dataset + "' in " + file + " is not a dataset");
  h5::Id space(H5Dget_space(d));
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  h5::Id type(H5Dget_type(d));
  if (H5Tget_class(type) != H5T_FLOAT && H5Tget_class(type) != H5T_INTEGER)
    throw ConfigError(where + ": expected a numeric dataset, got '" + dataset + "' in " + file + " of another type");
  std::vector<float> out(size_t(std::max<hssize_t>(n, 0)));
  h5::check(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()),
            "reading " + dataset + " of " + file);
  return out;
}

// Mean over the trials of `condition` of each trial's mean over `rows`, at columns `cols` of
// electrode e (trials weigh equally, whatever their lengths).
std::vector<double> condition_mean(const RecordingReader& r, size_t e, const std::vector<int64_t>& cols,
                                   const std::string& condition, const RowSelector& rows, const std::string& where,
                                   int64_t* n_trials) {
  std::vector<int64_t> event_rows;  // absolute, per trial of r.trials(); -1: none
  if (rows.kind == RowSelector::Kind::kEvent) {
    try {
      event_rows = r.event_rows(rows.event);
    } catch (const DataError& e) {
      throw ConfigError(where + ": rows: " + e.what());
    }
  }
  const int64_t width = r.electrodes()[e].width();
  std::vector<double> sum(cols.size(), 0.0);
  int64_t used = 0, of_condition = 0;
  std::vector<float> buf;
  for (size_t i = 0; i < r.trials().size(); ++i) {
    const TrialRow& t = r.trials()[i];
    if (t.condition != condition) continue;
    ++of_condition;
    std::map<std::string, int64_t> ev;
    if (!event_rows.empty() && event_rows[i] >= 0) ev[rows.event] = event_rows[i] - t.row_start;
    auto [lo, hi] = rows.resolve(t.n_prompt_tokens, ev);
    lo = std::max<int64_t>(lo, 0);
    hi = std::min<int64_t>(hi, t.n_rows());
    if (lo >= hi) continue;
    buf.resize(size_t((hi - lo) * width));
    r.read_rows(e, t.row_start + lo, t.row_start + hi, buf.data());
    for (size_t j = 0; j < cols.size(); ++j) {
      double s = 0;
      for (int64_t k = 0; k < hi - lo; ++k) s += buf[size_t(k * width + cols[j])];
      sum[j] += s / double(hi - lo);
    }
    ++used;
  }
  if (used == 0)
    throw ConfigError(where + ": expected trials of condition '" + condition + "' with rows '" + rows.text + "' in " +
                      r.path().string() + ", got " +
                      (of_condition ? std::to_string(of_condition) + " trials, none of which has such rows"
                                    : "none (no trial has that condition)"));
  for (double& s : sum) s /= double(used);
  *n_trials = used;
  return sum;
}

// Condition means of a rig recording at iv's neurons (VectorSource's recording form).
std::vector<float> from_recording(const VectorSource& src, const Intervention& iv, std::string* from) {
  const std::string& file = src.recording;
  const std::vector<std::string>& conds = src.conditions;
  const RowSelector& rows = src.rows;
  const std::string site = src.site.empty() ? iv.site : src.site;
  const Side side = src.side.empty() ? iv.side : src.side == "input" ? Side::kInput : Side::kOutput;
  const std::string& where = src.where;

  RecordingReader r(file);
  size_t e = r.electrodes().size();
  std::string recorded;
  for (size_t i = 0; i < r.electrodes().size(); ++i) {
    const auto& es = r.electrodes()[i];
    if (es.site == site && es.side == side) e = i;
    recorded += (recorded.empty() ? "" : ", ") + es.site + " " + side_name(es.side);
  }
  if (e == r.electrodes().size())
    throw ConfigError(where + ": expected a recording of " + site + " " + side_name(side) + " in " + file +
                      ", got electrodes: " + (recorded.empty() ? "none" : recorded));
  const ElectrodeSpec& es = r.electrodes()[e];
  if (es.site_width != iv.site_width)
    throw ConfigError(where + ": " + site + " " + side_name(side) + " in " + file + " is " +
                      std::to_string(es.site_width) + " wide, expected " + std::to_string(iv.site_width) + " (the " +
                      side_name(iv.side) + " width of " + iv.site + ")");
  // The file's column of each neuron the intervention selects.
  std::vector<int64_t> cols;
  for (int64_t k = 0; k < iv.width(); ++k) {
    const int64_t neuron = iv.neurons.empty() ? k : iv.neurons[size_t(k)];
    if (es.neurons.empty()) {
      cols.push_back(neuron);
      continue;
    }
    auto it = std::lower_bound(es.neurons.begin(), es.neurons.end(), neuron);
    if (it == es.neurons.end() || *it != neuron)
      throw ConfigError(where + ": " + file + " recorded " + std::to_string(es.neurons.size()) + " of the " +
                        std::to_string(es.site_width) + " neurons of " + site + ", not neuron " +
                        std::to_string(neuron));
    cols.push_back(int64_t(it - es.neurons.begin()));
  }
  int64_t n0 = 0, n1 = 0;
  std::vector<double> m = condition_mean(r, e, cols, conds[0], rows, where, &n0);
  std::ostringstream os;
  os << (conds.size() == 2 ? "mean(" + conds[0] + ") - mean(" + conds[1] + ")" : "mean(" + conds[0] + ")") << " of "
     << file << " " << site << " rows " << rows.text << " (" << n0;
  if (conds.size() == 2) {
    std::vector<double> m1 = condition_mean(r, e, cols, conds[1], rows, where, &n1);
    for (size_t j = 0; j < m.size(); ++j) m[j] -= m1[j];
    os << " and " << n1;
  }
  os << " trials)";
  *from = os.str();
  return std::vector<float>(m.begin(), m.end());
}

}  // namespace

std::vector<float> read_npy(const std::string& file, const std::string& where) {
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto bad = [&](const std::string& what) {
    return ConfigError(where + ": " + file + ": expected a .npy file of float32 or float64 values, " + what);
  };
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) throw bad("got no NUMPY magic");
  const int major = uint8_t(bytes[6]);
  size_t hlen = 0, start = 0;
  if (major == 1) {
    hlen = uint8_t(bytes[8]) | (size_t(uint8_t(bytes[9])) << 8);
    start = 10;
  } else if ((major == 2 || major == 3) && bytes.size() >= 12) {
    for (int i = 0; i < 4; ++i) hlen |= size_t(uint8_t(bytes[size_t(8 + i)])) << (8 * i);
    start = 12;
  } else {
    throw bad("got format version " + std::to_string(major));
  }
  if (bytes.size() < start + hlen) throw bad("got a truncated header");
  // The header is a short Python dict literal; std::regex below recurses per character.
  if (hlen > 65536) throw bad("got a header of " + std::to_string(hlen) + " bytes (at most 65536)");
  const std::string header = bytes.substr(start, hlen);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([<>|=]?)([fi])([0-9]+)'")))
    throw bad("got header " + header);
  const std::string endian = m[1], kind = m[2];
  const int size = std::stoi(m[3]);
  if (endian == ">" || kind != "f" || (size != 4 && size != 8)) throw bad("got dtype " + std::string(m[0]));
  if (std::regex_search(header, std::regex("'fortran_order':\\s*True"))) throw bad("got Fortran order");
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)"))) throw bad("got no shape");
  size_t count = 1;
  std::string dims = m[1];
  std::regex num("[0-9]+");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator(); ++it) {
    size_t dim = 0;
    try {
      dim = size_t(std::stoull(it->str()));
    } catch (const std::out_of_range&) {
      throw bad("got shape (" + dims + ")");
    }
    // Checked products: a wrapped count would pass the size check below and read past the data.
    if (__builtin_mul_overflow(count, dim, &count) || count > (size_t(1) << 40)) throw bad("got shape (" + dims + ")");
  }
  const size_t data = start + hlen;
  if (bytes.size() < data + count * size_t(size))
    throw bad("got " + std::to_string(bytes.size() - data) + " data bytes for " + std::to_string(count) + " values");
  std::vector<float> out(count);
  for (size_t i = 0; i < count; ++i) {
    if (size == 4) {
      std::memcpy(&out[i], bytes.data() + data + 4 * i, 4);
    } else {
      double d;
      std::memcpy(&d, bytes.data() + data + 8 * i, 8);
      out[i] = float(d);
    }
  }
  return out;
}

std::vector<float> load_vector(const VectorSource& src, const Intervention& iv, std::string* from) {
  if (!src.recording.empty()) return from_recording(src, iv, from);
  if (src.file.empty()) {
    *from = "inline vector";
    return std::vector<float>(src.values.begin(), src.values.end());
  }
  if (fs::path(src.file).extension() == ".npy") {
    *from = src.file;
    return read_npy(src.file, src.where);
  }
  *from = src.file + ":" + src.dataset;
  return read_h5_dataset(src.file, src.dataset, src.dataset_where);
}

}  // namespace rig
