// Catch2's main, plus two rules for CTest, which runs one TEST_CASE per process
// (catch_discover_tests):
// - a run that passed but skipped work for lack of data (RIG_NOTE_SKIP, tests/shared.h)
//   exits 77, which CTest reports as skipped, never passed;
// - a run whose filter matched no test case fails (Catch would pass it: a renamed case, or
//   a name CTest split on ';', would otherwise pass without running).
#include <cstdio>
#include <cstring>

#ifdef RIG_CATCH3
#include <catch2/catch_session.hpp>
#include <catch2/reporters/catch_reporter_event_listener.hpp>
#include <catch2/reporters/catch_reporter_registrars.hpp>
using ListenerBase = Catch::EventListenerBase;
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
using ListenerBase = Catch::TestEventListenerBase;
#endif

#include "shared.h"

namespace {
int cases_run = 0;
struct CountCases : ListenerBase {
  using ListenerBase::ListenerBase;
  void testCaseStarting(Catch::TestCaseInfo const& info) override {
    ListenerBase::testCaseStarting(info);
    ++cases_run;
  }
};
}  // namespace
CATCH_REGISTER_LISTENER(CountCases)

int main(int argc, char* argv[]) {
  bool listing = false;  // --list-*, --help: nothing is meant to run
  for (int i = 1; i < argc; ++i)
    listing = listing || std::strncmp(argv[i], "--list", 6) == 0 || std::strcmp(argv[i], "--help") == 0 ||
              std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "-?") == 0;
  const int rc = Catch::Session().run(argc, argv);
  if (rc != 0 || listing) return rc;
  if (cases_run == 0) {
    std::fprintf(stderr, "no test case matched: nothing ran\n");
    return 1;
  }
  return rig::test::skip_count() > 0 ? 77 : 0;
}
