#include "recording/statistics.h"

#include <algorithm>

#include "core/error.h"
#include "core/events.h"
#include "recording/tables.h"

namespace rig {

Moments::Moments(int64_t conditions, int64_t bins, int64_t w)
    : n_conditions(conditions),
      n_bins(bins),
      width(w),
      count(size_t(conditions * bins), 0),
      mean(size_t(conditions * bins * w), 0.0),
      m2(size_t(conditions * bins * w), 0.0) {}

void Moments::add(int64_t c, int64_t b, const double* x) {
  const size_t k = cell(c, b);
  const int64_t n = ++count[k];
  double* mu = &mean[k * size_t(width)];
  double* s = &m2[k * size_t(width)];
  for (int64_t j = 0; j < width; ++j) {
    const double d = x[j] - mu[j];
    mu[j] += d / double(n);
    s[j] += d * (x[j] - mu[j]);
  }
}

void Moments::merge(const Moments& o) {
  if (o.n_conditions != n_conditions || o.n_bins != n_bins || o.width != width)
    throw Error("combining statistics of different shapes: " + std::to_string(n_conditions) + "x" +
                std::to_string(n_bins) + "x" + std::to_string(width) + " and " + std::to_string(o.n_conditions) + "x" +
                std::to_string(o.n_bins) + "x" + std::to_string(o.width));
  for (size_t k = 0; k < count.size(); ++k) {
    const int64_t na = count[k], nb = o.count[k];
    if (nb == 0) continue;
    const double n = double(na + nb), fb = double(nb) / n, fab = double(na) * double(nb) / n;
    double* mu = &mean[k * size_t(width)];
    double* s = &m2[k * size_t(width)];
    const double* omu = &o.mean[k * size_t(width)];
    const double* os = &o.m2[k * size_t(width)];
    for (int64_t j = 0; j < width; ++j) {
      const double d = omu[j] - mu[j];
      mu[j] += d * fb;
      s[j] += os[j] + d * d * fab;
    }
    count[k] = na + nb;
  }
}

std::vector<std::string> statistics_conditions(const std::vector<StimulusRow>& stimuli) {
  std::vector<std::string> out;
  for (const auto& s : stimuli)
    if (std::find(out.begin(), out.end(), s.condition) == out.end()) out.push_back(s.condition);
  return out;
}

int64_t statistics_event_row(const BinSpec& spec, const TrialResult& t) {
  if (is_builtin_event(spec.event)) {
    const auto b = builtin_events(t);
    auto it = b.find(spec.event);
    return it == b.end() ? -1 : it->second;
  }
  auto it = t.events.find(spec.event);
  return it == t.events.end() ? -1 : it->second;
}

void bin_trial(const BinSpec& spec, const float* rows, int64_t n_rows, int64_t width, int64_t event_row,
               std::vector<double>& out, std::vector<char>& valid) {
  const int64_t nb = spec.n_bins();
  out.assign(size_t(nb * width), 0.0);
  valid.assign(size_t(nb), 0);
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t r0 = std::max<int64_t>(0, event_row + spec.bin_start(b));
    const int64_t r1 = std::min<int64_t>(n_rows, event_row + spec.bin_stop(b));
    if (r0 >= r1) continue;
    double* o = &out[size_t(b * width)];
    // Summed in double row by row, then divided: the analysis's order (alignment.cc).
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < width; ++j) o[j] += double(rows[r * width + j]);
    for (int64_t j = 0; j < width; ++j) o[j] /= double(r1 - r0);
    valid[size_t(b)] = 1;
  }
}

