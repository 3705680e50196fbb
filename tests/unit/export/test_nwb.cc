// The NWB export's own parts: the schema compiled into rig (data/nwb/spec) is complete and
// consistent, and a failed export leaves no file behind. The export itself is checked against
// pynwb and nwbinspector end to end (tests/e2e/test_nwb_export.py).
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "catch.h"
#include "core/error.h"
#include "export/nwb.h"
#include "export/nwb_schema.h"
#include "io/hdf5.h"

namespace fs = std::filesystem;
using namespace rig;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("rig-test-nwb-" + std::to_string(::getpid()) + "-" + std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("the cached NWB schema holds core and hdmf-common, each namespace with every source it lists") {
  std::set<std::string> have;
  for (const auto& s : nwb::cached_specs()) {
    have.insert(std::string(s.ns) + "/" + std::string(s.version) + "/" + std::string(s.source));
    INFO(s.ns << "/" << s.version << "/" << s.source);
    CHECK(nlohmann::json::accept(s.text));
  }
  std::set<std::string> namespaces;
  for (const auto& s : nwb::cached_specs()) {
    if (s.source != "namespace") continue;
    namespaces.insert(std::string(s.ns));
    const auto j = nlohmann::json::parse(s.text);
    REQUIRE(j.at("namespaces").size() == 1);
    const auto& ns = j.at("namespaces")[0];
    CHECK(ns.at("name") == std::string(s.ns));
    CHECK(ns.at("version") == std::string(s.version));  // the directory names the version it holds
    for (const auto& entry : ns.at("schema")) {
      if (entry.contains("source")) {
        INFO(entry.dump());
        const std::string source = entry.at("source");
        CHECK(have.count(std::string(s.ns) + "/" + std::string(s.version) + "/" + source));
      } else {
        CHECK(entry.at("namespace") == "hdmf-common");  // core's one dependency, cached too
      }
    }
  }
  CHECK(namespaces == std::set<std::string>{"core", "hdmf-common"});
}

TEST_CASE("rig export --nwb refuses a file that is not a recording and an existing output, leaving nothing") {
  TempDir d;
  const fs::path not_rec = d.path / "plain.h5", out = d.path / "out.nwb";
  h5::create_file(not_rec, true).close();
  CHECK_THROWS_AS(export_nwb(not_rec, out), DataError);
  CHECK(!fs::exists(out));
  CHECK(!fs::exists(out.string() + ".creating"));
  std::ofstream(out) << "mine";
  CHECK_THROWS_AS(export_nwb(not_rec, out), ConfigError);
  CHECK(fs::file_size(out) == 4);  // untouched
  CHECK_THROWS_WITH(export_nwb(out, out, {true}), Catch::Contains("is the recording itself"));
}
