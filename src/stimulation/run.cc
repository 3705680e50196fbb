// Applying a stimulation inside the forward passes of one batch.
#include <algorithm>
#include <climits>
#include <map>
#include <set>

#include "core/error.h"
#include "stimulation/stimulation.h"

namespace rig {

namespace {

// Captures whole sites (all neurons, the model's dtype, on its device) during one generate()
// and cuts them into per-sequence rows, as the recorder does.
struct SourceCapture {
  std::map<std::pair<int, Side>, std::vector<at::Tensor>> calls;  // [B, T, W] per forward call
  std::vector<StepInfo> steps;

  at::Tensor rows(int site, Side side, int64_t b) const {
    const auto& cs = calls.at({site, side});
    std::vector<at::Tensor> parts;
    for (size_t k = 0; k < steps.size() && k < cs.size(); ++k) {
      if (!steps[k].has_row[size_t(b)]) continue;
      const at::Tensor x = cs[k][b];  // [T, W]
      const int64_t off = steps[k].offset[size_t(b)];
      parts.push_back(x.narrow(0, off, x.size(0) - off));
    }
    return at::cat(parts, 0);  // [R, W]
  }
};

}  // namespace

StimulationRun::StimulationRun(const Stimulation& stim, CausalLM& model, std::vector<StimTrial> batch,
                               const std::vector<std::vector<int64_t>>& prompt_ids, const GenerateOptions& options,
                               at::Device device)
    : stim_(&stim), batch_(std::move(batch)) {
  const int64_t B = int64_t(batch_.size());
  for (const auto& t : batch_) T0_ = std::max<int64_t>(T0_, int64_t(t.prompt.size()));
  const auto& ivs = stim.interventions();

  // Bounds of every intervention some trial of the batch gets.
  std::set<size_t> used;
  for (const auto& t : batch_)
    for (size_t i : stim.for_stimulus(t.stimulus)) used.insert(i);
  for (size_t i : used) {
    const Intervention& iv = ivs[i];
    at::Tensor lo = at::zeros({B, 1}, at::kLong), hi = at::zeros({B, 1}, at::kLong);
    for (int64_t b = 0; b < B; ++b) {
      const auto& mine = stim.for_stimulus(batch_[size_t(b)].stimulus);
      if (std::find(mine.begin(), mine.end(), i) == mine.end()) continue;
      auto [l, h] = iv.positions.resolve(int64_t(batch_[size_t(b)].prompt.size()),
                                         stim.prompt_events().at(size_t(batch_[size_t(b)].stimulus)));
      lo[b][0] = l;
      hi[b][0] = h;
    }
    bounds_[i] = {lo, hi};
    if (iv.op == StimOp::kAdd || iv.op == StimOp::kMeanAblate) {
      std::vector<float> v = iv.vector;
      // x + (+0) turns -0 into +0; x + (-0) == x for every x: a zero vector is an exact sham.
      if (iv.op == StimOp::kAdd)
        for (float& f : v)
          if (f == 0) f = -0.0f;
      values_[i] = at::tensor(v, at::kFloat);
    }
    // Group by (site, side), interventions in config order.
    auto it = std::find_if(sites_.begin(), sites_.end(),
                           [&](const Site& s) { return s.site == iv.site_id && s.side == iv.side; });
    if (it == sites_.end()) {
      sites_.push_back(Site{iv.site_id, iv.side, {}, 0});
      it = sites_.end() - 1;
    }
    it->interventions.push_back(i);
  }

  // Patch sources: run each (source stimulus, repetition) once, unstimulated, capturing the
  // patched sites.
  std::map<std::pair<int64_t, int64_t>, int64_t> source_index;  // (stimulus, repetition) -> row in the source batch
  std::vector<std::pair<int64_t, int64_t>> sources;
  std::set<std::pair<int, Side>> patch_sites;
  for (size_t i : used) {
    if (ivs[i].op != StimOp::kPatch) continue;
    patch_sites.insert({ivs[i].site_id, ivs[i].side});
    for (const auto& t : batch_) {
      const auto& mine = stim.for_stimulus(t.stimulus);
      if (std::find(mine.begin(), mine.end(), i) == mine.end()) continue;
      const std::pair<int64_t, int64_t> key{stim.patch_source(i, t.stimulus), t.repetition};
      if (!source_index.count(key)) {
        source_index[key] = int64_t(sources.size());
        sources.push_back(key);
      }
    }
  }
  if (sources.empty()) return;
  SourceCapture cap;
  SiteHooks hooks(model.n_sites());
  for (const auto& key : patch_sites) {
    auto* store = &cap.calls[key];
    hooks.add(key.first, key.second, [store](const at::Tensor& x) {
      store->push_back(x.clone());
      return x;
    });
  }
  std::vector<std::vector<int64_t>> prompts;
  std::vector<uint64_t> seeds;
  for (const auto& [s, rep] : sources) {
    prompts.push_back(prompt_ids.at(size_t(s)));
    seeds.push_back(stim.source_seed(s, rep));
  }
  generate(model, prompts, options, seeds, &hooks, device, [&](const StepInfo& s) { cap.steps.push_back(s); });
  for (size_t i : used) {
    if (ivs[i].op != StimOp::kPatch) continue;
    std::vector<at::Tensor>& per_seq = sources_[i];
    per_seq.resize(size_t(B));
    for (int64_t b = 0; b < B; ++b) {
      const auto& t = batch_[size_t(b)];
      const auto& mine = stim.for_stimulus(t.stimulus);
      if (std::find(mine.begin(), mine.end(), i) == mine.end()) continue;
      const int64_t j = source_index.at({stim.patch_source(i, t.stimulus), t.repetition});
      per_seq[size_t(b)] = cap.rows(ivs[i].site_id, ivs[i].side, j);
    }
  }
}

void StimulationRun::attach(SiteHooks& hooks) {
  for (auto& s : sites_) {
    Site* sp = &s;
    hooks.add(s.site, s.side, [this, sp](const at::Tensor& x) { return apply(*sp, x); });
  }
}

at::Tensor StimulationRun::positions(int call, int64_t T) const {
  const int64_t B = int64_t(batch_.size());
  at::Tensor pos = at::empty({B, T}, at::kLong);
  auto a = pos.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = int64_t(batch_[size_t(b)].prompt.size());
    for (int64_t t = 0; t < T; ++t) {
      if (call == 0) {
        const int64_t p = t - (T0_ - n);
        a[b][t] = p >= 0 ? p : -1;  // left padding
      } else {
        a[b][t] = n + call - 1;
      }
    }
  }
  return pos;
}

