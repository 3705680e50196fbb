// Stimulation: parity with HF forward hooks that return a modified output (../shared/golden
// intervene groups), activation patching, sham stimulation, positions, vectors from files and
// recordings, and config errors.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard (not in ATen.h since LibTorch 2)

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include <unistd.h>

#include "catch.h"
#include "core/error.h"
#include "h5_read.h"
#include "model/architectures/architectures.h"
#include "model/generate.h"
#include "model/weights.h"
#include "recording/writer.h"
#include "shared.h"
#include "stimulation/stimulation.h"

namespace fs = std::filesystem;
using rig::test::H5File;

namespace {

const char* kModels[] = {"gptneox-tiny", "gpt2-tiny", "llama-tiny"};

std::shared_ptr<rig::CausalLM> load(const fs::path& dir) {
  const auto config = rig::ModelConfig::from_file(dir / "config.json");
  std::shared_ptr<rig::CausalLM> m = rig::make_causal_lm(config, (dir / "config.json").string());
  rig::load_weights(*m, dir, at::kFloat, at::kCPU);
  return m;
}

// Every call of every site (both sides), whole batch: name -> side -> [B, T, W] per call.
struct Capture {
  std::map<std::string, std::map<rig::Side, std::vector<at::Tensor>>> calls;
  std::vector<rig::StepInfo> steps;
  rig::SiteHooks* hooks;
  Capture(rig::CausalLM& m, rig::SiteHooks& h) : hooks(&h) {
    for (auto* mod : m.site_modules()) {
      const std::string name = mod->path();
      for (rig::Side side : {rig::Side::kInput, rig::Side::kOutput})
        h.add(mod->site_id(), side, [this, name, side](const at::Tensor& x) {
          calls[name][side].push_back(x.to(at::kFloat).clone());
          return x;
        });
    }
  }
  // Rows of sequence b (prompt, then one per call), as the recorder cuts them.
  at::Tensor rows(const std::string& name, rig::Side side, int64_t b) const {
    auto it = calls.find(name);
    if (it == calls.end() || !it->second.count(side)) return at::Tensor();
    const auto& cs = it->second.at(side);
    if (steps.empty()) return cs.at(0)[b];  // one forward_batch call, no offsets known here
    std::vector<at::Tensor> parts;
    for (size_t k = 0; k < steps.size(); ++k) {
      if (!steps[k].has_row[size_t(b)]) continue;
      const at::Tensor x = cs[k][b];
      if (x.dim() < 2) return at::Tensor();
      const int64_t off = steps[k].offset[size_t(b)];
      parts.push_back(x.narrow(0, off, x.size(0) - off));
    }
    return at::cat(parts, 0);
  }
};

// A config around a `stimulation:` list (YAML text) on a golden model.
rig::ExperimentConfig make_config(const fs::path& model_dir, const std::string& stimuli, const std::string& stimulation,
                                  int64_t max_new_tokens = 8, const std::string& extra = "") {
  std::string y = "name: t\nmodel: {path: '" + model_dir.string() + "'}\nstimuli:\n" + stimuli +
                  "trials: {generate: {max_new_tokens: " + std::to_string(max_new_tokens) + "}}\n" + extra;
  if (!stimulation.empty()) y += "stimulation:\n" + stimulation;
  return rig::parse_experiment(y, "test.yaml");
}

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// The golden group's spec (JSON list) as `stimulation:` entries, at every position.
std::string spec_yaml(const std::string& spec_json) {
  std::string y;
  for (const auto& s : nlohmann::json::parse(spec_json)) {
    y += "  - site: " + s["site"].get<std::string>() + "\n    side: " + s["side"].get<std::string>() + "\n";
    const std::string op = s["op"];
    y += "    op: " + op + "\n";
    if (s.contains("neurons")) {
      y += "    neurons: [";
      for (size_t i = 0; i < s["neurons"].size(); ++i)
        y += (i ? ", " : "") + std::to_string(s["neurons"][i].get<int64_t>());
      y += "]\n";
    }
    if (op == "set") y += "    value: " + num(s["value"].get<double>()) + "\n";
    if (op == "scale") y += "    factor: " + num(s["factor"].get<double>()) + "\n";
    if (op == "add") {
      y += "    vector: [";
      for (size_t i = 0; i < s["vector"].size(); ++i) y += (i ? ", " : "") + num(s["vector"][i].get<double>());
      y += "]\n";
    }
  }
  return y;
}

// Bit for bit (at::equal says -0.0 == +0.0).
bool bits_equal(const at::Tensor& a, const at::Tensor& b) {
  return a.sizes() == b.sizes() && at::equal(a.contiguous().view(at::kInt), b.contiguous().view(at::kInt));
}

// Equal values differ by 0, also the -inf of masked keys in attention scores (-inf - -inf is nan).
double max_abs(const at::Tensor& a, const at::Tensor& b) {
  return at::where(a == b, at::zeros_like(a), a - b).abs().max().item<double>();
}
// max over elements of |a - b| / (1e-4 + 1e-4 |b|): <= 1 means within 1e-4 abs or rel.
double excess(const at::Tensor& ours, const at::Tensor& ref) {
  return ((ours - ref).abs() / (1e-4 + 1e-4 * ref.abs())).max().item<double>();
}

at::Tensor golden(const H5File& f, const std::string& ds) {
  std::vector<int64_t> shape;
  auto v = f.read<float>(ds, &shape);
  return at::from_blob(v.data(), shape, at::kFloat).clone();
}

rig::GenerateOptions greedy(int64_t n) {
  rig::GenerateOptions o;
  o.max_new_tokens = n;
  return o;
}

// Runs a batch with the config's stimulation and a capture of every site behind it.
struct Trialrun {
  std::vector<rig::SequenceResult> results;
  std::unique_ptr<Capture> cap;
};
Trialrun run(rig::CausalLM& m, const rig::Stimulation& stim, const std::vector<std::vector<int64_t>>& prompts,
             const std::vector<int64_t>& stimuli, const std::vector<std::vector<int64_t>>& prompt_ids,
             const rig::GenerateOptions& o) {
  std::vector<rig::StimTrial> batch;
  for (size_t b = 0; b < prompts.size(); ++b) batch.push_back({stimuli[b], 0, prompts[b]});
  rig::SiteHooks hooks(m.n_sites());
  rig::StimulationRun sr(stim, m, batch, prompt_ids, o, at::kCPU);
  sr.attach(hooks);
  Trialrun t;
  t.cap = std::make_unique<Capture>(m, hooks);
  std::vector<uint64_t> seeds(prompts.size(), 0);
  Capture* c = t.cap.get();
  t.results =
      rig::generate(m, prompts, o, seeds, &hooks, at::kCPU, [c](const rig::StepInfo& s) { c->steps.push_back(s); });
  return t;
}

}  // namespace

