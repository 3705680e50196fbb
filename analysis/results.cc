#include "analysis/results.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <limits>
#include <sstream>

#include "core/error.h"
#include "core/uuid.h"
#include "io/hdf5.h"
#include "rig/version.h"

namespace rig::analysis {

using h5::Id;

namespace {

// Fixed-size float64 / int64 datasets (results are written once; no chunking needed).
void write_array(hid_t loc, const std::string& name, hid_t file_type, hid_t mem_type, const std::vector<hsize_t>& dims,
                 const void* data) {
  Id space(H5Screate_simple(int(dims.size()), dims.data(), nullptr));
  h5::check(space.get(), "creating the dataspace of " + name);
  Id ds(H5Dcreate2(loc, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  h5::check(ds.get(), "creating dataset " + name);
  hsize_t n = 1;
  for (auto d : dims) n *= d;
  if (n) h5::check(H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "writing dataset " + name);
}
void write_f64(hid_t loc, const std::string& name, const std::vector<double>& v) {
  write_array(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {v.size()}, v.data());
}
void write_f64(hid_t loc, const std::string& name, const Mat& m) {
  write_array(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {hsize_t(m.rows()), hsize_t(m.cols())}, m.data());
}
void write_i64(hid_t loc, const std::string& name, const std::vector<int64_t>& v) {
  write_array(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, {v.size()}, v.data());
}
void write_u8(hid_t loc, const std::string& name, const std::vector<uint8_t>& v) {
  write_array(loc, name, H5T_STD_U8LE, H5T_NATIVE_UINT8, {v.size()}, v.data());
}
void write_str(hid_t loc, const std::string& name, const std::vector<std::string>& v) {
  Id c = h5::create_column(loc, name, h5::Dtype::kString, {std::max<hsize_t>(1, v.size()), 0, std::nullopt});
  h5::append(c, v);
}
void set_f64_attr(hid_t obj, const std::string& name, double v) {
  Id space(H5Screate(H5S_SCALAR));
  Id a(H5Acreate2(obj, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT));
  h5::check(a.get(), "creating attribute " + name);
  h5::check(H5Awrite(a, H5T_NATIVE_DOUBLE, &v), "writing attribute " + name);
}

std::vector<hsize_t> dims_of(hid_t ds) {
  Id space(H5Dget_space(ds));
  std::vector<hsize_t> d(size_t(std::max(0, H5Sget_simple_extent_ndims(space))));
  H5Sget_simple_extent_dims(space, d.data(), nullptr);
  return d;
}
Id open(hid_t loc, const std::string& name, const std::string& file) {
  if (!h5::exists(loc, name))
    throw DataError(file + ": not a complete rig analysis file: " + h5::object_path(loc) + "/" + name + " is missing");
  return h5::open_dataset(loc, name);
}
std::vector<double> read_f64(hid_t loc, const std::string& name, const std::string& file) {
  Id ds = open(loc, name, file);
  hsize_t n = 1;
  for (auto d : dims_of(ds)) n *= d;
  std::vector<double> v(n);
  if (n) h5::check(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), "reading " + name);
  return v;
}
Mat read_mat(hid_t loc, const std::string& name, const std::string& file) {
  Id ds = open(loc, name, file);
  auto d = dims_of(ds);
  Mat m(d.size() > 0 ? int64_t(d[0]) : 0, d.size() > 1 ? int64_t(d[1]) : 1);
  if (m.size()) h5::check(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, m.data()), "reading " + name);
  return m;
}
std::vector<int64_t> read_i64(hid_t loc, const std::string& name, const std::string& file) {
  Id ds = open(loc, name, file);
  std::vector<int64_t> v(size_t(dims_of(ds).at(0)));
  if (!v.empty()) h5::check(H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), "reading " + name);
  return v;
}
double get_f64_attr(hid_t obj, const std::string& name) {
  Id a(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
  h5::check(a.get(), "opening attribute " + name);
  double v = 0;
  h5::check(H5Aread(a, H5T_NATIVE_DOUBLE, &v), "reading attribute " + name);
  return v;
}

std::string now_utc() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void check_group_name(const std::string& what, const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name == ".")
    throw DataError(what + " '" + name + "' cannot name an HDF5 group (empty, '.', or contains '/')");
}

struct SelColumn {
  const char* name;
  std::vector<double> Selectivity::*member;
  const char* description;
};
const SelColumn kSelColumns[] = {
    {"d_prime", &Selectivity::d_prime, "d' of the window means, condition A vs B (contrast_a, contrast_b), pooled SD"},
    {"selectivity_index", &Selectivity::selectivity_index,
     "(mean_A - mean_B) / (|mean_A| + |mean_B|) of the window means"},
    {"auc", &Selectivity::auc, "P(a > b) + P(a == b) / 2 of the window means of A and B (ROC area)"},
    {"t", &Selectivity::t, "Student's two-sample t of A vs B (pooled SD)"},
    {"t_p", &Selectivity::t_p, "two-sided p of t"},
    {"welch_t", &Selectivity::welch_t, "Welch's t of A vs B (unequal variances)"},
    {"welch_p", &Selectivity::welch_p, "two-sided p of welch_t (Welch-Satterthwaite df)"},
    {"anova_f", &Selectivity::anova_f, "one-way ANOVA F over the analysed conditions"},
    {"anova_p", &Selectivity::anova_p, "p of the ANOVA F"},
    {"anova_q", &Selectivity::anova_q, "Benjamini-Hochberg q of anova_p over every analysed neuron"},
    {"eta2", &Selectivity::eta2, "eta squared: between-condition share of the variance"},
    {"perm_p", &Selectivity::perm_p, "label-permutation p of the ANOVA F"},
    {"perm_q", &Selectivity::perm_q, "Benjamini-Hochberg q of perm_p over every analysed neuron"},
};

// A dataset's `description`, and its `dimensions` in HDF5's order (h5py's; MATLAB shows them
// reversed): what each axis counts.
void doc(hid_t loc, const std::string& name, const std::string& description, std::vector<std::string> dims) {
  Id ds = h5::open_dataset(loc, name);
  h5::set_attr(ds, "description", description);
  h5::set_attr(ds, "dimensions", dims);
}

}  // namespace