at::Tensor StimulationRun::apply(Site& s, const at::Tensor& x) {
  const int call = s.calls++;
  const int64_t B = int64_t(batch_.size());
  const auto& ivs = stim_->interventions();
  const std::string& name = ivs[s.interventions.front()].site;
  if (x.dim() != 3 || x.size(0) != B || x.size(1) != (call == 0 ? T0_ : 1)) {
    std::string shape;
    for (int64_t d : x.sizes()) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
    throw Error("stimulating " + name + ": expected a [" + std::to_string(B) + ", " +
                std::to_string(call == 0 ? T0_ : 1) + ", W] activation in forward call " + std::to_string(call) +
                ", got " + "[" + shape + "] (a site that is not one row per token cannot be stimulated)");
  }
  const int64_t T = x.size(1);
  const at::Tensor pos = positions(call, T);
  at::Tensor y = x;
  for (size_t i : s.interventions) {
    const Intervention& iv = ivs[i];
    const auto& [lo, hi] = bounds_.at(i);
    at::Tensor mask = (pos >= lo) & (pos < hi);  // [B, T]
    at::Tensor src;
    if (iv.op == StimOp::kPatch) {
      // The source's rows at the same trial positions; rows the source does not have stay.
      const auto& per_seq = sources_.at(i);
      src = at::zeros({B, T, iv.site_width}, x.options());
      at::Tensor has = at::zeros({B, T}, at::kBool);
      for (int64_t b = 0; b < B; ++b) {
        const at::Tensor& S = per_seq[size_t(b)];
        if (!S.defined()) continue;
        const int64_t R = S.size(0), n = int64_t(batch_[size_t(b)].prompt.size());
        if (call == 0) {
          const int64_t len = std::min(n, R), off = T0_ - n;
          src[b].narrow(0, off, len).copy_(S.narrow(0, 0, len));
          has[b].narrow(0, off, len).fill_(true);
        } else if (n + call - 1 < R) {
          src[b][0].copy_(S[n + call - 1]);
          has[b][0] = true;
        }
      }
      mask = mask & has;
    }
    if (!mask.any().item<bool>()) continue;
    const at::Tensor m = mask.to(x.device()).unsqueeze(-1);  // [B, T, 1]
    if (iv.sae) {
      // a = encode(y); a'_k = value | factor * a_k on the masked rows; y += decode(a') - decode(a).
      auto& sae = device_saes_[i];
      if (!sae || sae->W_dec().device() != x.device()) sae = iv.sae->to(x.device());
      at::Tensor& k = device_neurons_[i];
      if (!k.defined() || k.device() != x.device()) k = at::tensor(iv.latents, at::kLong).to(x.device());
      Sae::Norm norm;
      const at::Tensor a = sae->encode(y, &norm);  // [B, T, S] float32
      const at::Tensor ak = a.index_select(-1, k);
      const at::Tensor target = iv.op == StimOp::kSet ? at::full_like(ak, iv.value) : ak * iv.factor;
      const at::Tensor dk = at::where(m, target - ak, at::zeros_like(ak));
      const at::Tensor delta = sae->decode_delta(at::zeros_like(a).index_copy(-1, k, dk), norm);  // [B, T, D]
      y = (y.to(at::kFloat) + delta).to(y.scalar_type());
      continue;
    }
    at::Tensor idx;
    if (!iv.neurons.empty()) {
      at::Tensor& n = device_neurons_[i];
      if (!n.defined() || n.device() != x.device()) n = at::tensor(iv.neurons, at::kLong).to(x.device());
      idx = n;
    }
    const at::Tensor sub = idx.defined() ? y.index_select(-1, idx) : y;
    at::Tensor vec;
    if (values_.count(i)) {
      at::Tensor& v = device_values_[i];
      if (!v.defined() || v.device() != x.device() || v.scalar_type() != x.scalar_type())
        v = values_.at(i).to(sub.options());
      vec = v;
    }
    at::Tensor out;
    switch (iv.op) {
      case StimOp::kSet: out = at::where(m, at::scalar_tensor(iv.value, sub.options()), sub); break;
      case StimOp::kScale: out = at::where(m, sub * iv.factor, sub); break;
      case StimOp::kAdd: out = at::where(m, sub + vec, sub); break;
      case StimOp::kMeanAblate: out = at::where(m, vec.expand_as(sub), sub); break;
      case StimOp::kPatch: out = at::where(m, idx.defined() ? src.index_select(-1, idx) : src, sub); break;
    }
    y = idx.defined() ? y.index_copy(-1, idx, out) : out;
  }
  return y;
}

}  // namespace rig