TEST_CASE("parity with HF forward hooks that modify outputs: intervene groups of all three models",
          "[stimulation][parity]") {
  at::NoGradGuard no_grad;
  for (const char* model : kModels) {
    RIG_GOLDEN_OR_CONTINUE(h5path, std::string(model));
    const fs::path dir = rig::test::shared_dir() / "golden/models" / model;
    H5File f(h5path.string());
    auto m = load(dir);
    for (const auto& group : f.list("/intervene")) {
      const std::string g = "/intervene/" + group;
      const auto ids = f.read<int64_t>(g + "/input_ids");
      const auto expected = f.read<int64_t>(g + "/output_ids");
      const auto cfg = make_config(dir, "  - {condition: c, prompts: [x]}\n", spec_yaml(f.attr_string(g, "spec")),
                                   int64_t(expected.size() - ids.size()));
      const auto stim = rig::Stimulation::from_config(cfg, *m, {ids});
      INFO(model << " " << group);
      REQUIRE(!stim.empty());

      // Forward: logits and every site (the stimulated site shows the modified output, as
      // the golden file records it: HF's recording hooks see what the modifying hook returned).
      rig::SiteHooks hooks(m->n_sites());
      rig::StimulationRun sr(stim, *m, {{0, 0, ids}}, {ids}, greedy(0), at::kCPU);
      sr.attach(hooks);
      Capture cap(*m, hooks);
      const at::Tensor logits = rig::forward_batch(*m, {ids}, &hooks, at::kCPU).select(0, 0);
      const at::Tensor ref_logits = golden(f, g + "/logits");
      double worst = max_abs(logits, ref_logits), worst_excess = excess(logits, ref_logits);
      CHECK(excess(logits, ref_logits) <= 1.0);
      int checked = 0;
      for (const auto& site : f.list(g + "/sites")) {
        for (auto [side, key] : {std::pair{rig::Side::kInput, "in"}, std::pair{rig::Side::kOutput, "out"}}) {
          const std::string ds = g + "/sites/" + site + "/" + key;
          if (!f.exists(ds)) continue;
          const auto id = m->find_site(site);
          REQUIRE(id);
          const at::Tensor ours = cap.rows(m->site_modules()[size_t(*id)]->path(), side, 0);
          const at::Tensor ref = golden(f, ds);
          INFO(model << " " << group << " site " << site << " " << key);
          REQUIRE(ours.defined());
          REQUIRE(ours.sizes() == ref.sizes());
          CHECK(excess(ours, ref) <= 1.0);
          worst = std::max(worst, max_abs(ours, ref));
          worst_excess = std::max(worst_excess, excess(ours, ref));
          ++checked;
        }
      }
      CHECK(checked > 10);

      // Greedy generation with the KV cache, the stimulation active at every step.
      rig::SiteHooks ghooks(m->n_sites());
      rig::GenerateOptions o = greedy(int64_t(expected.size() - ids.size()));
      o.final_step = false;
      rig::StimulationRun gsr(stim, *m, {{0, 0, ids}}, {ids}, o, at::kCPU);
      gsr.attach(ghooks);
      const auto res = rig::generate(*m, {ids}, o, {0}, &ghooks, at::kCPU);
      std::vector<int64_t> got = ids;
      got.insert(got.end(), res[0].new_ids.begin(), res[0].new_ids.end());
      CHECK(got == expected);
      std::printf(
          "stimulation parity %-13s %-9s logits+%d sites: max|d| %.3g (max |d|/(1e-4+1e-4|ref|) %.3g), ids %s\n", model,
          group.c_str(), checked, worst, worst_excess, got == expected ? "identical" : "DIFFER");
    }
  }
}

