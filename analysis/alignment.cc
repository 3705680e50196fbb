#include "analysis/alignment.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "core/error.h"
#include "core/events.h"
#include "recording/reader.h"

namespace rig::analysis {

std::vector<double> smoothing_kernel(Smoothing s, double width, int64_t& first) {
  if (s == Smoothing::kBoxcar) {
    const int64_t w = std::max<int64_t>(1, int64_t(width));
    first = -(w - 1) / 2;
    return std::vector<double>(size_t(w), 1.0);
  }
  if (s == Smoothing::kGaussian) {
    const int64_t half = int64_t(std::ceil(3 * width));
    first = -half;
    std::vector<double> k;
    for (int64_t d = -half; d <= half; ++d) k.push_back(std::exp(-0.5 * double(d * d) / (width * width)));
    return k;
  }
  first = 0;
  return {1.0};
}

namespace {

// The stimulus's value of field f, or nullptr.
const FieldValue* field_of(const RecordingReader& rec, const TrialRow& t, const std::string& f) {
  const auto& st = rec.stimuli();
  if (t.stimulus < 0 || size_t(t.stimulus) >= st.size()) return nullptr;
  auto it = st[size_t(t.stimulus)].extra.find(f);
  return it == st[size_t(t.stimulus)].extra.end() ? nullptr : &it->second;
}

// Value order: numbers by value (NaN last), text by bytes, false before true.
bool value_less(const FieldValue& a, const FieldValue& b) {
  if (a.index() != b.index()) return a.index() < b.index();
  if (const double* x = std::get_if<double>(&a)) {
    const double y = std::get<double>(b);
    return std::isnan(y) ? !std::isnan(*x) : *x < y;
  }
  return a < b;
}

// group_by: the fields' values among the analysed conditions, sorted, and each condition's;
// with no condition list given, the conditions are the crossing in that order (first field
// slowest), those with trials.
void group_levels(const RecordingReader& rec, const AnalysisConfig& cfg, Alignment& al) {
  const size_t F = cfg.group_by.size();
  std::map<std::string, std::vector<FieldValue>> values_of;  // label -> its values
  for (const auto& t : rec.trials()) {
    const std::string label = trial_label(rec, cfg, t);
    if (values_of.count(label)) continue;
    std::vector<FieldValue> v;
    for (const auto& f : cfg.group_by) {
      const FieldValue* x = field_of(rec, t, f);
      v.push_back(x ? *x : FieldValue(std::string()));
    }
    values_of[label] = v;
  }
  const bool all = cfg.conditions.empty();
  std::vector<std::vector<FieldValue>> lv(F);
  for (const auto& [label, v] : values_of) {
    if (!all && std::find(al.conditions.begin(), al.conditions.end(), label) == al.conditions.end()) continue;
    for (size_t f = 0; f < F; ++f) {
      auto& l = lv[f];
      bool seen = false;
      for (const auto& x : l) seen |= field_text(x) == field_text(v[f]);
      if (!seen) l.push_back(v[f]);
    }
  }
  for (auto& l : lv) std::sort(l.begin(), l.end(), value_less);
  al.levels.assign(F, {});
  for (size_t f = 0; f < F; ++f)
    for (const auto& x : lv[f]) al.levels[f].push_back(field_text(x));
  if (all) {
    std::vector<size_t> at(F, 0);
    while (!al.levels[0].empty() && (F < 2 || !al.levels[1].empty())) {
      std::string label;
      for (size_t f = 0; f < F; ++f) label += (f ? "|" : "") + al.levels[f][at[f]];
      if (values_of.count(label)) al.conditions.push_back(label);
      size_t k = F;
      while (k > 0 && ++at[k - 1] == al.levels[k - 1].size()) at[--k] = 0;
      if (k == 0) break;
    }
  }
  for (const auto& c : al.conditions) {
    std::vector<int> idx;
    const auto it = values_of.find(c);
    for (size_t f = 0; f < F; ++f) {
      const std::string x = it == values_of.end() ? "" : field_text(it->second[f]);
      idx.push_back(int(std::find(al.levels[f].begin(), al.levels[f].end(), x) - al.levels[f].begin()));
    }
    al.condition_levels.push_back(idx);
  }
}

}  // namespace

std::string trial_label(const RecordingReader& rec, const AnalysisConfig& cfg, const TrialRow& t) {
  if (cfg.group_by.empty()) return t.condition;
  std::string label;
  for (size_t f = 0; f < cfg.group_by.size(); ++f) {
    const FieldValue* x = field_of(rec, t, cfg.group_by[f]);
    label += (f ? "|" : "") + (x ? field_text(*x) : std::string());
  }
  return label;
}

Alignment align_trials(const RecordingReader& rec, const AnalysisConfig& cfg) {
  Alignment al;
  al.pre = cfg.pre;
  al.post = cfg.post;
  al.bin = cfg.bin;
  const auto& trials = rec.trials();
  if (!cfg.conditions.empty()) {
    al.conditions = cfg.conditions;
    if (!cfg.group_by.empty()) group_levels(rec, cfg, al);
  } else if (!cfg.group_by.empty()) {
    group_levels(rec, cfg, al);
  } else {
    // The experiment's order: first appearance in /stimuli, then any others in trial order.
    std::vector<std::string> seen;
    for (const auto& t : trials) seen.push_back(t.condition);
    for (const auto& s : rec.stimuli())
      if (std::find(seen.begin(), seen.end(), s.condition) != seen.end() &&
          std::find(al.conditions.begin(), al.conditions.end(), s.condition) == al.conditions.end())
        al.conditions.push_back(s.condition);
    for (const auto& c : seen)
      if (std::find(al.conditions.begin(), al.conditions.end(), c) == al.conditions.end()) al.conditions.push_back(c);
  }

  const std::vector<int64_t> event_rows = rec.event_rows(cfg.event);
  al.event_row.assign(trials.size(), -1);
  al.condition_of.assign(trials.size(), -1);
  for (size_t i = 0; i < trials.size(); ++i) {
    const TrialRow& t = trials[i];
    auto c = std::find(al.conditions.begin(), al.conditions.end(), trial_label(rec, cfg, t));
    if (c != al.conditions.end()) al.condition_of[i] = int(c - al.conditions.begin());
    int64_t row = event_rows[i];
    if (row < t.row_start || row >= t.row_stop) row = -1;
    al.event_row[i] = row;
    if (row < 0 || al.condition_of[i] < 0) continue;
    AlignedTrial a;
    a.trial = i;
    a.condition = al.condition_of[i];
    a.event_row = row;
    a.r0 = std::max(t.row_start, row - cfg.pre);
    a.r1 = std::min(t.row_stop, row + cfg.post + 1);
    // A baseline needs at least one row with data in its window.
    if (cfg.baseline != Baseline::kNone &&
        std::max(a.r0, row + cfg.baseline_start) >= std::min(a.r1, row + cfg.baseline_stop + 1))
      continue;
    al.trials.push_back(a);
  }
  std::sort(al.trials.begin(), al.trials.end(),
            [](const AlignedTrial& a, const AlignedTrial& b) { return a.r0 < b.r0; });
  for (int64_t s = 0; s < al.length(); s += cfg.bin) {
    al.bin_start.push_back(s - cfg.pre);
    al.bin_stop.push_back(std::min(s + cfg.bin, al.length()) - cfg.pre);
  }
  return al;
}

std::vector<TrialBlock> plan_blocks(const Alignment& al, int64_t chunk_rows) {
  std::vector<TrialBlock> out;
  size_t i = 0;
  while (i < al.trials.size()) {
    TrialBlock b;
    b.first = i;
    b.r0 = al.trials[i].r0;
    b.r1 = al.trials[i].r1;
    ++i;
    while (i < al.trials.size() && std::max(b.r1, al.trials[i].r1) - b.r0 <= chunk_rows) {
      b.r1 = std::max(b.r1, al.trials[i].r1);
      ++i;
    }
    b.last = i;
    out.push_back(b);
  }
  return out;
}

Binner::Binner(const Alignment& al, const AnalysisConfig& cfg) : al_(al) {
  win0_ = cfg.window_set ? cfg.window_start : -cfg.pre;
  win1_ = cfg.window_set ? cfg.window_stop : cfg.post;
  kernel_ = smoothing_kernel(cfg.smoothing, cfg.smooth_width, k0_);
  baseline_ = cfg.baseline;
  base0_ = cfg.baseline_start;
  base1_ = cfg.baseline_stop;
}

void Binner::baseline(const float* block, int64_t block_r0, int64_t W, const AlignedTrial& t, Eigen::RowVectorXd& mu,
                      Eigen::RowVectorXd& inv_sd) const {
  mu = Eigen::RowVectorXd::Zero(W);
  inv_sd = Eigen::RowVectorXd::Ones(W);
  if (baseline_ == Baseline::kNone) return;
  const int64_t r0 = std::max(t.r0, t.event_row + base0_), r1 = std::min(t.r1, t.event_row + base1_ + 1);
  if (r0 >= r1) return;  // align_trials leaves such trials out
  using RowMap = Eigen::Map<const Eigen::Matrix<float, 1, Eigen::Dynamic>>;
  for (int64_t r = r0; r < r1; ++r) mu += RowMap(block + (r - block_r0) * W, W).cast<double>();
  mu /= double(r1 - r0);
  if (baseline_ != Baseline::kZscore) return;
  Eigen::RowVectorXd ss = Eigen::RowVectorXd::Zero(W);
  for (int64_t r = r0; r < r1; ++r)
    ss.array() += (RowMap(block + (r - block_r0) * W, W).cast<double>() - mu).array().square();
  for (int64_t j = 0; j < W; ++j) {
    const double sd = std::sqrt(ss[j] / double(r1 - r0));
    inv_sd[j] = sd > 0 ? 1.0 / sd : 1.0;  // a constant unit is only shifted (sklearn's rule)
  }
}

void Binner::bin(const float* block, int64_t block_r0, int64_t W, const AlignedTrial& t, Mat& binned,
                 std::vector<char>& valid) const {
  const size_t nb = al_.n_bins();
  binned.setConstant(int64_t(nb), W, std::numeric_limits<double>::quiet_NaN());
  valid.assign(nb, 0);
  // Aligned index of absolute row r: r - (event_row - pre).
  const int64_t a0 = t.r0 - (t.event_row - al_.pre), a1 = t.r1 - (t.event_row - al_.pre);
  using RowMap = Eigen::Map<const Eigen::Matrix<float, 1, Eigen::Dynamic>>;
  auto row = [&](int64_t a) { return RowMap(block + (a + t.event_row - al_.pre - block_r0) * W, W).cast<double>(); };
  Eigen::RowVectorXd acc(W), sm(W);
  for (size_t j = 0; j < nb; ++j) {
    const int64_t s = std::max(al_.bin_start[j] + al_.pre, a0), e = std::min(al_.bin_stop[j] + al_.pre, a1);
    if (s >= e) continue;
    acc.setZero();
    for (int64_t a = s; a < e; ++a) {
      if (kernel_.size() == 1) {
        acc += row(a);
        continue;
      }
      sm.setZero();
      double wsum = 0;
      for (size_t k = 0; k < kernel_.size(); ++k) {
        const int64_t b = a + k0_ + int64_t(k);
        if (b < a0 || b >= a1) continue;
        sm += kernel_[k] * row(b);
        wsum += kernel_[k];
      }
      acc += sm / wsum;
    }
    binned.row(int64_t(j)) = acc / double(e - s);
    valid[j] = 1;
  }
  // Smoothing and bin means are affine with weights summing to 1, so the per-trial baseline
  // commutes with them: applying it here equals applying it to the rows.
  if (baseline_ != Baseline::kNone) {
    Eigen::RowVectorXd mu, inv;
    baseline(block, block_r0, W, t, mu, inv);
    for (size_t j = 0; j < nb; ++j)
      if (valid[j]) binned.row(int64_t(j)) = ((binned.row(int64_t(j)) - mu).array() * inv.array()).matrix();
  }
}

bool Binner::window_mean(const float* block, int64_t block_r0, int64_t W, const AlignedTrial& t, double* out) const {
  const int64_t r0 = std::max(t.r0, t.event_row + win0_), r1 = std::min(t.r1, t.event_row + win1_ + 1);
  Eigen::Map<Eigen::RowVectorXd> o(out, W);
  if (r0 >= r1) return false;
  o.setZero();
  for (int64_t r = r0; r < r1; ++r)
    o += Eigen::Map<const Eigen::Matrix<float, 1, Eigen::Dynamic>>(block + (r - block_r0) * W, W).cast<double>();
  o /= double(r1 - r0);
  if (baseline_ != Baseline::kNone) {
    Eigen::RowVectorXd mu, inv;
    baseline(block, block_r0, W, t, mu, inv);
    o = ((o - mu).array() * inv.array()).matrix();
  }
  return true;
}

}  // namespace rig::analysis