size_t Results::site_index(const std::string& site, const std::string& side) const {
  std::string have;
  for (size_t i = 0; i < sites.size(); ++i) {
    if (sites[i].site == site && (side.empty() || side_name(sites[i].side) == side)) return i;
    have += (i ? ", " : "") + sites[i].key();
  }
  throw DataError("site '" + site + (side.empty() ? "" : "/" + side) + "' is not in the results of " + recording +
                  " (analysed: " + (have.empty() ? "none" : have) + ")");
}

int Results::condition_index(const std::string& c) const {
  auto it = std::find(conditions.begin(), conditions.end(), c);
  if (it != conditions.end()) return int(it - conditions.begin());
  std::string have;
  for (const auto& x : conditions) have += (have.empty() ? "" : ", ") + x;
  throw DataError("condition '" + c + "' is not in the results of " + recording + " (analysed: " + have + ")");
}

void write_results(const Results& r, const std::filesystem::path& path) {
  for (const auto& c : r.conditions) check_group_name("condition", c);
  const std::filesystem::path tmp = path.string() + ".partial";
  {
    h5::FileOptions opt;
    opt.hold_metadata_until_flush = false;
    Id f = h5::create_file(tmp, /*truncate=*/true, opt);
    Id root = h5::open_group(f, "/");
    h5::set_attr(root, "format", std::string(kResultsFormat));
    h5::set_attr(root, "format_version", kResultsFormatVersion);
    h5::set_attr(root, "rig_version", std::string(kVersion));
    h5::set_attr(root, "rig_git_commit", std::string(kGitCommit));
    h5::set_attr(root, "created", now_utc());
    h5::set_attr(root, "identifier", new_uuid());
    h5::set_attr(root, "recording", r.recording);
    h5::set_attr(root, "recording_identifier", r.recording_identifier);
    h5::set_attr(root, "analysis_config", r.config_yaml);
    h5::set_attr(root, "event", r.event);
    h5::set_attr(root, "smoothing", r.smoothing);
    set_f64_attr(root, "smooth_width", r.smooth_width);
    for (auto [name, v] : {std::pair<const char*, int64_t>{"pre", r.pre},
                           {"post", r.post},
                           {"bin", r.bin},
                           {"window_start", r.window_start},
                           {"window_stop", r.window_stop},
                           {"permutations", r.permutations},
                           {"folds", r.folds},
                           {"seed", int64_t(r.seed)}})
      h5::set_attr(root, name, v);
    set_f64_attr(root, "fdr_alpha", r.fdr_alpha);
    set_f64_attr(root, "chance", r.chance);
    set_f64_attr(root, "chance_majority", r.chance_majority);
    h5::set_attr(root, "normalize", r.normalize);
    set_f64_attr(root, "soft_c", r.soft_c);
    h5::set_attr(root, "baseline", r.baseline);
    h5::set_attr(root, "baseline_start", r.baseline_start);
    h5::set_attr(root, "baseline_stop", r.baseline_stop);
    h5::set_attr(root, "pca_center", r.pca_center);
    h5::set_attr(root, "cv_repeats", r.cv_repeats);
    h5::set_attr(root, "decode_permutations", r.decode_permutations);
    h5::set_attr(root, "time_resolved", int64_t(r.time_resolved));
    if (!r.notes.empty()) h5::set_attr(root, "notes", r.notes);
    set_f64_attr(root, "cluster_alpha", r.cluster_alpha);
    h5::set_attr(root, "contrast_a", r.contrast.empty() ? std::string() : r.contrast[0]);
    h5::set_attr(root, "contrast_b", r.contrast.empty() ? std::string() : r.contrast[1]);

    if (!r.group_by.empty()) h5::set_attr(root, "group_by", r.group_by);
    Id g = h5::create_group(root, "conditions");
    write_str(g, "name", r.conditions);
    write_i64(g, "n_trials", r.condition_trials);
    std::vector<h5::ColumnDoc> group_cols;  // group_by: the value of each field, per condition
    for (size_t f = 0; f < r.group_by.size(); ++f) {
      std::vector<std::string> v;
      for (const auto& cv : r.condition_values) v.push_back(f < cv.size() ? cv[f] : "");
      write_str(g, "value_" + std::to_string(f + 1), v);
      group_cols.push_back(
          {"value_" + std::to_string(f + 1),
           "the condition's value of group_by field " + std::to_string(f + 1) + " ('" + r.group_by[f] + "')"});
    }
    std::vector<h5::ColumnDoc> cond_cols = {{"name", "the condition (group_by: its values, joined by '|')"},
                                            {"n_trials", "trials of the condition included in the analysis"}};
    cond_cols.insert(cond_cols.end(), group_cols.begin(), group_cols.end());
    h5::describe_table(g, "one row per analysed condition (C rows)", cond_cols);
    Id b = h5::create_group(root, "bins");
    write_i64(b, "start", r.bin_start);
    write_i64(b, "stop", r.bin_stop);
    std::vector<double> center;
    for (size_t j = 0; j < r.bin_start.size(); ++j) center.push_back(0.5 * double(r.bin_start[j] + r.bin_stop[j] - 1));
    write_f64(b, "center", center);
    h5::describe_table(b, "one row per time bin; offsets in rows (tokens) from the event",
                       {{"start", "first offset of the bin"},
                        {"stop", "one past the bin's last offset"},
                        {"center", "(start + stop - 1) / 2"}});
    Id t = h5::create_group(root, "trials");
    write_i64(t, "index", r.trial_index);
    write_str(t, "condition", r.trial_condition);
    write_u8(t, "included", r.trial_included);
    write_i64(t, "event_row", r.trial_event_row);
    write_i64(t, "fold", r.trial_fold);
    h5::describe_table(t, "one row per trial of the recording, in file order",
                       {{"index", "the trial's index (the recording's /trials/index)"},
                        {"condition", "the trial's condition"},
                        {"included", "1: the analysis used the trial, 0: not (other condition, or no event)"},
                        {"event_row", "absolute row of the event in the recording (0-based); -1: no event"},
                        {"fold", "cross-validation fold of the trial; -1: none"}});
    Id pm = h5::create_group(root, "permutation");
    write_f64(pm, "max_f", r.perm_max_f);
    doc(pm, "max_f", "per label permutation: the largest ANOVA F over every analysed neuron (the max-statistic null)",
        {"permutation"});
    if (r.time_resolved) {
      write_f64(pm, "max_cluster_mass", r.cluster_max_mass);
      doc(pm, "max_cluster_mass", "per label permutation: the largest cluster mass over every analysed neuron",
          {"permutation"});
      // One row per cluster of every electrode: a table of 1-D columns.
      std::vector<std::string> site, side;
      std::vector<int64_t> neuron, first, last, start, stop;
      std::vector<double> mass, p;
      for (const SiteResult& s : r.sites)
        for (const Cluster& c : s.time.clusters) {
          site.push_back(s.site);
          side.push_back(side_name(s.side));
          neuron.push_back(s.neurons[size_t(c.neuron)]);
          first.push_back(c.first);
          last.push_back(c.last);
          start.push_back(r.bin_start[size_t(c.first)]);
          stop.push_back(r.bin_stop[size_t(c.last)]);
          mass.push_back(c.mass);
          p.push_back(c.p);
        }
      Id cl = h5::create_group(root, "clusters");
      write_str(cl, "site", site);
      write_str(cl, "side", side);
      write_i64(cl, "neuron", neuron);
      write_i64(cl, "first_bin", first);
      write_i64(cl, "last_bin", last);
      write_i64(cl, "start", start);
      write_i64(cl, "stop", stop);
      write_f64(cl, "mass", mass);
      write_f64(cl, "p", p);
      h5::describe_table(cl,
                         "one row per cluster of contiguous supra-threshold bins (F above the cluster_alpha "
                         "threshold) of one neuron",
                         {{"site", "the electrode's site"},
                          {"side", "the electrode's side"},
                          {"neuron", "the neuron's index within the site"},
                          {"first_bin", "first bin of the cluster (row of /bins, 0-based)"},
                          {"last_bin", "last bin of the cluster, inclusive"},
                          {"start", "offset from the event of the cluster's first row"},
                          {"stop", "one past the offset of the cluster's last row"},
                          {"mass", "sum of the ANOVA F over the cluster's bins"},
                          {"p", "(1 + permutations whose max cluster mass >= mass) / (1 + permutations)"}});
    }

    Id sites = h5::create_group(root, "sites");
    for (const SiteResult& s : r.sites) {
      Id sg = h5::open_or_create_group(sites, s.site);
      Id e = h5::create_group(sg, side_name(s.side));
      h5::set_attr(e, "site", s.site);
      h5::set_attr(e, "side", std::string(side_name(s.side)));
      h5::set_attr(e, "module_type", s.module_type);
      write_i64(e, "neuron", s.neurons);
      doc(e, "neuron", "the neuron's index within the site (column of the recording: its neurons[j])", {"neuron"});
      Id pg = h5::create_group(e, "psth");
      for (size_t c = 0; c < s.psth.size(); ++c) {
        Id cg = h5::create_group(pg, r.conditions[c]);
        write_f64(cg, "mean", s.psth[c].mean);
        write_f64(cg, "sd", s.psth[c].sd);
        write_f64(cg, "sem", s.psth[c].sem);
        write_i64(cg, "n", s.psth[c].n);
        h5::describe_table(cg, "one row per bin (rows of /bins): the condition's peri-event time histogram",
                           {{"mean", "mean over trials, per bin and neuron"},
                            {"sd", "standard deviation over trials (n - 1)"},
                            {"sem", "standard error of the mean (sd / sqrt(n))"},
                            {"n", "trials with data in the bin"}});
        for (const char* m : {"mean", "sd", "sem"})
          h5::set_attr(h5::open_dataset(cg, m), "dimensions", std::vector<std::string>{"bin", "neuron"});
        h5::set_attr(h5::open_dataset(cg, "n"), "dimensions", std::vector<std::string>{"bin"});
      }
      Id sel = h5::create_group(e, "selectivity");
      write_i64(sel, "neuron", s.neurons);
      for (const auto& c : kSelColumns) write_f64(sel, c.name, s.sel.*c.member);
      write_i64(sel, "preferred", s.sel.preferred);
      write_f64(sel, "perm_p_max", s.sel.perm_p_max);
      std::vector<h5::ColumnDoc> sel_cols = {{"neuron", "the neuron's index within the site"}};
      for (const auto& c : kSelColumns) sel_cols.push_back({c.name, c.description});
      sel_cols.push_back({"preferred", "row of /conditions with the largest window mean"});
      sel_cols.push_back(
          {"perm_p_max", "family-wise max-statistic permutation p of the ANOVA F (every analysed neuron)"});
      h5::describe_table(sel, "one row per neuron: selectivity in the window", sel_cols);
      Id w = h5::create_group(e, "window");
      write_f64(w, "mean", s.window_mean);
      write_i64(w, "n", s.window_n);
      h5::describe_table(w, "one row per condition (rows of /conditions): the window's means",
                         {{"mean", "mean over trials of each neuron's window mean [condition, neuron]"},
                          {"n", "trials with data in the window"}});
      doc(w, "mean", "mean over trials of each neuron's window mean", {"condition", "neuron"});
      Id pc = h5::create_group(e, "pca");
      write_f64(pc, "components", s.pca.components);
      write_f64(pc, "explained_variance",
                std::vector<double>(s.pca.explained_variance.data(),
                                    s.pca.explained_variance.data() + s.pca.explained_variance.size()));
      write_f64(pc, "explained_variance_ratio",
                std::vector<double>(s.pca.explained_variance_ratio.data(),
                                    s.pca.explained_variance_ratio.data() + s.pca.explained_variance_ratio.size()));
      write_f64(pc, "center", std::vector<double>(s.pca.center.data(), s.pca.center.data() + s.pca.center.size()));
      write_f64(pc, "offset", std::vector<double>(s.pca.offset.data(), s.pca.offset.data() + s.pca.offset.size()));
      write_f64(pc, "scale", std::vector<double>(s.pca.scale.data(), s.pca.scale.data() + s.pca.scale.size()));
      doc(pc, "components", "principal axes, unit length", {"component", "neuron"});
      doc(pc, "explained_variance", "variance along each component", {"component"});
      doc(pc, "explained_variance_ratio", "share of the total variance along each component", {"component"});
      doc(pc, "center", "the mean subtracted before projecting (of the scaled, cc-subtracted points)", {"neuron"});
      doc(pc, "offset", "normalize: subtracted from each neuron before scaling (zscore: its mean)", {"neuron"});
      doc(pc, "scale", "normalize: each neuron's factor (zscore: 1/SD; soft: 1/(range + c); none: 1)", {"neuron"});
      Id pj = h5::create_group(pc, "projections");
      for (size_t c = 0; c < s.pca.projections.size(); ++c) {
        write_f64(pj, r.conditions[c], s.pca.projections[c]);
        doc(pj, r.conditions[c], "the condition's PSTH mean projected on the components", {"bin", "component"});
      }
      if (!r.group_by.empty()) {
        const Marginalization& mv = s.marginal;
        Id mg = h5::create_group(e, "marginalized_variance");
        write_str(mg, "term", mv.terms);
        write_f64(mg, "fraction", mv.fraction);
        set_f64_attr(mg, "total", mv.total);
        h5::set_attr(mg, "bins_used", mv.bins_used);
        h5::describe_table(mg,
                           "dPCA's marginalized variance of the condition-averaged PSTHs (Kobak et al. 2016): "
                           "one row per marginalization, fractions of the total that sum to 1",
                           {{"term",
                             "time (condition-independent), a group_by field (with its interaction with "
                             "time), or FIELD1:FIELD2 (their interaction, with time)"},
                            {"fraction",
                             "share of the total variance (sum of squares of the PSTH means, centred "
                             "per neuron, over neurons, bins_used bins and conditions)"}});
        Id pg2 = h5::create_group(e, "variance_parts");
        write_str(pg2, "part", mv.parts);
        write_f64(pg2, "fraction", mv.part_fraction);
        h5::describe_table(pg2,
                           "the ANOVA parts of the same variance: t (time), a and b (the group_by fields) and "
                           "their interactions; each marginalized_variance row is a sum of these",
                           {{"part", "t, a, b, ta, tb, ab or tab"}, {"fraction", "share of the total variance"}});
      }
      if (r.time_resolved) {
        Id tg = h5::create_group(e, "time");
        write_f64(tg, "d_prime", s.time.d_prime);
        write_f64(tg, "auc", s.time.auc);
        write_f64(tg, "anova_f", s.time.anova_f);
        write_f64(tg, "anova_p", s.time.anova_p);
        h5::describe_table(tg, "one row per bin (rows of /bins): statistics of each trial's binned values",
                           {{"d_prime", "d' of A vs B (contrast_a, contrast_b), pooled SD [bin, neuron]"},
                            {"auc", "P(a > b) + P(a == b) / 2 of A vs B [bin, neuron]"},
                            {"anova_f", "one-way ANOVA F over the analysed conditions [bin, neuron]"},
                            {"anova_p", "p of anova_f [bin, neuron]"}});
        for (const char* m : {"d_prime", "auc", "anova_f", "anova_p"})
          h5::set_attr(h5::open_dataset(tg, m), "dimensions", std::vector<std::string>{"bin", "neuron"});
      }
      if (!s.decode_accuracy.empty()) {
        Id d = h5::create_group(e, "decoding");
        write_f64(d, "accuracy", s.decode_accuracy);
        write_i64(d, "n", s.decode_n);
        // Per bin: 1-D columns, and matrices whose first axis is the bin.
        const Mat repeats_t = s.decode_repeats.transpose();
        write_f64(d, "repeats", repeats_t);
        write_f64(d, "mean", s.decode_mean);
        write_f64(d, "sd", s.decode_sd);
        std::vector<h5::ColumnDoc> cols = {
            {"accuracy", "share of held-out trial-bins classified correctly"},
            {"n", "held-out trial-bins tested"},
            {"repeats", "accuracy of each repetition of the cross-validation [bin, repetition]"},
            {"mean", "mean accuracy over the repetitions"},
            {"sd", "SD (n - 1) of the accuracy over the repetitions"}};
        if (!s.decode_p.empty()) {
          const Mat null_t = s.decode_null.transpose();
          write_f64(d, "null", null_t);
          write_f64(d, "p", s.decode_p);
          cols.push_back({"null", "accuracy with shuffled condition labels [bin, permutation]"});
          cols.push_back({"p", "(1 + permutations with null >= accuracy) / (1 + permutations)"});
        }
        if (s.generalization.size()) {
          write_f64(d, "generalization", s.generalization);
          write_f64(d, "generalization_n", s.generalization_n);
          cols.push_back({"generalization", "accuracy trained at one bin, tested at another [train bin, test bin]"});
          cols.push_back({"generalization_n", "held-out trial-bins tested [train bin, test bin]"});
        }
        h5::describe_table(d, "one row per bin (rows of /bins): cross-validated decoding of the condition", cols);
        for (const char* m : {"repeats", "null"})
          if (h5::exists(d, m))
            h5::set_attr(h5::open_dataset(d, m), "dimensions",
                         std::vector<std::string>{"bin", m == std::string("null") ? "permutation" : "repetition"});
        for (const char* m : {"generalization", "generalization_n"})
          if (h5::exists(d, m))
            h5::set_attr(h5::open_dataset(d, m), "dimensions", std::vector<std::string>{"train_bin", "test_bin"});
      }
    }
    f.close();
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error("writing " + path.string() + ": cannot rename " + tmp.string() + ": " + ec.message());
}

Results read_results(const std::filesystem::path& path) {
  const std::string file = path.string();
  h5::FileOptions opt;
  opt.hold_metadata_until_flush = false;
  Id f = h5::open_file(path, false, opt);
  Id root = h5::open_group(f, "/");
  if (!h5::has_attr(root, "format") || h5::get_string_attr(root, "format") != kResultsFormat)
    throw DataError(file + ": not a rig analysis file (root attribute 'format' is not '" + std::string(kResultsFormat) +
                    "')");
  if (h5::get_int_attr(root, "format_version") > kResultsFormatVersion)
    throw DataError(file + ": analysis format_version " + std::to_string(h5::get_int_attr(root, "format_version")) +
                    " is newer than this rig reads (" + std::to_string(kResultsFormatVersion) + ")");
  Results r;
  r.recording = h5::get_string_attr(root, "recording");
  r.config_yaml = h5::get_string_attr(root, "analysis_config");
  r.event = h5::get_string_attr(root, "event");
  r.smoothing = h5::get_string_attr(root, "smoothing");
  r.smooth_width = get_f64_attr(root, "smooth_width");
  r.pre = h5::get_int_attr(root, "pre");
  r.post = h5::get_int_attr(root, "post");
  r.bin = h5::get_int_attr(root, "bin");
  r.window_start = h5::get_int_attr(root, "window_start");
  r.window_stop = h5::get_int_attr(root, "window_stop");
  r.permutations = h5::get_int_attr(root, "permutations");
  r.folds = h5::get_int_attr(root, "folds");
  r.seed = uint64_t(h5::get_int_attr(root, "seed"));
  r.fdr_alpha = get_f64_attr(root, "fdr_alpha");
  r.chance = get_f64_attr(root, "chance");
  r.chance_majority = get_f64_attr(root, "chance_majority");
  if (h5::has_attr(root, "normalize")) {  // format_version 1 files from before normalisation lack these
    r.normalize = h5::get_string_attr(root, "normalize");
    r.soft_c = get_f64_attr(root, "soft_c");
    r.baseline = h5::get_string_attr(root, "baseline");
    r.baseline_start = h5::get_int_attr(root, "baseline_start");
    r.baseline_stop = h5::get_int_attr(root, "baseline_stop");
    r.pca_center = h5::get_string_attr(root, "pca_center");
    r.cv_repeats = h5::get_int_attr(root, "cv_repeats");
    r.decode_permutations = h5::get_int_attr(root, "decode_permutations");
    r.time_resolved = h5::get_int_attr(root, "time_resolved") != 0;
    r.cluster_alpha = get_f64_attr(root, "cluster_alpha");
  }
  if (h5::exists(root, "permutation")) {
    Id pm = h5::open_group(root, "permutation");
    r.perm_max_f = read_f64(pm, "max_f", file);
  }
  if (auto a = h5::get_string_attr(root, "contrast_a"); !a.empty())
    r.contrast = {a, h5::get_string_attr(root, "contrast_b")};
  Id g = h5::open_group(root, "conditions");
  r.conditions = h5::read_strings(open(g, "name", file));
  r.condition_trials = read_i64(g, "n_trials", file);
  Id b = h5::open_group(root, "bins");
  r.bin_start = read_i64(b, "start", file);
  r.bin_stop = read_i64(b, "stop", file);
  Id t = h5::open_group(root, "trials");
  r.trial_index = read_i64(t, "index", file);
  r.trial_condition = h5::read_strings(open(t, "condition", file));
  r.trial_event_row = read_i64(t, "event_row", file);
  r.trial_fold = read_i64(t, "fold", file);
  {
    Id ds = open(t, "included", file);
    r.trial_included.resize(r.trial_index.size());
    if (!r.trial_included.empty())
      h5::check(H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, r.trial_included.data()),
                "reading included");
  }
  Id sites = h5::open_group(root, "sites");
  for (const auto& site : h5::children(sites)) {
    Id sg = h5::open_group(sites, site);
    for (const auto& side : h5::children(sg)) {
      Id e = h5::open_group(sg, side);
      SiteResult s;
      s.site = site;
      s.side = side == "input" ? Side::kInput : Side::kOutput;
      if (h5::has_attr(e, "module_type")) s.module_type = h5::get_string_attr(e, "module_type");
      s.neurons = read_i64(e, "neuron", file);
      Id pg = h5::open_group(e, "psth");
      for (const auto& c : r.conditions) {
        Id cg = h5::open_group(pg, c);
        Psth p;
        p.mean = read_mat(cg, "mean", file);
        p.sd = read_mat(cg, "sd", file);
        p.sem = read_mat(cg, "sem", file);
        p.n = read_i64(cg, "n", file);
        s.psth.push_back(std::move(p));
      }
      Id sel = h5::open_group(e, "selectivity");
      for (const auto& c : kSelColumns)  // results of a rig before Welch's t lack those
        if (h5::exists(sel, c.name)) s.sel.*c.member = read_f64(sel, c.name, file);
      s.sel.preferred = read_i64(sel, "preferred", file);
      if (h5::exists(sel, "perm_p_max")) s.sel.perm_p_max = read_f64(sel, "perm_p_max", file);
      Id w = h5::open_group(e, "window");
      s.window_mean = read_mat(w, "mean", file);
      s.window_n = read_i64(w, "n", file);
      Id pc = h5::open_group(e, "pca");
      s.pca.components = read_mat(pc, "components", file);
      auto ev = read_f64(pc, "explained_variance", file), evr = read_f64(pc, "explained_variance_ratio", file),
           ctr = read_f64(pc, "center", file);
      s.pca.explained_variance = Eigen::Map<Eigen::VectorXd>(ev.data(), int64_t(ev.size()));
      s.pca.explained_variance_ratio = Eigen::Map<Eigen::VectorXd>(evr.data(), int64_t(evr.size()));
      s.pca.center = Eigen::Map<Eigen::RowVectorXd>(ctr.data(), int64_t(ctr.size()));
      Id pj = h5::open_group(pc, "projections");
      for (const auto& c : r.conditions) s.pca.projections.push_back(read_mat(pj, c, file));
      if (h5::exists(e, "time")) {
        Id tg = h5::open_group(e, "time");
        s.time.d_prime = read_mat(tg, "d_prime", file);
        s.time.auc = read_mat(tg, "auc", file);
        s.time.anova_f = read_mat(tg, "anova_f", file);
        s.time.anova_p = read_mat(tg, "anova_p", file);
      }
      if (h5::exists(e, "decoding")) {
        Id d = h5::open_group(e, "decoding");
        s.decode_accuracy = read_f64(d, "accuracy", file);
        s.decode_n = read_i64(d, "n", file);
        if (h5::exists(d, "mean")) {
          s.decode_repeats = read_mat(d, "repeats", file).transpose();
          s.decode_mean = read_f64(d, "mean", file);
          s.decode_sd = read_f64(d, "sd", file);
        }
        if (h5::exists(d, "p")) {
          s.decode_null = read_mat(d, "null", file).transpose();
          s.decode_p = read_f64(d, "p", file);
        }
        if (h5::exists(d, "generalization")) {
          s.generalization = read_mat(d, "generalization", file);
          s.generalization_n = read_mat(d, "generalization_n", file);
        }
      }
      r.sites.push_back(std::move(s));
    }
  }
  return r;
}