TEST_CASE("patching a site's full activations from trial A into trial B makes B's downstream sites equal A's",
          "[stimulation]") {
  at::NoGradGuard no_grad;
  const fs::path dir = rig::test::kOrganism;
  auto m = load(dir);
  const std::vector<int64_t> a = {41, 70, 397, 80, 13, 344, 260, 78, 426};
  const std::vector<int64_t> b = {41, 70, 397, 80, 13, 700, 12, 900, 5};  // same length, other tokens
  const auto cfg =
      make_config(dir,
                  "  - {condition: clean, prompts: [a]}\n"
                  "  - {condition: corrupt, prompts: [b], stimulation: [patch_l1]}\n",
                  "  - {name: patch_l1, site: gpt_neox.layers.1, op: patch, source: {condition: clean}}\n", 6);
  const std::vector<std::vector<int64_t>> ids = {a, b};
  const auto stim = rig::Stimulation::from_config(cfg, *m, ids);
  CHECK(stim.label(0) == "");
  CHECK(stim.label(1) == "patch_l1");
  CHECK(stim.patch_source(0, 1) == 0);
  // A (unstimulated) and B (patched from A) in one batch, generating 6 tokens.
  const auto t = run(*m, stim, ids, {0, 1}, ids, greedy(6));
  CHECK(t.results[0].new_ids == t.results[1].new_ids);
  int downstream = 0, upstream_differs = 0;
  for (const auto& [site, sides] : t.cap->calls) {
    const bool down = site == "gpt_neox.layers.1" || site.rfind("gpt_neox.layers.2", 0) == 0 ||
                      site == "gpt_neox.final_layer_norm" || site == "embed_out";
    const at::Tensor ra = t.cap->rows(site, rig::Side::kOutput, 0), rb = t.cap->rows(site, rig::Side::kOutput, 1);
    if (!ra.defined() || ra.dim() != 2) continue;
    INFO("site " << site);
    if (down) {
      // Equal up to float32 rounding of different batch rows (the organism's logits reach ~20).
      CHECK(max_abs(ra, rb) <= 1e-5 * std::max(1.0, double(ra.abs().max().item<float>())));
      ++downstream;
    } else if (site.rfind("gpt_neox.layers.0", 0) == 0 && max_abs(ra, rb) > 1e-3) {
      ++upstream_differs;  // B is still B upstream of the patch
    }
  }
  CHECK(downstream >= 12);
  CHECK(upstream_differs >= 5);
}

TEST_CASE("patch alignment: rows are aligned by trial position, and rows the source lacks stay", "[stimulation]") {
  at::NoGradGuard no_grad;
  const fs::path dir = rig::test::kOrganism;
  auto m = load(dir);
  const std::vector<int64_t> a = {41, 70, 397};               // the source: 3 rows (prompt only)
  const std::vector<int64_t> b = {41, 70, 397, 80, 13, 344};  // the target: 6 rows
  const auto cfg = make_config(dir,
                               "  - {condition: src, prompts: [a]}\n"
                               "  - {condition: tgt, prompts: [b], stimulation: [p]}\n",
                               "  - {name: p, site: gpt_neox.layers.0.mlp.act, op: patch, source: {stimulus: 0}}\n", 0);
  const std::vector<std::vector<int64_t>> ids = {a, b};
  const auto stim = rig::Stimulation::from_config(cfg, *m, ids);
  const auto base = run(
      *m,
      rig::Stimulation::from_config(
          make_config(dir, "  - {condition: src, prompts: [a]}\n  - {condition: tgt, prompts: [b]}\n", "", 0), *m, ids),
      {b}, {1}, ids, greedy(0));
  const auto t = run(*m, stim, {b, a}, {1, 0}, ids, greedy(0));  // the target first, left-padding the source
  const at::Tensor src = t.cap->rows("gpt_neox.layers.0.mlp.act", rig::Side::kOutput, 1);
  const at::Tensor tgt = t.cap->rows("gpt_neox.layers.0.mlp.act", rig::Side::kOutput, 0);
  const at::Tensor own = base.cap->rows("gpt_neox.layers.0.mlp.act", rig::Side::kOutput, 0);
  REQUIRE(tgt.size(0) == 6);
  // The source ran as its own batch, `src` padded in this one: their GEMMs round differently
  // (by ~1e-6 with LibTorch 2's kernels), far below the 1e-3 that tells the rows apart.
  CHECK(max_abs(tgt.narrow(0, 0, 3), src) <= 1e-5);                  // rows 0..2 from the source
  CHECK(max_abs(tgt.narrow(0, 3, 3), own.narrow(0, 3, 3)) <= 1e-5);  // rows 3..5 its own
  CHECK(max_abs(tgt.narrow(0, 3, 3), tgt.narrow(0, 0, 3)) > 1e-3);
}

