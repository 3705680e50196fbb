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

std::atomic<bool> g_stop{false};

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

}  // namespace

void Runner::request_stop() { g_stop = true; }
bool Runner::stop_requested() { return g_stop; }

// The options' and the config's own errors, found before a model is loaded.
void Runner::check_options() const {
  if (options_.shard_count < 1 || options_.shard_index < 0 || options_.shard_index >= options_.shard_count)
    throw ConfigError("--shard: expected I/N with 0 <= I < N, got " + std::to_string(options_.shard_index) + "/" +
                      std::to_string(options_.shard_count));
  if (!config_.sweep.empty() && config_.sweep_index < 0)
    throw ConfigError(config_.source.file + ": the config has a sweep of " + std::to_string(sweep_size(config_)) +
                      " variants; choose one with --sweep-index K or run it as a SLURM array (docs/CLUSTER.md)");
}

Runner::Runner(ExperimentConfig config, RunOptions options) : config_(std::move(config)), options_(std::move(options)) {
  check_options();
  ModelSource src = config_.model;
  if (!src.id.empty()) src.cache_dir = ensure_hub_model(config_.model, options_.quiet).string();
  model_ = load_model(src);
  prepare();
}

Runner::Runner(ExperimentConfig config, RunOptions options, LoadedModel model)
    : config_(std::move(config)), options_(std::move(options)), model_(std::move(model)) {
  check_options();
  prepare();
}

bool Runner::stopping() const { return g_stop || (options_.stop && *options_.stop); }

void Runner::prepare() {
  provenance_ = model_provenance(model_.dir);

  SiteCatalog called;
  for (const auto& s : model_.model->catalog())
    if (s.called && !s.name.empty()) called.push_back(s);
  plan_.electrodes = resolve_electrodes(config_, called, hook_aliases(model_.model->config()));
  bind_sae_electrodes(plan_.electrodes, saes_);

  const auto& tok = *model_.tokenizer;
  const int64_t max_new = config_.trials.generate.max_new_tokens;
  const int64_t vocab = model_.model->config().vocab_size;
  const std::string config_json = (model_.dir / "config.json").string(),
                    tokenizer_json = (model_.dir / "tokenizer.json").string();
  // Every architecture: positions 0 .. prompt + max_new_tokens - 1 must exist (ModelConfig::
  // position_limit), checked before any allocation.
  const int64_t max_pos = model_.model->config().position_limit();
  const std::string max_pos_source = model_.model->config().position_limit_source(config_json);
  if (max_new >= max_pos)
    throw ConfigError(config_.source.where(YAML::Node(), {"trials", "generate", "max_new_tokens"}) +
                      ": expected fewer than the model's " + std::to_string(max_pos) + " positions (" + max_pos_source +
                      "), got " + std::to_string(max_new));
  for (const auto& s : config_.stimuli) {
    auto ids = tok.encode(s.prompt, config_.trials.add_special_tokens).ids;
    if (ids.empty())
      throw ConfigError(config_.source.file + ": stimulus " + std::to_string(s.index) + " (condition '" + s.condition +
                        "') encodes to no tokens: prompt '" + s.prompt +
                        "' (an empty prompt needs a tokenizer that adds BOS)");
    if (int64_t(ids.size()) > max_pos - max_new)
      throw ConfigError(config_.source.file + ": stimulus " + std::to_string(s.index) + " (condition '" + s.condition +
                        "'): " + std::to_string(ids.size()) + " prompt tokens + " + std::to_string(max_new) +
                        " new tokens exceed the model's " + std::to_string(max_pos) + " positions (" + max_pos_source +
                        ")");
    for (int64_t id : ids)
      if (id < 0 || id >= vocab)
        throw ModelError(config_.source.file + ": stimulus " + std::to_string(s.index) + ": " + tokenizer_json +
                         " encodes it with token id " + std::to_string(id) + ", outside the model's vocabulary of " +
                         std::to_string(vocab) + " (" + config_json +
                         " vocab_size): the tokenizer and the "
                         "weights do not belong together");
    plan_.prompt_ids.push_back(std::move(ids));
  }
  // Stimulation: checked against the model's sites before anything is written.
  stimulation_ = Stimulation::from_config(config_, *model_.model, plan_.prompt_ids, &saes_);
  if (!stimulation_.empty()) {
    // Token-text events with in: prompt are known before generation: positions may use them.
    for (size_t s = 0; s < plan_.prompt_ids.size(); ++s) {
      TrialResult t;
      int64_t pos = 0;
      for (int64_t id : plan_.prompt_ids[s]) t.tokens.push_back({pos++, id, tok.decode({id}, false), false});
      for (const auto& e : config_.events)
        if (!e.builtin && e.in == EventScope::kPrompt)
          if (auto ev = find_events({e}, t); ev.count(e.name)) stimulation_.prompt_events()[s][e.name] = ev[e.name];
    }
  }
  for (auto& t : expand_trials(config_)) {
    ++plan_.n_trials_experiment;
    if (t.index % options_.shard_count == options_.shard_index) plan_.trials.push_back(t);
  }
  int64_t width = 0;
  for (const auto& e : plan_.electrodes) width += e.width();
  for (const auto& t : plan_.trials) plan_.max_rows += int64_t(plan_.prompt_ids[size_t(t.stimulus)].size()) + max_new;
  plan_.max_bytes = plan_.max_rows * width * (config_.recording.dtype == "float16" ? 2 : 4);
  plan_.path = options_.out.empty() ? config_.recording.path : options_.out;
  // Each shard writes its own file: NAME.shard-I-of-N.h5 beside recording.path (or --out),
  // so that one --out serves every task of an array.
  if (options_.shard_count > 1) plan_.path = shard_path(plan_.path, options_.shard_index, options_.shard_count);
}

