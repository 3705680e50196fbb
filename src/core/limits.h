#pragma once
// Explicit limits on what a file or a config may ask for. Every size that decides an
// allocation or a loop is checked against one of these before the allocation or loop, and
// the message names the limit (docs/HARDENING.md lists them). They are far above what real
// models and experiments use; raising one is a one-line change here.
#include <cstdint>

namespace rig::limits {

// JSON (config.json, tokenizer.json, safetensors headers, .jsonl stimuli, rig tokenize input):
// deeper nesting is refused before parsing. Real files nest < 10 levels.
inline constexpr int kJsonDepth = 512;

// PCRE2 limits for every user- or file-supplied regex (electrodes, events, tokenizer Split
// patterns): backtracking steps per match, and backtracking memory per match (KiB).
inline constexpr uint32_t kRegexMatchLimit = 10'000'000;
inline constexpr uint32_t kRegexHeapLimitKiB = 64 * 1024;
// Longest regex pattern accepted (bytes).
inline constexpr size_t kRegexPatternBytes = 64 * 1024;

// config.json hyper-parameters (the largest public models: ~130 layers, D ~ 16k-25k,
// V ~ 256k, F ~ 100k, 1M positions).
inline constexpr int64_t kMaxLayers = 4096;
inline constexpr int64_t kMaxHiddenSize = 1 << 18;        // D
inline constexpr int64_t kMaxHeads = 1 << 14;             // H, Hkv
inline constexpr int64_t kMaxIntermediateSize = 1 << 20;  // F
inline constexpr int64_t kMaxVocab = 1 << 22;             // V and every token id + 1
inline constexpr int64_t kMaxPositions = 1 << 24;

// Experiment configs.
inline constexpr int64_t kMaxStimuli = 1'000'000;     // rows of the stimulus table
inline constexpr int64_t kMaxTrials = 10'000'000;     // stimuli x repetitions (~1 day at 100/s)
inline constexpr int64_t kMaxSweepVariants = 10'000;  // product of the sweep axes
inline constexpr int64_t kMaxPromptBytes = 1 << 20;   // one prompt, before tokenizing

// Recordings read by analyze / plot / merge.
inline constexpr int64_t kMaxRecordingTrials = kMaxTrials;

}  // namespace rig::limits