TEST_CASE("a sham stimulation (add a zero vector, scale by 1) leaves every site bit-identical", "[stimulation]") {
  at::NoGradGuard no_grad;
  for (const char* model : kModels) {
    RIG_SHARED_OR_CONTINUE(dir, std::string("golden/models/") + model);
    auto m = load(dir);
    const std::string m0 = std::string(model);
    const std::string layers = m0 == "gpt2-tiny"    ? "transformer.h."
                               : m0 == "llama-tiny" ? "model.layers."
                                                    : "gpt_neox.layers.";
    const std::string l0 = layers + "0", l2mlp = layers + "2.mlp",
                      act = layers + (m0 == "llama-tiny" ? "1.mlp.act_fn" : "1.mlp.act");
    INFO(model);
    const std::string zeros = "[" + [] {
      std::string s;
      for (int i = 0; i < 64; ++i) s += i ? ", 0" : "0";
      return s;
    }() + "]";
    const auto sham =
        make_config(dir, "  - {condition: c, prompts: [x, y]}\n",
                    "  - {site: " + l0 + ", op: add, vector: " + zeros +
                        "}\n"
                        "  - {site: " +
                        l2mlp +
                        ", op: scale, factor: 1}\n"
                        "  - {site: " +
                        act + ", neurons: [0, 5, \"10:20\"], op: add, vector: [0,0,0,0,0,0,0,0,0,0,0,0], scale: 3}\n",
                    5);
    const auto none = make_config(dir, "  - {condition: c, prompts: [x, y]}\n", "", 5);
    const std::vector<std::vector<int64_t>> ids = {{5, 17, 300, 42, 9, 8}, {7, 99}};
    const auto s1 = rig::Stimulation::from_config(sham, *m, ids);
    REQUIRE(s1.interventions().size() == 3);
    const auto a = run(*m, s1, ids, {0, 1}, ids, greedy(5));
    const auto b = run(*m, rig::Stimulation::from_config(none, *m, ids), ids, {0, 1}, ids, greedy(5));
    CHECK(a.results[0].new_ids == b.results[0].new_ids);
    CHECK(a.results[1].new_ids == b.results[1].new_ids);
    int compared = 0;
    for (const auto& [site, sides] : b.cap->calls)
      for (const auto& [side, calls] : sides) {
        const auto& other = a.cap->calls.at(site).at(side);
        REQUIRE(other.size() == calls.size());
        for (size_t k = 0; k < calls.size(); ++k) {
          INFO("site " << site << " call " << k);
          CHECK(bits_equal(other[k], calls[k]));
          ++compared;
        }
      }
    CHECK(compared > 100);
  }
}

TEST_CASE("adding a zero vector keeps -0.0 activations -0.0 (x + (+0) would make them +0.0)", "[stimulation]") {
  at::NoGradGuard no_grad;
  const fs::path dir = rig::test::kOrganism;
  auto m = load(dir);
  const std::vector<std::vector<int64_t>> ids = {{41, 70, 397, 80}};
  const std::string site = "gpt_neox.layers.1.mlp.act",
                    set = "  - {site: " + site + ", neurons: \"0:4\", op: set, value: -0.0}\n";
  const auto plain =
      run(*m, rig::Stimulation::from_config(make_config(dir, "  - {condition: c, prompts: [x]}\n", set, 3), *m, ids),
          ids, {0}, ids, greedy(3));
  const auto sham =
      run(*m,
          rig::Stimulation::from_config(
              make_config(dir, "  - {condition: c, prompts: [x]}\n",
                          set + "  - {site: " + site + ", neurons: \"0:4\", op: add, vector: [0, 0, 0, 0]}\n", 3),
              *m, ids),
          ids, {0}, ids, greedy(3));
  const at::Tensor a = plain.cap->rows(site, rig::Side::kOutput, 0), b = sham.cap->rows(site, rig::Side::kOutput, 0);
  REQUIRE(std::signbit(a[0][0].item<float>()));
  CHECK(bits_equal(a, b));
}

