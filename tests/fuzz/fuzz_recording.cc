// libFuzzer harness: the HDF5 recording reader that rig analyze, plot and merge use.
//
// Structure-aware: the input decides a recording's structure and content (which columns and
// datasets exist, their ranks, lengths, element types and values, the root and dataset
// attributes), the harness writes it with the HDF5 library to a file, then reads it as analyze
// and merge do. Byte-level mutation of HDF5 files would mostly exercise libhdf5's own parser,
// which rig cannot fix; what rig must survive is any well-formed file with hostile content.
#include <fuzzer/FuzzedDataProvider.h>
#include <hdf5.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "analysis/analysis_config.h"
#include "analysis/analyze.h"
#include "core/error.h"
#include "io/hdf5.h"
#include "recording/layout.h"
#include "recording/merge.h"
#include "recording/reader.h"

namespace {

using rig::h5::Dtype;
using rig::h5::Id;

int64_t small_int(FuzzedDataProvider& p) {
  switch (p.ConsumeIntegralInRange<int>(0, 15)) {
    case 0: return p.ConsumeIntegral<int64_t>();
    case 1: return -1;
    default: return p.ConsumeIntegralInRange<int64_t>(0, 40);
  }
}

// A dataset of `rank` dimensions (sizes up to 48 rows, 6 columns) named `name` in loc; rank-1
// string datasets hold strings, numeric ones fuzzed values.
void dataset(FuzzedDataProvider& p, hid_t loc, const std::string& name, Dtype type, int rank) {
  hsize_t dims[3] = {hsize_t(p.ConsumeIntegralInRange<int>(0, 48)), hsize_t(p.ConsumeIntegralInRange<int>(0, 6)),
                     hsize_t(p.ConsumeIntegralInRange<int>(1, 3))};
  if (rank == 1 && type == Dtype::kString) {
    Id c = rig::h5::create_column(loc, name, type);
    std::vector<std::string> v(dims[0]);
    for (auto& s : v) s = p.ConsumeRandomLengthString(12);
    rig::h5::append(c, v);
    return;
  }
  if (type == Dtype::kString) type = Dtype::kInt64;  // other ranks: numbers where strings belong
  Id space(H5Screate_simple(rank, dims, nullptr));
  Id ds(H5Dcreate2(loc, name.c_str(), rig::h5::file_type(type), space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  hsize_t n = 1;
  for (int i = 0; i < rank; ++i) n *= dims[i];
  if (type == Dtype::kFloat32 || type == Dtype::kFloat16) {
    std::vector<float> v(n);
    for (auto& x : v)
      x = p.ConsumeBool() ? p.ConsumeFloatingPoint<float>() : float(p.ConsumeIntegralInRange<int>(-3, 3));
    H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  } else {
    std::vector<int64_t> v(n);
    for (auto& x : v) x = small_int(p);
    H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  }
}

int rank_of(FuzzedDataProvider& p, int usual) {
  const int r = p.ConsumeIntegralInRange<int>(0, 9);
  return r < 7 ? usual : r - 7 + (r == 9 ? 1 : 0);  // mostly right; else 0, 1 or 3
}

void build(FuzzedDataProvider& p, const std::string& path) {
  Id file = rig::h5::create_file(path, /*truncate=*/true);
  Id root = rig::h5::open_group(file, "/");
  if (p.ConsumeIntegralInRange<int>(0, 15))
    rig::h5::set_attr(root, rig::layout::kAttrFormat, std::string(rig::layout::kFormat));
  rig::h5::set_attr(root, rig::layout::kAttrFormatVersion,
                    p.ConsumeIntegralInRange<int>(0, 15) ? rig::layout::kFormatVersion : small_int(p));
  rig::h5::set_attr(root, rig::layout::kAttrTrialsCommitted, small_int(p) % 12);
  rig::h5::set_attr(root, rig::layout::kAttrTrialsPlanned, small_int(p));
  if (p.ConsumeBool()) rig::h5::set_attr(root, "dtype", std::string(p.ConsumeBool() ? "float32" : "float16"));
  {
    Id g = rig::h5::create_group(root, "trials");
    for (const auto& c : rig::layout::kTrialColumns)
      if (p.ConsumeIntegralInRange<int>(0, 30)) dataset(p, g, c.name, c.type, rank_of(p, 1));
  }
  {
    Id g = rig::h5::create_group(root, "tokens");
    for (const auto& c : rig::layout::kTokenColumns)
      if (p.ConsumeIntegralInRange<int>(0, 30)) dataset(p, g, c.name, c.type, rank_of(p, 1));
  }
  {
    Id g = rig::h5::create_group(root, "stimuli");
    for (const char* c : {"index", "condition", "prompt"})
      if (p.ConsumeIntegralInRange<int>(0, 30))
        dataset(p, g, c, std::string(c) == "index" ? Dtype::kInt64 : Dtype::kString, rank_of(p, 1));
  }
  {
    Id g = rig::h5::create_group(root, "events");
    for (int e = p.ConsumeIntegralInRange<int>(0, 2); e > 0; --e) {
      Id ev = rig::h5::create_group(g, e == 1 ? "response_onset" : "sure");
      for (const auto& c : rig::layout::kEventColumns) dataset(p, ev, c.name, c.type, rank_of(p, 1));
    }
  }
  if (p.ConsumeIntegralInRange<int>(0, 20)) {
    Id g = rig::h5::create_group(root, "recordings");
    const char* sites[] = {"gpt_neox.layers.0.mlp.act", "gpt_neox.layers.1", "x"};
    for (int s = p.ConsumeIntegralInRange<int>(0, 3); s > 0; --s) {
      Id sg = rig::h5::open_or_create_group(g, sites[s - 1]);
      const char* side = p.ConsumeIntegralInRange<int>(0, 10) ? "output" : p.ConsumeBool() ? "input" : "middle";
      if (rig::h5::exists(sg, side)) continue;
      dataset(p, sg, side,
              p.ConsumeBool()   ? Dtype::kFloat32
              : p.ConsumeBool() ? Dtype::kFloat16
                                : Dtype::kInt64,
              rank_of(p, 2));
      Id ds(H5Dopen2(sg, side, H5P_DEFAULT));
      if (p.ConsumeBool()) {
        std::vector<int64_t> neurons(size_t(p.ConsumeIntegralInRange<int>(0, 7)));
        for (auto& n : neurons) n = small_int(p);
        rig::h5::set_attr(ds, "neurons", neurons);
      }
      if (p.ConsumeBool()) rig::h5::set_attr(ds, "site_width", small_int(p));
      if (p.ConsumeBool()) rig::h5::set_attr(ds, "index", small_int(p));
    }
  }
  root.reset();
  file.close();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    const std::string d =
        (std::filesystem::exists("/dev/shm") ? "/dev/shm/rig-fuzz-" : "/tmp/rig-fuzz-") + std::to_string(::getpid());
    std::filesystem::create_directories(d);
    return d;
  }();
  const std::string path = dir + "/in.h5", out = dir + "/merged.h5";
  FuzzedDataProvider p(data, size);
  try {
    build(p, path);
  } catch (const rig::Error&) {
    return 0;  // a structure HDF5 itself refuses to write
  }
  try {
    const rig::RecordingReader r(path);
    for (size_t i = 0; i < r.trials().size(); ++i) (void)r.trial(i);
    rig::analysis::AnalysisConfig cfg = rig::analysis::analysis_from_recording(r);
    cfg.permutations = 20;
    rig::analysis::check_against(cfg, r);
    (void)rig::analysis::analyze(r, cfg);
  } catch (const rig::Error&) {}
  try {
    rig::MergeOptions opt;
    opt.force = true;
    opt.virtual_datasets = true;  // the copy merge forks a writer process per call: too slow here
    rig::merge_recordings({path}, out, opt);
  } catch (const rig::Error&) {}
  return 0;
}