RecordingHeader Runner::header() const {
  RecordingHeader h;
  h.attrs["config"] = config_.resolved_yaml;
  h.attrs["config_hash"] = config_.config_hash;
  h.attrs["config_file"] = config_.source.file;
  h.attrs["name"] = config_.name;
  h.attrs["model"] = model_.name;
  h.attrs["model_path"] = fs::absolute(model_.dir).lexically_normal().string();
  h.attrs["revision"] = model_.revision;
  h.attrs["architecture"] = model_.model->type();
  h.attrs["dtype"] = dtype_name(model_.dtype);
  h.attrs["device"] = model_.device.str();
  h.attrs["created"] = iso8601_now();
  h.int_attrs["seed"] = int64_t(config_.seed);
  for (auto& [k, v] : provenance_attributes(provenance_)) h.attrs[k] = v;
  if (options_.shard_count > 1) {  // only shard files carry these (rig merge reads them)
    h.int_attrs["shard_index"] = options_.shard_index;
    h.int_attrs["shard_count"] = options_.shard_count;
    h.int_attrs["n_trials_experiment"] = plan_.n_trials_experiment;
  }
  if (config_.sweep_index >= 0) {
    h.int_attrs["sweep_index"] = config_.sweep_index;
    h.int_attrs["sweep_count"] = sweep_size(config_);
    h.attrs["sweep_variant"] = sweep_label(config_, config_.sweep_index);
  }
  // What each intervention does, with its vector's origin and norm: a resume with a changed
  // source recording is refused (the writer compares root attributes).
  if (!stimulation_.empty()) h.attrs["stimulation"] = stimulation_.describe();
  h.stimuli = config_.stimuli;
  h.electrodes = plan_.electrodes;
  for (const auto& e : config_.events) h.events.push_back(e.name);
  h.dtype = config_.recording.dtype;
  h.compression = config_.recording.compression;
  h.store = config_.recording.store;
  h.bins = config_.recording.bins;
  h.n_trials_planned = int64_t(plan_.trials.size());
  return h;
}