TEST_CASE("positions: a stimulation acts only at its rows, at every generation step", "[stimulation]") {
  at::NoGradGuard no_grad;
  const fs::path dir = rig::test::kOrganism;
  auto m = load(dir);
  const std::vector<std::vector<int64_t>> ids = {{41, 70, 397, 80, 13}, {7, 99}};
  const std::string site = "gpt_neox.layers.1.mlp.act";
  const auto base_cfg = make_config(dir, "  - {condition: c, prompts: [x, y]}\n", "", 6);
  const auto base = run(*m, rig::Stimulation::from_config(base_cfg, *m, ids), ids, {0, 1}, ids, greedy(6));
  for (const std::string positions : {"response_onset+1:3", "\"2:4\"", "prompt", "response"}) {
    const auto cfg = make_config(
        dir, "  - {condition: c, prompts: [x, y]}\n",
        "  - {site: " + site + ", neurons: \"0:8\", op: set, value: 7.5, positions: " + positions + "}\n", 6);
    const auto stim = rig::Stimulation::from_config(cfg, *m, ids);
    const auto t = run(*m, stim, ids, {0, 1}, ids, greedy(6));
    for (int64_t b = 0; b < 2; ++b) {
      const int64_t n = int64_t(ids[size_t(b)].size());
      const at::Tensor x = t.cap->rows(site, rig::Side::kOutput, b), x0 = base.cap->rows(site, rig::Side::kOutput, b);
      auto [lo, hi] = stim.interventions()[0].positions.resolve(n, stim.prompt_events()[size_t(b)]);
      hi = std::min<int64_t>(hi, x.size(0));
      INFO(positions << " sequence " << b << " rows " << lo << ".." << hi);
      REQUIRE(hi > lo);
      // Before the first stimulated row: identical to no stimulation (left padding and all).
      if (lo > 0) CHECK(at::equal(x.narrow(0, 0, lo), x0.narrow(0, 0, lo)));
      // At the stimulated rows: the value, on the selected neurons only.
      CHECK(at::equal(x.narrow(0, lo, hi - lo).narrow(1, 0, 8), at::full({hi - lo, 8}, 7.5f)));
      CHECK(!at::equal(x.narrow(0, lo, hi - lo).narrow(1, 8, 8), at::full({hi - lo, 8}, 7.5f)));
      if (hi < x.size(0)) CHECK((x.narrow(0, hi, x.size(0) - hi).narrow(1, 0, 8) != 7.5f).all().item<bool>());
    }
  }
}