void write_top_csv(const Results& r, const std::filesystem::path& path, int64_t top) {
  struct Row {
    size_t s;
    size_t j;
  };
  std::vector<Row> rows;
  for (size_t s = 0; s < r.sites.size(); ++s)
    for (size_t j = 0; j < r.sites[s].neurons.size(); ++j)
      if (!std::isnan(r.sites[s].sel.anova_p[j])) rows.push_back({s, j});
  auto key = [&](const Row& x) {
    const auto& sel = r.sites[x.s].sel;
    const double d = std::isnan(sel.d_prime[x.j]) ? 0 : std::abs(sel.d_prime[x.j]);
    return std::make_pair(sel.anova_p[x.j], -d);
  };
  std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) { return key(a) < key(b); });
  if (int64_t(rows.size()) > top) rows.resize(size_t(top));
  std::ofstream out(path);
  if (!out) throw Error("cannot write " + path.string());
  auto quote = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  out << "rank,site,side,neuron,preferred,d_prime,selectivity_index,auc,t,t_p,anova_f,anova_p,anova_q,eta2,"
         "perm_p,perm_q\n";
  out << std::setprecision(10);
  for (size_t i = 0; i < rows.size(); ++i) {
    const SiteResult& s = r.sites[rows[i].s];
    const size_t j = rows[i].j;
    const auto& sel = s.sel;
    out << i + 1 << "," << quote(s.site) << "," << side_name(s.side) << "," << s.neurons[j] << ","
        << quote(sel.preferred[j] >= 0 ? r.conditions[size_t(sel.preferred[j])] : "");
    for (double v : {sel.d_prime[j], sel.selectivity_index[j], sel.auc[j], sel.t[j], sel.t_p[j], sel.anova_f[j],
                     sel.anova_p[j], sel.anova_q[j], sel.eta2[j], sel.perm_p[j], sel.perm_q[j]})
      out << "," << v;
    out << "\n";
  }
  if (!out) throw Error("writing " + path.string() + " failed");
}

}  // namespace rig::analysis