std::string Runner::describe() const {
  std::ostringstream os;
  std::map<std::string, int64_t> per_condition;
  for (const auto& t : plan_.trials) per_condition[t.condition]++;
  os << "experiment " << config_.name << " (config " << config_.source.file << ", hash " << config_.config_hash
     << ")\n";
  os << "model      " << model_.name << (model_.revision.empty() ? "" : " @ " + model_.revision) << "  ["
     << model_.model->type() << ", " << dtype_name(model_.dtype) << ", " << model_.device.str() << "]\n";
  if (config_.sweep_index >= 0)
    os << "variant    " << config_.sweep_index << " of " << sweep_size(config_) << ": "
       << sweep_label(config_, config_.sweep_index) << "\n";
  os << "trials     " << plan_.trials.size() << " (" << config_.stimuli.size() << " stimuli x "
     << config_.trials.repetitions << " repetitions";
  if (options_.shard_count > 1) os << ", shard " << options_.shard_index << "/" << options_.shard_count;
  os << "), batch size " << config_.trials.batch_size << ", " << config_.trials.generate.max_new_tokens
     << " new tokens each\n";
  for (const auto& [c, n] : per_condition) os << "  condition " << c << ": " << n << " trials\n";
  os << "electrodes " << plan_.electrodes.size() << "\n";
  int64_t width = 0;
  for (const auto& e : plan_.electrodes) {
    os << "  " << e.site << " " << side_name(e.side) << (e.alias.empty() ? "" : " (" + e.alias + ")") << "  "
       << e.module_type << "  ";
    if (!e.sae.empty()) os << e.width() - 1 << " SAE latents + |error| (" << e.sae << ")";
    else os << e.width() << " neurons";
    if (!e.neurons.empty()) os << " of " << e.site_width;
    os << "\n";
    width += e.width();
  }
  if (!stimulation_.empty()) {
    std::map<std::string, int64_t> per_label;
    for (const auto& t : plan_.trials) per_label[stimulation_.label(t.stimulus)]++;
    os << "stimulation " << stimulation_.interventions().size() << " interventions\n" << stimulation_.describe();
    for (const auto& [label, n] : per_label)
      os << "  " << n << " trials get " << (label.empty() ? "none" : label) << "\n";
  }
  os << "rows       at most " << plan_.max_rows << " (prompt + generated tokens), " << width << " values each\n";
  if (config_.recording.store == "statistics") {
    const BinSpec& b = config_.recording.bins;
    const double bytes =  // with the writer's checkpoint copy
        2 * statistics_bytes(int64_t(statistics_conditions(config_.stimuli).size()), b.n_bins(), width);
    os << "statistics " << b.n_bins() << " bins of " << b.bin << " rows, offsets -" << b.pre << ".." << b.post
       << " from " << b.event << " (no rows stored)\n";
    os << "writes     " << human_bytes(bytes) << " of statistics + the trials and tokens tables to " << plan_.path
       << "\n";
  } else {
    os << "writes     at most " << human_bytes(double(plan_.max_bytes)) << " (" << config_.recording.dtype << ") to "
       << plan_.path << "\n";
  }
  return os.str();
}

std::vector<TrialResult> Runner::run_batch(const std::vector<TrialSpec>& batch) {
  GenerateOptions o;
  static_cast<GenerateConfig&>(o) = config_.trials.generate;
  o.eos_id = model_.model->config().eos_token_id ? model_.model->config().eos_token_id : model_.tokenizer->eos_id();
  o.final_step = true;

  std::vector<std::vector<int64_t>> prompts;
  std::vector<uint64_t> seeds;
  for (const auto& t : batch) {
    prompts.push_back(plan_.prompt_ids[size_t(t.stimulus)]);
    seeds.push_back(t.seed);
  }
  Recorder recorder(*model_.model, plan_.electrodes, saes_);
  SiteHooks hooks(model_.model->n_sites());
  // Stimulation hooks first: the recorder then sees the stimulated values.
  std::unique_ptr<StimulationRun> stim;
  if (!stimulation_.empty()) {
    std::vector<StimTrial> st;
    for (size_t b = 0; b < batch.size(); ++b) st.push_back({batch[b].stimulus, batch[b].repetition, prompts[b]});
    stim = std::make_unique<StimulationRun>(stimulation_, *model_.model, std::move(st), plan_.prompt_ids, o,
                                            model_.device);
    stim->attach(hooks);
  }
  recorder.attach(hooks);
  const auto results = generate(*model_.model, prompts, o, seeds, &hooks, model_.device,
                                [&](const StepInfo& s) { recorder.on_step(s); });

  const Tokenizer& tok = *model_.tokenizer;
  std::vector<TrialResult> out;
  for (size_t b = 0; b < batch.size(); ++b) {
    const TrialSpec& spec = batch[b];
    TrialResult t;
    static_cast<TrialSpec&>(t) = spec;
    if (!stimulation_.empty()) t.stimulation = stimulation_.label(spec.stimulus);
    t.prompt = config_.stimuli[size_t(spec.stimulus)].prompt;
    t.n_prompt_tokens = int64_t(prompts[b].size());
    t.n_generated = int64_t(results[b].new_ids.size());
    if (!parse_finish_reason(results[b].finish_reason, &t.finish_reason))
      throw Error("generate: finish reason '" + results[b].finish_reason + "'; expected " + kFinishReasonList);
    t.response = tok.decode(results[b].new_ids, /*skip_special_tokens=*/true);
    int64_t pos = 0;
    for (int64_t id : prompts[b]) t.tokens.push_back({pos++, id, tok.decode({id}, false), false});
    for (int64_t id : results[b].new_ids) t.tokens.push_back({pos++, id, tok.decode({id}, false), true});
    t.events = find_events(config_.events, t);
    for (size_t e = 0; e < plan_.electrodes.size(); ++e) t.recordings.push_back(recorder.rows(e, int64_t(b)));
    out.push_back(std::move(t));
  }
  return out;
}