namespace {

h5::Id create_fixed(hid_t loc, const std::string& name, hid_t type, const std::vector<hsize_t>& dims) {
  h5::Id space(h5::check(H5Screate_simple(int(dims.size()), dims.data(), nullptr), "creating a dataspace for " + name));
  h5::Id dcpl(h5::check(H5Pcreate(H5P_DATASET_CREATE), "creating a dataset creation property list"));
  // Contiguous and allocated (zero-filled) at creation: rewriting it in place never moves it,
  // so a checkpoint cannot disturb anything else in the file.
  h5::check(H5Pset_layout(dcpl, H5D_CONTIGUOUS), "setting a contiguous layout");
  h5::check(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY), "setting early allocation");
  h5::check(H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC), "setting the fill time");
  return h5::Id(h5::check(H5Dcreate2(loc, name.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                          "creating dataset " + name));
}

std::string where(const char* group, const char* what, const ElectrodeSpec& e) {
  return std::string("/") + group + "/" + what + "/" + e.site + "/" + side_name(e.side);
}

std::vector<hsize_t> dims_of(hid_t ds) {
  h5::Id space(h5::check(H5Dget_space(ds), "getting a dataspace"));
  const int rank = int(h5::check(H5Sget_simple_extent_ndims(space), "reading a rank"));
  std::vector<hsize_t> d(size_t(std::max(rank, 0)));
  H5Sget_simple_extent_dims(space, d.data(), nullptr);
  return d;
}

}  // namespace

void create_statistics(hid_t root, const char* group, const RecordingHeader& h) {
  h5::Id g = h5::create_group(root, group);
  const std::vector<std::string> conditions = statistics_conditions(h.stimuli);
  const hsize_t C = conditions.size(), B = hsize_t(h.bins.n_bins());
  const bool main = std::string(group) == kStatisticsGroup;
  if (main) {
    h5::set_attr(
        g, "description",
        std::string(
            "per condition x aligned bin, over trials: count, mean and M2 (sum of squared deviations from the mean; "
            "variance = M2 / (count - 1)) of every unit's bin value (mean of the trial's rows in the bin)"));
    h5::set_attr(g, "event", h.bins.event);
    h5::set_attr(g, "pre", h.bins.pre);
    h5::set_attr(g, "post", h.bins.post);
    h5::set_attr(g, "bin", h.bins.bin);
    std::vector<int64_t> start, stop;
    for (int64_t b = 0; b < h.bins.n_bins(); ++b)
      start.push_back(h.bins.bin_start(b)), stop.push_back(h.bins.bin_stop(b));
    h5::Id cs = h5::create_column(g, "conditions", h5::Dtype::kString),
           b0 = h5::create_column(g, "bin_start", h5::Dtype::kInt64),
           b1 = h5::create_column(g, "bin_stop", h5::Dtype::kInt64);
    h5::append(cs, conditions);
    h5::append(b0, start);
    h5::append(b1, stop);
    h5::set_attr(cs, "description", std::string("condition c of the first axis of count, mean and m2"));
    h5::set_attr(b0, "description", std::string("first offset from the event of bin b (second axis)"));
    h5::set_attr(b1, "description", std::string("one past the last offset of bin b"));
  } else {
    h5::set_attr(
        g, "description",
        std::string(
            "the writer's copy of /statistics, written before it (a killed writer's --resume recovers from it)"));
  }
  h5::Id cg = h5::create_group(g, "count"), mg = h5::create_group(g, "mean"), sg = h5::create_group(g, "m2");
  for (size_t i = 0; i < h.electrodes.size(); ++i) {
    const ElectrodeSpec& e = h.electrodes[i];
    const hsize_t W = hsize_t(e.width());
    const std::string side = side_name(e.side);
    h5::Id c = create_fixed(h5::open_or_create_group(cg, e.site), side, H5T_STD_I64LE, {C, B});
    h5::Id m = create_fixed(h5::open_or_create_group(mg, e.site), side, H5T_IEEE_F64LE, {C, B, W});
    h5::Id s = create_fixed(h5::open_or_create_group(sg, e.site), side, H5T_IEEE_F64LE, {C, B, W});
    if (!main) continue;
    set_recording_attrs(m, e, i);
    h5::set_attr(m, "description", std::string("mean over trials of each unit's bin value"));
    h5::set_attr(m, "dimensions", std::vector<std::string>{"condition", "bin", "neuron"});
    h5::set_attr(s, "description",
                 std::string("sum of squared deviations from the mean (variance = m2 / (count - 1))"));
    h5::set_attr(s, "dimensions", std::vector<std::string>{"condition", "bin", "neuron"});
    h5::set_attr(c, "description", std::string("trials with data in the bin"));
    h5::set_attr(c, "dimensions", std::vector<std::string>{"condition", "bin"});
  }
}

