#include "runner/runner.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/events.h"
#include "hub/cache.h"
#include "hub/download.h"
#include "model/hook_names.h"
#include "model/provenance.h"
#include "recording/statistics.h"
#include "recording/writer.h"
#include "runner/recorder.h"
#include "runner/task_select.h"

namespace rig {
namespace fs = std::filesystem;

namespace {

// A hub model must be complete in the cache before anything is written: fetched first with
// model.download: true, otherwise refused (exit 2) with the command that fetches it.
// Returns the cache directory to load from.
std::filesystem::path ensure_hub_model(const ModelSpec& m, bool quiet) {
  hub::Env env = hub::env_from_process();
  if (!m.cache_dir.empty()) env.cache_dir = m.cache_dir;
  if (m.download) {
    hub::PullOptions o;
    o.repo = m.id;
    o.revision = m.revision;
    o.env = env;
    o.cache_dir_arg = m.cache_dir;
    o.quiet = quiet;
    hub::pull(o);
    return env.cache_dir;
  }
  const std::filesystem::path snap = hub::find_snapshot(env.cache_dir, m.id, m.revision);
  const std::vector<std::string> missing = snap.empty() ? std::vector<std::string>() : hub::missing_files(snap);
  if (snap.empty() || !missing.empty())
    throw ConfigError(m.id_origin.error(
        "model " + m.id + "@" + m.revision + " is not in the Hugging Face cache " + env.cache_dir.string() +
        (missing.empty() ? "" : " (its snapshot " + snap.string() + " lacks " + missing[0] + ")") +
        "; fetch it first with\n    " + hub::pull_command(m.id, m.revision, m.cache_dir) +
        "\n  or set model.download: true to fetch it when the run starts"));
  return env.cache_dir;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", b, units[u]);
  return buf;
}

// Progress on stderr: a redrawn bar on a terminal, plain periodic lines in cluster logs.
class Progress {
 public:
  Progress(int64_t total, bool quiet, double log_every)
      : total_(total), quiet_(quiet), tty_(isatty(STDERR_FILENO)), log_every_(log_every) {
    start_ = last_ = std::chrono::steady_clock::now();
  }
  void count_tokens(int64_t tokens) {
    std::lock_guard<std::mutex> lock(mu_);
    tokens_ += tokens;
  }
  void add(int64_t trials) {
    std::lock_guard<std::mutex> lock(mu_);
    done_ += trials;
    const auto now = std::chrono::steady_clock::now();
    const double since_last = std::chrono::duration<double>(now - last_).count();
    if (quiet_ || (!tty_ && since_last < log_every_ && done_ < total_)) return;
    last_ = now;
    const double t = std::chrono::duration<double>(now - start_).count();
    const double tps = t > 0 ? done_ / t : 0, toks = t > 0 ? tokens_ / t : 0;
    const double eta = tps > 0 ? (total_ - done_) / tps : 0;
    char line[256];
    if (tty_) {
      const int width = 30, fill = total_ ? int(width * done_ / total_) : width;
      std::snprintf(line, sizeof line, "\r[%s%s] %lld/%lld trials  %.1f trials/s  %.0f tok/s  ETA %.0fs ",
                    std::string(size_t(fill), '#').c_str(), std::string(size_t(width - fill), '.').c_str(),
                    (long long)done_, (long long)total_, tps, toks, eta);
      std::fputs(line, stderr);
      if (done_ >= total_) std::fputs("\n", stderr);
    } else {
      std::snprintf(line, sizeof line, "rig: %lld/%lld trials recorded (%.1f trials/s, %.0f tok/s, ETA %.0fs)\n",
                    (long long)done_, (long long)total_, tps, toks, eta);
      std::fputs(line, stderr);
    }
    std::fflush(stderr);
  }