int64_t Runner::run(RecordingSink& sink) {
  const auto finished_list = sink.finished_trials();
  const std::set<int64_t> finished(finished_list.begin(), finished_list.end());
  std::vector<TrialSpec> pending;
  for (const auto& t : plan_.trials)
    if (!finished.count(t.index)) pending.push_back(t);
  if (!options_.quiet && !finished.empty())
    std::fprintf(stderr, "rig: resuming: %zu of %zu trials already recorded\n", finished.size(), plan_.trials.size());
  Progress progress(int64_t(plan_.trials.size()), options_.quiet, options_.log_every);
  progress.add(int64_t(plan_.trials.size() - pending.size()));
  // Progress counts trials once they are on disk (the sink's commit), not when computed.
  sink.set_on_committed([&](const std::vector<int64_t>& idx) { progress.add(int64_t(idx.size())); });
  const size_t bs = size_t(config_.trials.batch_size);
  int64_t ran = 0;
  for (size_t i = 0; i < pending.size() && !stopping(); i += bs) {
    const std::vector<TrialSpec> batch(pending.begin() + long(i),
                                       pending.begin() + long(std::min(pending.size(), i + bs)));
    auto results = run_batch(batch);
    ran += int64_t(results.size());
    int64_t tokens = 0;
    for (const auto& t : results) tokens += int64_t(t.tokens.size());
    progress.count_tokens(tokens);
    sink.append(std::move(results));
  }
  sink.close();
  return ran;
}

std::vector<fs::path> Runner::inputs() const {
  std::vector<fs::path> in{config_.source.file};
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(model_.dir, ec)) in.push_back(e.path());
  for (const auto& set : config_.stimulus_sets)
    if (!set.file.empty()) in.push_back(set.file);
  for (const auto& [dir, sae] : saes_) {
    in.push_back(fs::path(dir) / "cfg.json");
    in.push_back(fs::path(dir) / "sae_weights.safetensors");
  }
  // Files the stimulation section names (vectors, source recordings): any scalar that is one.
  std::vector<YAML::Node> todo{config_.stimulation};
  while (!todo.empty()) {
    const YAML::Node n = todo.back();
    todo.pop_back();
    if (n.IsScalar() && fs::is_regular_file(n.Scalar(), ec)) in.push_back(n.Scalar());
    if (n.IsSequence() || n.IsMap())
      for (const auto& c : n) todo.push_back(n.IsMap() ? c.second : c);
  }
  return in;
}

int64_t Runner::run_to_file() {
  const fs::path path(plan_.path);
  if (!(options_.resume && fs::exists(path))) check_output_path(path, options_.force, inputs());
  std::unique_ptr<RecordingWriter> writer;
  if (options_.resume && fs::exists(path)) writer = RecordingWriter::resume(path, header());
  else writer = RecordingWriter::create(path, header(), options_.force);
  const int64_t ran = run(*writer);
  if (stopping()) {
    throw Error("interrupted: " + std::to_string(writer->finished_trials().size()) + " of " +
                    std::to_string(plan_.trials.size()) + " trials are in " + path.string() +
                    "; `rig run ... --resume` completes the recording",
                130);
  }
  if (!options_.quiet)
    std::fprintf(stderr, "rig: wrote %lld trials to %s\n", (long long)writer->finished_trials().size(), path.c_str());
  return ran;
}

}  // namespace rig