void write_statistics(hid_t root, const char* group, const std::vector<ElectrodeSpec>& electrodes,
                      const std::vector<Moments>& m) {
  h5::Id g = h5::open_group(root, group);
  for (size_t i = 0; i < electrodes.size(); ++i) {
    const ElectrodeSpec& e = electrodes[i];
    const std::string side = side_name(e.side);
    h5::Id c = h5::open_dataset(h5::open_group(h5::open_group(g, "count"), e.site), side);
    h5::check(H5Dwrite(c, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, m[i].count.data()),
              "writing " + where(group, "count", e));
    h5::Id mu = h5::open_dataset(h5::open_group(h5::open_group(g, "mean"), e.site), side);
    h5::check(H5Dwrite(mu, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, m[i].mean.data()),
              "writing " + where(group, "mean", e));
    h5::Id s = h5::open_dataset(h5::open_group(h5::open_group(g, "m2"), e.site), side);
    h5::check(H5Dwrite(s, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, m[i].m2.data()),
              "writing " + where(group, "m2", e));
  }
}

std::vector<Moments> read_statistics(hid_t root, const char* group, const std::vector<ElectrodeSpec>& electrodes) {
  h5::Id g = h5::open_group(root, group);
  std::vector<Moments> out;
  for (const auto& e : electrodes) {
    const std::string side = side_name(e.side);
    h5::Id c = h5::open_dataset(h5::open_group(h5::open_group(g, "count"), e.site), side);
    h5::Id mu = h5::open_dataset(h5::open_group(h5::open_group(g, "mean"), e.site), side);
    h5::Id s = h5::open_dataset(h5::open_group(h5::open_group(g, "m2"), e.site), side);
    const auto d = dims_of(mu);
    if (d.size() != 3 || dims_of(c) != std::vector<hsize_t>{d[0], d[1]} || dims_of(s) != d ||
        int64_t(d[2]) != e.width())
      throw DataError(where(group, "mean", e) +
                      ": expected count [conditions, bins] and mean, m2 [conditions, "
                      "bins, " +
                      std::to_string(e.width()) + "] of matching shapes");
    Moments m{int64_t(d[0]), int64_t(d[1]), int64_t(d[2])};
    h5::check(H5Dread(c, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, m.count.data()),
              "reading " + where(group, "count", e));
    h5::check(H5Dread(mu, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, m.mean.data()),
              "reading " + where(group, "mean", e));
    h5::check(H5Dread(s, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, m.m2.data()),
              "reading " + where(group, "m2", e));
    out.push_back(std::move(m));
  }
  return out;
}

BinSpec read_bin_spec(hid_t root) {
  h5::Id g = h5::open_group(root, kStatisticsGroup);
  BinSpec s;
  s.event = h5::get_string_attr(g, "event");
  s.pre = h5::get_int_attr(g, "pre");
  s.post = h5::get_int_attr(g, "post");
  s.bin = h5::get_int_attr(g, "bin");
  if (s.pre < 0 || s.post < 0 || s.bin < 1)
    throw DataError("/statistics: attributes pre, post, bin = " + std::to_string(s.pre) + ", " +
                    std::to_string(s.post) + ", " + std::to_string(s.bin) + "; expected pre, post >= 0 and bin >= 1");
  return s;
}

std::vector<std::string> read_statistics_conditions(hid_t root) {
  h5::Id g = h5::open_group(root, kStatisticsGroup);
  return h5::read_strings(h5::open_dataset(g, "conditions"));
}

}  // namespace rig