 private:
  std::mutex mu_;
  int64_t total_, done_ = 0, tokens_ = 0;
  bool quiet_, tty_;
  double log_every_;
  std::chrono::steady_clock::time_point start_, last_;
};

std::string iso8601_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Built-in and token-text events of one trial: name -> row within the trial.
std::map<std::string, int64_t> find_events(const std::vector<EventSpec>& specs, const TrialResult& t) {
  std::map<std::string, int64_t> ev;
  for (const auto& e : specs) {
    if (e.builtin) {
      const auto b = builtin_events(t);
      if (auto it = b.find(e.name); it != b.end()) ev[e.name] = it->second;
      continue;
    }
    for (size_t r = 0; r < t.tokens.size(); ++r) {
      const bool gen = t.tokens[r].generated;
      if ((e.in == EventScope::kPrompt && gen) || (e.in == EventScope::kResponse && !gen)) continue;
      if (e.matches(t.tokens[r].text)) {
        ev[e.name] = int64_t(r);
        break;
      }
    }
  }
  return ev;
}

// The options' and the config's own errors, found before a model is loaded.
void check_options(const ExperimentConfig& config, const RunOptions& options) {
  if (options.shard_count < 1 || options.shard_index < 0 || options.shard_index >= options.shard_count)
    throw ConfigError("--shard: expected I/N with 0 <= I < N, got " + std::to_string(options.shard_index) + "/" +
                      std::to_string(options.shard_count));
  if (!config.sweep.empty() && config.sweep_index < 0)
    throw ConfigError(config.source.file + ": the config has a sweep of " + std::to_string(sweep_size(config)) +
                      " variants; choose one with --sweep-index K or run it as a SLURM array (docs/CLUSTER.md)");
}

// What run() compares with RunPlan::model. The directory is canonical, so that the same model
// loaded as "models/x", "./models/x" or through a link is the same.
std::string model_label(const LoadedModel& m) {
  return fs::weakly_canonical(m.dir).string() + " (" + dtype_name(m.dtype) + " on " + m.device.str() + ")";
}

void check_model(const RunPlan& plan, const LoadedModel& model) {
  const std::string given = model_label(model);
  if (given != plan.model)
    throw Error("run: the plan was made with the model " + plan.model + ", not " + given +
                "; plan again with the model you run");
}

}  // namespace

LoadedModel load_experiment_model(const ExperimentConfig& config, const RunOptions& options) {
  check_options(config, options);
  ModelSource src = config.model;
  if (!src.id.empty()) src.cache_dir = ensure_hub_model(config.model, options.quiet).string();
  return load_model(src);
}

RunPlan plan(ExperimentConfig config, const LoadedModel& model, const RunOptions& options) {
  check_options(config, options);
  RunPlan p;
  p.config = std::move(config);
  p.options = options;
  const ExperimentConfig& cfg = p.config;
  p.provenance = model_provenance(model.dir);
  p.model = model_label(model);

  SiteCatalog called;
  for (const auto& s : model.model->catalog())
    if (s.called && !s.name.empty()) called.push_back(s);
  p.electrodes = resolve_electrodes(cfg, called, hook_aliases(model.model->config()));
  bind_sae_electrodes(p.electrodes, p.saes);

  const auto& tok = *model.tokenizer;
  const int64_t max_new = cfg.trials.generate.max_new_tokens;
  const int64_t vocab = model.model->config().vocab_size;
  const std::string config_json = (model.dir / "config.json").string(),
                    tokenizer_json = (model.dir / "tokenizer.json").string();
  // Every architecture: positions 0 .. prompt + max_new_tokens - 1 must exist (ModelConfig::
  // position_limit), checked before any allocation.
  const int64_t max_pos = model.model->config().position_limit();
  const std::string max_pos_source = model.model->config().position_limit_source(config_json);
  if (max_new >= max_pos)
    throw ConfigError(cfg.source.where(YAML::Node(), {"trials", "generate", "max_new_tokens"}) +
                      ": expected fewer than the model's " + std::to_string(max_pos) + " positions (" + max_pos_source +
                      "), got " + std::to_string(max_new));
  for (const auto& s : cfg.stimuli) {
    auto ids = tok.encode(s.prompt, cfg.trials.add_special_tokens).ids;
    if (ids.empty())
      throw ConfigError(cfg.source.file + ": stimulus " + std::to_string(s.index) + " (condition '" + s.condition +
                        "') encodes to no tokens: prompt '" + s.prompt +
                        "' (an empty prompt needs a tokenizer that adds BOS)");
    if (int64_t(ids.size()) > max_pos - max_new)
      throw ConfigError(cfg.source.file + ": stimulus " + std::to_string(s.index) + " (condition '" + s.condition +
                        "'): " + std::to_string(ids.size()) + " prompt tokens + " + std::to_string(max_new) +
                        " new tokens exceed the model's " + std::to_string(max_pos) + " positions (" + max_pos_source +
                        ")");
    for (int64_t id : ids)
      if (id < 0 || id >= vocab)
        throw ModelError(cfg.source.file + ": stimulus " + std::to_string(s.index) + ": " + tokenizer_json +
                         " encodes it with token id " + std::to_string(id) + ", outside the model's vocabulary of " +
                         std::to_string(vocab) + " (" + config_json +
                         " vocab_size): the tokenizer and the "
                         "weights do not belong together");
    p.prompt_ids.push_back(std::move(ids));
  }
  // Stimulation: checked against the model's sites before anything is written.
  p.stimulation = Stimulation::from_config(cfg, *model.model, p.prompt_ids, &p.saes);
  if (!p.stimulation.empty()) {
    // Token-text events with in: prompt are known before generation: positions may use them.
    for (size_t s = 0; s < p.prompt_ids.size(); ++s) {
      TrialResult t;
      int64_t pos = 0;
      for (int64_t id : p.prompt_ids[s]) t.tokens.push_back({pos++, id, tok.decode({id}, false), false});
      for (const auto& e : cfg.events)
        if (!e.builtin && e.in == EventScope::kPrompt)
          if (auto ev = find_events({e}, t); ev.count(e.name)) p.stimulation.prompt_events()[s][e.name] = ev[e.name];
    }
  }
  for (auto& t : expand_trials(cfg)) {
    ++p.n_trials_experiment;
    if (t.index % options.shard_count == options.shard_index) p.trials.push_back(t);
  }
  int64_t width = 0;
  for (const auto& e : p.electrodes) width += e.width();
  for (const auto& t : p.trials) p.max_rows += int64_t(p.prompt_ids[size_t(t.stimulus)].size()) + max_new;
  p.max_bytes = p.max_rows * width * (cfg.recording.dtype == "float16" ? 2 : 4);
  p.path = options.out.empty() ? cfg.recording.path : options.out;
  // Each shard writes its own file: NAME.shard-I-of-N.h5 beside recording.path (or --out),
  // so that one --out serves every task of an array.
  if (options.shard_count > 1) p.path = shard_path(p.path, options.shard_index, options.shard_count);
  return p;
}

RecordingHeader header(const RunPlan& plan, const LoadedModel& model) {
  RecordingHeader h;
  h.attrs["config"] = plan.config.resolved_yaml;
  h.attrs["config_hash"] = plan.config.config_hash;
  h.attrs["config_file"] = plan.config.source.file;
  h.attrs["name"] = plan.config.name;
  h.attrs["model"] = model.name;
  h.attrs["model_path"] = fs::absolute(model.dir).lexically_normal().string();
  h.attrs["revision"] = model.revision;
  h.attrs["architecture"] = model.model->type();
  h.attrs["dtype"] = dtype_name(model.dtype);
  h.attrs["device"] = model.device.str();
  h.attrs["created"] = iso8601_now();
  h.int_attrs["seed"] = int64_t(plan.config.seed);
  for (auto& [k, v] : provenance_attributes(plan.provenance)) h.attrs[k] = v;
  if (plan.options.shard_count > 1) {  // only shard files carry these (rig merge reads them)
    h.int_attrs["shard_index"] = plan.options.shard_index;
    h.int_attrs["shard_count"] = plan.options.shard_count;
    h.int_attrs["n_trials_experiment"] = plan.n_trials_experiment;
  }
  if (plan.config.sweep_index >= 0) {
    h.int_attrs["sweep_index"] = plan.config.sweep_index;
    h.int_attrs["sweep_count"] = sweep_size(plan.config);
    h.attrs["sweep_variant"] = sweep_label(plan.config, plan.config.sweep_index);
  }
  // What each intervention does, with its vector's origin and norm: a resume with a changed
  // source recording is refused (the writer compares root attributes).
  if (!plan.stimulation.empty()) h.attrs["stimulation"] = plan.stimulation.describe();
  h.stimuli = plan.config.stimuli;
  h.electrodes = plan.electrodes;
  for (const auto& e : plan.config.events) h.events.push_back(e.name);
  h.dtype = plan.config.recording.dtype;
  h.compression = plan.config.recording.compression;
  h.store = plan.config.recording.store;
  h.bins = plan.config.recording.bins;
  h.n_trials_planned = int64_t(plan.trials.size());
  return h;
}

std::string describe(const RunPlan& plan, const LoadedModel& model) {
  std::ostringstream os;
  std::map<std::string, int64_t> per_condition;
  for (const auto& t : plan.trials) per_condition[t.condition]++;
  os << "experiment " << plan.config.name << " (config " << plan.config.source.file << ", hash "
     << plan.config.config_hash << ")\n";
  os << "model      " << model.name << (model.revision.empty() ? "" : " @ " + model.revision) << "  ["
     << model.model->type() << ", " << dtype_name(model.dtype) << ", " << model.device.str() << "]\n";
  if (plan.config.sweep_index >= 0)
    os << "variant    " << plan.config.sweep_index << " of " << sweep_size(plan.config) << ": "
       << sweep_label(plan.config, plan.config.sweep_index) << "\n";
  os << "trials     " << plan.trials.size() << " (" << plan.config.stimuli.size() << " stimuli x "
     << plan.config.trials.repetitions << " repetitions";
  if (plan.options.shard_count > 1) os << ", shard " << plan.options.shard_index << "/" << plan.options.shard_count;
  os << "), batch size " << plan.config.trials.batch_size << ", " << plan.config.trials.generate.max_new_tokens
     << " new tokens each\n";
  for (const auto& [c, n] : per_condition) os << "  condition " << c << ": " << n << " trials\n";
  os << "electrodes " << plan.electrodes.size() << "\n";
  int64_t width = 0;
  for (const auto& e : plan.electrodes) {
    os << "  " << e.site << " " << side_name(e.side) << (e.alias.empty() ? "" : " (" + e.alias + ")") << "  "
       << e.module_type << "  ";
    if (!e.sae.empty()) os << e.width() - 1 << " SAE latents + |error| (" << e.sae << ")";
    else os << e.width() << " neurons";
    if (!e.neurons.empty()) os << " of " << e.site_width;
    os << "\n";
    width += e.width();
  }
  if (!plan.stimulation.empty()) {
    std::map<std::string, int64_t> per_label;
    for (const auto& t : plan.trials) per_label[plan.stimulation.label(t.stimulus)]++;
    os << "stimulation " << plan.stimulation.interventions().size() << " interventions\n"
       << plan.stimulation.describe();
    for (const auto& [label, n] : per_label)
      os << "  " << n << " trials get " << (label.empty() ? "none" : label) << "\n";
  }
  os << "rows       at most " << plan.max_rows << " (prompt + generated tokens), " << width << " values each\n";
  if (plan.config.recording.store == "statistics") {
    const BinSpec& b = plan.config.recording.bins;
    const double bytes =  // with the writer's checkpoint copy
        2 * statistics_bytes(int64_t(statistics_conditions(plan.config.stimuli).size()), b.n_bins(), width);
    os << "statistics " << b.n_bins() << " bins of " << b.bin << " rows, offsets -" << b.pre << ".." << b.post
       << " from " << b.event << " (no rows stored)\n";
    os << "writes     " << human_bytes(bytes) << " of statistics + the trials and tokens tables to " << plan.path
       << "\n";
  } else {
    os << "writes     at most " << human_bytes(double(plan.max_bytes)) << " (" << plan.config.recording.dtype << ") to "
       << plan.path << "\n";
  }
  return os.str();
}

std::vector<TrialResult> run_batch(const RunPlan& plan, const LoadedModel& model, const std::vector<TrialSpec>& batch) {
  check_model(plan, model);
  GenerateOptions o;
  static_cast<GenerateConfig&>(o) = plan.config.trials.generate;
  o.eos_id = model.model->config().eos_token_id ? model.model->config().eos_token_id : model.tokenizer->eos_id();
  o.final_step = true;

  std::vector<std::vector<int64_t>> prompts;
  std::vector<uint64_t> seeds;
  for (const auto& t : batch) {
    prompts.push_back(plan.prompt_ids[size_t(t.stimulus)]);
    seeds.push_back(t.seed);
  }
  Recorder recorder(*model.model, plan.electrodes, plan.saes);
  SiteHooks hooks(model.model->n_sites());
  // Stimulation hooks first: the recorder then sees the stimulated values.
  std::unique_ptr<StimulationRun> stim;
  if (!plan.stimulation.empty()) {
    std::vector<StimTrial> st;
    for (size_t b = 0; b < batch.size(); ++b) st.push_back({batch[b].stimulus, batch[b].repetition, prompts[b]});
    stim = std::make_unique<StimulationRun>(plan.stimulation, *model.model, std::move(st), plan.prompt_ids, o,
                                            model.device);
    stim->attach(hooks);
  }
  recorder.attach(hooks);
  const auto results =
      generate(*model.model, prompts, o, seeds, &hooks, model.device, [&](const StepInfo& s) { recorder.on_step(s); });

  const Tokenizer& tok = *model.tokenizer;
  std::vector<TrialResult> out;
  for (size_t b = 0; b < batch.size(); ++b) {
    const TrialSpec& spec = batch[b];
    TrialResult t;
    static_cast<TrialSpec&>(t) = spec;
    if (!plan.stimulation.empty()) t.stimulation = plan.stimulation.label(spec.stimulus);
    t.prompt = plan.config.stimuli[size_t(spec.stimulus)].prompt;
    t.n_prompt_tokens = int64_t(prompts[b].size());
    t.n_generated = int64_t(results[b].new_ids.size());
    if (!parse_finish_reason(results[b].finish_reason, &t.finish_reason))
      throw Error("generate: finish reason '" + results[b].finish_reason + "'; expected " + kFinishReasonList);
    t.response = tok.decode(results[b].new_ids, /*skip_special_tokens=*/true);
    int64_t pos = 0;
    for (int64_t id : prompts[b]) t.tokens.push_back({pos++, id, tok.decode({id}, false), false});
    for (int64_t id : results[b].new_ids) t.tokens.push_back({pos++, id, tok.decode({id}, false), true});
    t.events = find_events(plan.config.events, t);
    for (size_t e = 0; e < plan.electrodes.size(); ++e) t.recordings.push_back(recorder.rows(e, int64_t(b)));
    out.push_back(std::move(t));
  }
  return out;
}

int64_t run(const RunPlan& plan, const LoadedModel& model, RecordingSink& sink, const std::atomic<bool>* stop) {
  check_model(plan, model);
  const auto finished_list = sink.finished_trials();
  const std::set<int64_t> finished(finished_list.begin(), finished_list.end());
  std::vector<TrialSpec> pending;
  for (const auto& t : plan.trials)
    if (!finished.count(t.index)) pending.push_back(t);
  if (!plan.options.quiet && !finished.empty())
    std::fprintf(stderr, "rig: resuming: %zu of %zu trials already recorded\n", finished.size(), plan.trials.size());
  Progress progress(int64_t(plan.trials.size()), plan.options.quiet, plan.options.log_every);
  progress.add(int64_t(plan.trials.size() - pending.size()));
  // Progress counts trials once they are on disk (the sink's commit), not when computed.
  sink.set_on_committed([&](const std::vector<int64_t>& idx) { progress.add(int64_t(idx.size())); });
  const size_t bs = size_t(plan.config.trials.batch_size);
  int64_t ran = 0;
  for (size_t i = 0; i < pending.size() && !(stop && *stop); i += bs) {
    const std::vector<TrialSpec> batch(pending.begin() + long(i),
                                       pending.begin() + long(std::min(pending.size(), i + bs)));
    auto results = run_batch(plan, model, batch);
    ran += int64_t(results.size());
    int64_t tokens = 0;
    for (const auto& t : results) tokens += int64_t(t.tokens.size());
    progress.count_tokens(tokens);
    sink.append(std::move(results));
  }
  sink.close();
  return ran;
}

std::vector<fs::path> inputs(const RunPlan& plan, const LoadedModel& model) {
  std::vector<fs::path> in{plan.config.source.file};
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(model.dir, ec)) in.push_back(e.path());
  for (const auto& set : plan.config.stimulus_sets)
    if (!set.file.empty()) in.push_back(set.file);
  for (const auto& [dir, sae] : plan.saes) {
    in.push_back(fs::path(dir) / "cfg.json");
    in.push_back(fs::path(dir) / "sae_weights.safetensors");
  }
  // Files the stimulation section names (vectors, source recordings): any scalar that is one.
  std::vector<YAML::Node> todo{plan.config.stimulation};
  while (!todo.empty()) {
    const YAML::Node n = todo.back();
    todo.pop_back();
    if (n.IsScalar() && fs::is_regular_file(n.Scalar(), ec)) in.push_back(n.Scalar());
    if (n.IsSequence() || n.IsMap())
      for (const auto& c : n) todo.push_back(n.IsMap() ? c.second : c);
  }
  return in;
}

int64_t run_to_file(const RunPlan& plan, const LoadedModel& model, const std::atomic<bool>* stop) {
  check_model(plan, model);
  const fs::path path(plan.path);
  if (!(plan.options.resume && fs::exists(path))) check_output_path(path, plan.options.force, inputs(plan, model));
  std::unique_ptr<RecordingWriter> writer;
  if (plan.options.resume && fs::exists(path)) writer = RecordingWriter::resume(path, header(plan, model));
  else writer = RecordingWriter::create(path, header(plan, model), plan.options.force);
  const int64_t ran = run(plan, model, *writer, stop);
  if (stop && *stop) {
    throw Error("interrupted: " + std::to_string(writer->finished_trials().size()) + " of " +
                    std::to_string(plan.trials.size()) + " trials are in " + path.string() +
                    "; `rig run ... --resume` completes the recording",
                130);
  }
  if (!plan.options.quiet)
    std::fprintf(stderr, "rig: wrote %lld trials to %s\n", (long long)writer->finished_trials().size(), path.c_str());
  return ran;
}

}  // namespace rig
