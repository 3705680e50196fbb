#include "runner/recorder.h"

#include "core/error.h"

namespace rig {

Recorder::Recorder(const CausalLM& model, const std::vector<ElectrodeSpec>& electrodes, const SaeSet& saes) {
  for (const auto& e : electrodes) {
    Stream s;
    const auto id = model.find_site(e.site);
    if (!id) throw ConfigError("electrode site '" + e.site + "' is not a site of " + model.type());
    s.site = *id;
    s.side = e.side;
    if (!e.neurons.empty()) s.neurons = at::tensor(e.neurons, at::kLong);
    if (!e.sae.empty()) {
      const auto it = saes.find(e.sae);
      if (it == saes.end()) throw Error("recorder: the SAE of electrode " + e.dataset_path() + " is not loaded");
      s.sae = it->second;
    }
    streams_.push_back(std::move(s));
  }
}

void Recorder::attach(SiteHooks& hooks) {
  for (auto& s : streams_) {
    if (s.neurons.defined() && s.neurons.numel()) s.neurons = s.neurons.to(at::kCPU);
    Stream* sp = &s;
    if (s.sae) {
      hooks.add(s.site, s.side, [sp](const at::Tensor& x) {
        // x: [B, T, D] -> [B, T, S + 1]: the latents, then |x - decode(latents)| (float32).
        if (sp->sae->W_dec().device() != x.device()) sp->sae = sp->sae->to(x.device());
        Sae::Norm norm;
        const at::Tensor a = sp->sae->encode(x, &norm);
        const at::Tensor err = (x.to(at::kFloat) - sp->sae->decode(a, norm)).norm(2, {-1}, true);
        sp->captured.push_back(at::cat({a, err}, -1).to(at::kCPU));
        return x;
      });
      continue;
    }
    hooks.add(s.site, s.side, [sp](const at::Tensor& x) {
      // x: [B, T, W] -> keep the subset, in float32 on the CPU. A float32 CPU tensor is kept
      // as it is, not copied: no module or hook changes an activation in place (rows() copies
      // it once, into the trial; one pass less over every recorded value, rig bench (3)).
      at::Tensor y = sp->neurons.defined() ? x.index_select(-1, sp->neurons.to(x.device())) : x;
      sp->captured.push_back(y.device().is_cpu() && y.scalar_type() == at::kFloat ? y : y.to(at::kCPU, at::kFloat));
      return x;
    });
  }
}

std::vector<float> Recorder::rows(size_t e, int64_t b) const {
  const Stream& s = streams_.at(e);
  if (s.captured.size() != steps_.size())
    throw Error("recorder: site " + std::to_string(s.site) + " fired " + std::to_string(s.captured.size()) +
                " times in " + std::to_string(steps_.size()) + " forward calls");
  // Copied straight into the result, without zero-filling it first: one pass over every
  // recorded value (rig bench (3), docs/PERFORMANCE.md).
  int64_t n_rows = 0, width = 0;
  for (size_t k = 0; k < steps_.size(); ++k) {
    if (!steps_[k].has_row[size_t(b)]) continue;
    n_rows += s.captured[k].size(1) - steps_[k].offset[size_t(b)];
    width = s.captured[k].size(2);
  }
  std::vector<float> out;
  out.reserve(size_t(n_rows * width));
  for (size_t k = 0; k < steps_.size(); ++k) {
    const StepInfo& st = steps_[k];
    if (!st.has_row[size_t(b)]) continue;
    const int64_t off = st.offset[size_t(b)];
    const at::Tensor x = s.captured[k][b].narrow(0, off, s.captured[k].size(1) - off).contiguous();
    const float* p = x.data_ptr<float>();
    out.insert(out.end(), p, p + x.numel());
  }
  return out;
}

}  // namespace rig
