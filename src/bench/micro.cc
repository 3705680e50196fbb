// The machine's own limits, measured by the same run that measures rig: the float32 GEMM
// rate (what a forward pass over a batch can reach) and the memory bandwidth (what bounds
// batch-1 generation, which must stream every weight once per token).
#include <ATen/detail/CUDAHooksInterface.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "bench/internal.h"

namespace rig::bench {

void sync(const at::Device& device) {
  // Through ATen's CUDA hooks, so that a CPU-only build needs no CUDA headers or guards.
  if (device.is_cuda()) at::detail::getCUDAHooks().deviceSynchronize(device.has_index() ? device.index() : 0);
}

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

namespace {

// Best wall time of fn over reps calls (after one untimed call), device work included.
template <class F>
double best_time(int reps, const at::Device& device, F&& fn) {
  fn();
  sync(device);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_s();
    fn();
    sync(device);
    best = std::min(best, now_s() - t0);
  }
  return best;
}

}  // namespace

GemmResult measure_gemm(const std::vector<int64_t>& sizes, int reps, const at::Device& device) {
  at::InferenceMode guard;
  GemmResult r;
  for (int64_t n : sizes) {
    const auto opts = at::TensorOptions().dtype(at::kFloat).device(device);
    const at::Tensor a = at::randn({n, n}, opts), b = at::randn({n, n}, opts);
    at::Tensor c = at::empty({n, n}, opts);
    const double t = best_time(reps, device, [&] { at::matmul_out(c, a, b); });
    const double gflops = 2.0 * double(n) * double(n) * double(n) / t / 1e9;
    r.by_size[std::to_string(n)] = gflops;
    r.gflops = std::max(r.gflops, gflops);
  }
  return r;
}

double measure_linear(int64_t m, int64_t k, int64_t n, int reps, const at::Device& device) {
  at::InferenceMode guard;
  const auto opts = at::TensorOptions().dtype(at::kFloat).device(device);
  const at::Tensor x = at::randn({m, k}, opts), w = at::randn({n, k}, opts), bias = at::randn({n}, opts);
  const double t = best_time(reps, device, [&] { (void)at::linear(x, w, bias); });
  return 2.0 * double(m) * double(k) * double(n) / t / 1e9;
}

double BandwidthResult::best_gbs() const { return std::max({read_gbs, copy_gbs, triad_gbs}); }

BandwidthResult measure_bandwidth(int64_t bytes, int reps, const at::Device& device) {
  at::InferenceMode guard;
  const int64_t n = bytes / 4;
  const auto opts = at::TensorOptions().dtype(at::kFloat).device(device);
  const at::Tensor x = at::rand({n}, opts), y = at::rand({n}, opts);
  at::Tensor z = at::empty({n}, opts), s = at::empty({}, opts);
  BandwidthResult r;
  const double b = double(n) * 4;
  r.read_gbs = b / best_time(reps, device, [&] { at::sum_out(s, x, at::IntArrayRef{0}); }) / 1e9;
  r.copy_gbs = 2 * b / best_time(reps, device, [&] { z.copy_(x); }) / 1e9;
  r.triad_gbs = 3 * b / best_time(reps, device, [&] { at::add_out(z, x, y, 2.0); }) / 1e9;
  return r;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  return "unknown";
}

double load_average_1m() {
  std::ifstream in("/proc/loadavg");
  double l = -1;
  in >> l;
  return l;
}

}  // namespace rig::bench