TEST_CASE("vectors from a .npy file, an HDF5 dataset and condition means of a recording", "[stimulation]") {
  at::NoGradGuard no_grad;
  const fs::path dir = rig::test::kOrganism;
  auto m = load(dir);
  const fs::path tmp = fs::temp_directory_path() / ("rig_stim_test_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  // .npy, float64, shape (8,)
  {
    std::ofstream o(tmp / "v.npy", std::ios::binary);
    std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (8,), }";
    header.append(128 - 10 - header.size() - 1, ' ');  // data starts 64-byte aligned
    header += '\n';
    o.write("\x93NUMPY\x01\x00", 8);
    const uint16_t len = uint16_t(header.size());
    o.write(reinterpret_cast<const char*>(&len), 2);
    o << header;
    for (int i = 0; i < 8; ++i) {
      double d = 0.25 * i;
      o.write(reinterpret_cast<const char*>(&d), 8);
    }
  }
  // An HDF5 dataset /g/v of 8 float32 values.
  {
    hid_t f = H5Fcreate((tmp / "v.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t n = 8;
    hid_t sp = H5Screate_simple(1, &n, nullptr);
    hid_t d = H5Dcreate2(g, "v", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const float v[8] = {-1, -2, -3, -4, -5, -6, -7, -8};
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d), H5Sclose(sp), H5Gclose(g), H5Fclose(f);
  }
  // A recording: condition a has values 1 (rows 0..2) and 3 (rows 3..), condition b 0.5.
  const std::string site = "gpt_neox.layers.1";
  {
    rig::RecordingHeader h;
    rig::ElectrodeSpec e;
    e.site = site;
    e.module_type = "GPTNeoXLayer";
    e.site_width = 128;
    e.neurons = {0, 1, 2, 3, 4, 5, 6, 7, 9};
    h.electrodes = {e};
    h.stimuli = {{0, "a", "x", {}}, {1, "b", "y", {}}};
    h.n_trials_planned = 3;
    std::vector<rig::TrialResult> trials;
    for (int i = 0; i < 3; ++i) {
      rig::TrialResult t;
      t.index = i;
      t.stimulus = i == 2 ? 1 : 0;
      t.condition = i == 2 ? "b" : "a";
      t.n_prompt_tokens = 3;
      t.n_generated = 2 + i;
      t.finish_reason = rig::FinishReason::kLength;
      std::vector<float> rows;
      for (int r = 0; r < 5 + i; ++r) {
        t.tokens.push_back({r, 1, "x", r >= 3});
        for (int k = 0; k < 9; ++k) rows.push_back(i == 2 ? 0.5f : (r < 3 ? 1.0f : 3.0f + float(i) + float(k)));
      }
      t.recordings.push_back(rows);
      trials.push_back(t);
    }
    auto w = rig::RecordingWriter::create(tmp / "rec.h5", h, true);
    w->append(trials);
    w->close();
  }
  const std::string stimuli = "  - {condition: a, prompts: [x]}\n";
  const std::vector<std::vector<int64_t>> ids = {{1, 2, 3}};
  {
    const auto cfg = make_config(dir, stimuli,
                                 "  - {site: " + site + ", neurons: \"0:8\", op: add, scale: 2, vector: {file: '" +
                                     (tmp / "v.npy").string() + "'}}\n");
    const auto st = rig::Stimulation::from_config(cfg, *m, ids);
    CHECK(st.interventions()[0].vector == std::vector<float>{0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5});
  }
  {
    const auto cfg = make_config(
        dir, stimuli,
        "  - {site: " + site + ", neurons: \"8:16\", op: add, vector: {file: '" + (tmp / "v.h5").string() +
            "', dataset: /g/v}}\n"
            "  - {site: " +
            site + ", neurons: \"8:16\", op: add, vector: {file: '" + (tmp / "v.h5").string() + "', dataset: g/v}}\n");
    const auto st = rig::Stimulation::from_config(cfg, *m, ids);
    CHECK(st.interventions()[0].vector == std::vector<float>{-1, -2, -3, -4, -5, -6, -7, -8});
    CHECK(st.interventions()[1].vector == st.interventions()[0].vector);
    const auto bad = make_config(dir, stimuli,
                                 "  - {site: " + site + ", neurons: \"8:16\", op: add, vector: {file: '" +
                                     (tmp / "v.h5").string() + "', dataset: /g/w}}\n");
    CHECK_THROWS_AS(rig::Stimulation::from_config(bad, *m, ids), rig::ConfigError);
  }
  {
    // Trials weigh equally: a's response rows average (3+k, 4+k) per trial -> 3.5 + k.
    const auto cfg = make_config(
        dir, stimuli,
        "  - {site: " + site + ", neurons: [0, 9], op: add, vector: {recording: '" + (tmp / "rec.h5").string() +
            "', conditions: [a, b], rows: response}}\n"
            "  - {site: " +
            site + ", neurons: [1], op: mean-ablate, mean: {recording: '" + (tmp / "rec.h5").string() +
            "', condition: a, rows: response_onset+1:2}}\n"
            "  - {site: " +
            site + ", neurons: [2], op: mean-ablate, mean: {recording: '" + (tmp / "rec.h5").string() +
            "', condition: a, rows: prompt}}\n");
    const auto st = rig::Stimulation::from_config(cfg, *m, ids);
    REQUIRE(st.interventions().size() == 3);
    // a: trial i's response rows hold 3 + i + column, b everything 0.5.
    CHECK(st.interventions()[0].vector[0] == Approx(3.5 - 0.5));
    CHECK(st.interventions()[0].vector[1] == Approx(3.5 + 8 - 0.5));  // neuron 9 is the file's column 8
    CHECK(st.interventions()[1].vector[0] == Approx(3.5 + 1));        // row onset+1 only
    CHECK(st.interventions()[2].vector[0] == Approx(1.0));
  }
  {
    // Neuron 8 was not recorded.
    const auto cfg = make_config(dir, stimuli,
                                 "  - {site: " + site + ", neurons: [8], op: mean-ablate, mean: {recording: '" +
                                     (tmp / "rec.h5").string() + "', condition: a}}\n");
    try {
      rig::Stimulation::from_config(cfg, *m, ids);
      FAIL("no error");
    } catch (const rig::ConfigError& e) {
      CHECK(std::string(e.what()).find("not neuron 8") != std::string::npos);
    }
  }
  fs::remove_all(tmp);
}

TEST_CASE("bad stimulation configs: clear errors naming file:line:col before anything runs", "[stimulation]") {
  const fs::path dir = rig::test::kOrganism;
  auto m = load(dir);
  const std::vector<std::vector<int64_t>> ids = {{1, 2, 3}, {4, 5}};
  const std::string stimuli = "  - {condition: a, prompts: [x]}\n  - {condition: b, prompts: [y], stimulation: [s]}\n";
  struct Case {
    std::string stimulation, expect;
  };
  const std::vector<Case> cases = {
      {"  - {name: s, site: gpt_neox.layers.0, op: add, vector: [1, 2, 3]}\n",
       "stimulation.0.vector: expected a vector of 128 values (the output width of gpt_neox.layers.0), got 3"},
      {"  - {name: s, site: gpt_neox.layers.0.mlp.act, neurons: [3, 512], op: set, value: 0}\n",
       "stimulation.0.neurons: expected neuron indices below 512 (the output width of gpt_neox.layers.0.mlp.act), got "
       "512"},
      {"  - {name: s, site: gpt_neox.layers.0, op: patch, source: {condition: nope}}\n",
       "stimulation.0.source.condition: expected the condition of a patch source (conditions: a, b), got 'nope'"},
      {"  - {name: s, site: gpt_neox.layers.0, op: patch, source: {stimulus: 5}}\n",
       "stimulation.0.source.stimulus: expected a patch source among the 2 stimuli (0..1), got 5"},
      {"  - {name: t, site: gpt_neox.layers.0, op: scale, factor: 2}\n",
       "stimuli.1.stimulation: expected the name of a stimulation: entry (named: t), got 's'"},
      {"  - {name: s, site: gpt_neox.layers.0, op: scale, factor: 2}\n  - {name: u, site: gpt_neox.layers.0, op: "
       "scale, factor: 2}\n",
       "stimulation 'u' is given to no trial"},
      {"  - {name: s, site: gpt_neox.layers.0, op: scale, value: 2}\n",
       "stimulation.0.value: only applies with op: set, not op: scale"},
      {"  - {name: s, site: gpt_neox.layers.0, op: multiply, factor: 2}\n",
       "stimulation.0.op: expected one of set | mean-ablate | scale | add | patch, got 'multiply'"},
      {"  - {name: s, site: gpt_neox.layers.0, op: scale, factor: 2, positions: eos}\n",
       "stimulation.0.positions: expected an event known before the response is generated"},
      {"  - {name: s, site: gpt_neox.layers.0, op: scale, factor: 2, positions: \"5:2\"}\n",
       "stimulation.0.positions: expected all | prompt | response"},
      {"  - {name: s, site: gpt_neox.layerz.0, op: scale, factor: 2}\n",
       "stimulation.0.site: expected a site of the model, got 'gpt_neox.layerz.0'"},
      {"  - {name: s, site: gpt_neox.layers.0, op: add, vector: {file: /nonexistent/v.npy}}\n",
       "stimulation.0.vector.file: expected a file, got '/nonexistent/v.npy', which does not exist"},
      {"  - {name: s, site: gpt_neox.layers.0, op: add, vector: {recording: /nonexistent.h5, conditions: [a, b]}}\n",
       "stimulation.0.vector.recording: expected a file"},
      {"  - {name: s, site: gpt_neox.layers.0, op: scale, factr: 2}\n",
       "stimulation.0.factr: unknown key; did you mean 'factor'?"},
      // vector: and mean: (stimulation/vectors.h), decoded by the same schema engine.
      {"  - {name: s, site: gpt_neox.layers.0, op: add, vector: [1, x]}\n",
       "stimulation.0.vector.1: expected a number, got 'x'"},
      {"  - {name: s, site: gpt_neox.layers.0, op: add, vector: {fil: /x/v.npy}}\n",
       "stimulation.0.vector.fil: unknown key; did you mean 'file'?"},
      {"  - {name: s, site: gpt_neox.layers.0, op: add, vector: {file: /x/v.npy, dataset: g}}\n",
       "stimulation.0.vector.dataset: only applies to an .h5 file"},
      {"  - {name: s, site: gpt_neox.layers.0, op: add, vector: {file: /x/v.h5}}\n",
       "stimulation.0.vector.dataset: missing required key for an .h5 file"},
      {"  - {name: s, site: gpt_neox.layers.0, op: add, vector: {file: /x/v.txt}}\n",
       "stimulation.0.vector.file: expected a .npy or .h5 file, got '/x/v.txt'"},
      {"  - {name: s, site: gpt_neox.layers.0, op: add, vector: {file: /x/v.npy, rows: all}}\n",
       "stimulation.0.vector.rows: only applies with recording:"},
      {"  - {name: s, site: gpt_neox.layers.0, op: add, vector: {recording: /x.h5}}\n",
       "stimulation.0.vector: expected exactly one of condition: NAME (its mean) or conditions: [A, B]"},
      {"  - {name: s, site: gpt_neox.layers.0, op: add, vector: {recording: /x.h5, conditions: [a]}}\n",
       "stimulation.0.vector.conditions: expected two conditions [A, B]"},
      {"  - {name: s, site: gpt_neox.layers.0, op: add, vector: {recording: /x.h5, condition: a, rows: \"5:2\"}}\n",
       "stimulation.0.vector.rows: expected all | prompt | response"},
      {"  - {name: s, site: gpt_neox.layers.0, op: mean-ablate, mean: {recording: /x.h5, conditions: [a, b]}}\n",
       "stimulation.0.mean.conditions: unknown key; did you mean 'condition'?"},
      {"  - {name: s, site: gpt_neox.layers.0, op: mean-ablate, mean: [1, 2]}\n",
       "stimulation.0.mean: expected {recording: FILE.h5, condition: NAME, rows: ROWS}, got a sequence"},
      {"  - {name: s, site: gpt_neox.layers.0, op: mean-ablate, mean: {recording: /x.h5, condition: a, side: both}}\n",
       "stimulation.0.mean.side: expected one of output | input, got 'both'"},
  };
  for (const auto& c : cases) {
    INFO(c.stimulation);
    const auto cfg = make_config(dir, stimuli, c.stimulation);
    try {
      rig::Stimulation::from_config(cfg, *m, ids);
      FAIL("no error for " << c.stimulation);
    } catch (const rig::ConfigError& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(c.expect) != std::string::npos);
      CHECK(std::regex_search(std::string(e.what()), std::regex("^test\\.yaml:[0-9]+:[0-9]+: ")));
    }
  }
}

// stimulation: entries are decoded by the experiment's schema engine (experiment/schema.h):
// the same "FILE:LINE:COL: KEY.PATH: ..." form for unknown keys (did you mean, known keys)
// and wrong types as the experiment's own keys.
TEST_CASE("stimulation: errors have the experiment config's form", "[stimulation][config]") {
  const fs::path dir = rig::test::kOrganism;
  auto m = load(dir);
  const std::vector<std::vector<int64_t>> ids = {{1, 2, 3}};
  const std::string stimuli = "  - {condition: a, prompts: [x]}\n";
  auto error = [&](const std::string& stimulation, const std::string& extra = "") -> std::string {
    try {
      const auto cfg = make_config(dir, stimuli, stimulation, 8, extra);
      rig::Stimulation::from_config(cfg, *m, ids);
    } catch (const rig::ConfigError& e) {
      return e.what();
    }
    return "no error";
  };
  // The experiment's own unknown key, for the form.
  const std::string exp = error("", "recording: {compresion: none}\n");
  CHECK(std::regex_search(exp, std::regex("^test\\.yaml:[0-9]+:[0-9]+: recording\\.compresion: unknown key; "
                                          "did you mean 'compression'\\? \\(known keys: ")));
  // An unknown key of an entry (line 7: after name, model, stimuli x2, trials, stimulation:).
  const std::string unk = error("  - {site: gpt_neox.layers.0, op: scale, factor: 2, postions: all}\n");
  INFO(unk);
  CHECK(std::regex_search(unk, std::regex("^test\\.yaml:7:53: stimulation\\.0\\.postions: unknown key; "
                                          "did you mean 'positions'\\? \\(known keys: name, op, site, ")));
  // Nested mapping: patch's source.
  const std::string nested = error("  - {site: gpt_neox.layers.0, op: patch, source: {stimulus: 0, conditon: a}}\n");
  INFO(nested);
  CHECK(std::regex_search(nested, std::regex("^test\\.yaml:7:[0-9]+: stimulation\\.0\\.source\\.conditon: unknown key; "
                                             "did you mean 'condition'\\?")));
  // Wrong types, at the value.
  const std::string type = error("  - {site: gpt_neox.layers.0, op: scale, factor: [2]}\n");
  INFO(type);
  CHECK(std::regex_search(
      type, std::regex("^test\\.yaml:7:[0-9]+: stimulation\\.0\\.factor: expected a number, got a sequence$")));
  const std::string op = error("  - {site: gpt_neox.layers.0, op: {scale: 2}}\n");
  INFO(op);
  CHECK(std::regex_search(
      op, std::regex("^test\\.yaml:7:[0-9]+: stimulation\\.0\\.op: expected one of set \\| mean-ablate \\| "
                     "scale \\| add \\| patch, got a mapping$")));
  const std::string idx = error("  - {site: gpt_neox.layers.0, op: patch, source: {stimulus: x}}\n");
  INFO(idx);
  CHECK(std::regex_search(idx,
                          std::regex("^test\\.yaml:7:[0-9]+: stimulation\\.0\\.source\\.stimulus: expected a stimulus "
                                     "index >= 0, got 'x'$")));
  // Duplicate keys, as in the experiment's mappings.
  const std::string dup = error("  - {site: gpt_neox.layers.0, op: scale, factor: 2, factor: 3}\n");
  INFO(dup);
  CHECK(std::regex_search(dup, std::regex("^test\\.yaml:7:[0-9]+: stimulation\\.0\\.factor: duplicate key")));
}
