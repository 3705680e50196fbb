// BatchQueue: the one bounded queue between the trial loop and the file (or the writer process).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "core/error.h"
#include "recording/batch_queue.h"

using rig::BatchQueue;
using rig::TrialResult;

namespace {

std::vector<TrialResult> batch_of(std::vector<int64_t> indices) {
  std::vector<TrialResult> b;
  for (int64_t i : indices) {
    TrialResult t;
    t.index = i;
    b.push_back(t);
  }
  return b;
}

// Polls `done` for up to 20 s: long enough for a loaded machine, bounded so a bug fails.
template <class F>
bool eventually(F done) {
  for (int i = 0; i < 2000 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return done();
}

}  // namespace

TEST_CASE("batch queue: batches in order, and push waits while max_batches wait", "[recording]") {
  BatchQueue q(2, "q.h5");
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<bool> entered{false};
  std::vector<int64_t> seen;
  q.start([&](std::vector<TrialResult>& b) {
    entered = true;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
    seen.push_back(b[0].index);
  });
  std::atomic<int> pushed{0};
  std::thread producer([&] {
    for (int64_t i = 0; i < 5; ++i) {
      q.push(batch_of({i}));
      ++pushed;
    }
  });
  REQUIRE(eventually([&] { return entered && pushed == 3; }));  // one being consumed, two queued
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(pushed == 3);  // the fourth waits for room
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  producer.join();
  REQUIRE(q.finish() == nullptr);
  CHECK(seen == std::vector<int64_t>{0, 1, 2, 3, 4});
}

TEST_CASE("batch queue: a trial pushed twice, or already stored, is refused", "[recording]") {
  BatchQueue q(4, "q.h5");
  q.accept({7});
  q.start([](std::vector<TrialResult>&) {});
  q.push(batch_of({1, 2}));
  CHECK_THROWS_WITH(q.push(batch_of({2})), Catch::Matchers::Contains("trial 2: already recorded in q.h5"));
  CHECK_THROWS_WITH(q.push(batch_of({7})), Catch::Matchers::Contains("trial 7: already recorded"));
  CHECK_THROWS_WITH(q.push(batch_of({3, 3})), Catch::Matchers::Contains("trial 3: already recorded"));
  q.push(batch_of({3}));  // a refused batch queued nothing
  REQUIRE(q.finish() == nullptr);
  CHECK_THROWS_WITH(q.push(batch_of({4})), Catch::Matchers::Contains("after close"));
}

TEST_CASE("batch queue: the consumer's error drops what is queued and surfaces in push and finish", "[recording]") {
  BatchQueue q(8, "q.h5");
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> consumed{0};
  q.start([&](std::vector<TrialResult>& b) {
    ++consumed;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
    if (b[0].index == 0) throw rig::Error("disk full");
  });
  for (int64_t i = 0; i < 4; ++i) q.push(batch_of({i}));
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  REQUIRE(eventually([&] { return q.error() != nullptr; }));
  CHECK_THROWS_WITH(q.push(batch_of({9})), "disk full");
  CHECK_THROWS_WITH(std::rethrow_exception(q.finish()), "disk full");
  CHECK(consumed == 1);  // batches 1..3 were dropped, not written after the failure
}

TEST_CASE("batch queue: an error reported from outside wins over later ones and wakes a waiting push", "[recording]") {
  BatchQueue q(1, "q.h5");
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  q.start([&](std::vector<TrialResult>&) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
  });
  q.push(batch_of({0}));
  q.push(batch_of({1}));
  std::atomic<bool> threw{false};
  std::thread producer([&] {
    try {
      q.push(batch_of({2}));  // waits: one consumed, one queued
    } catch (const rig::Error&) {
      threw = true;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  q.fail(std::make_exception_ptr(rig::Error("the writer process ended unexpectedly")));
  q.fail(std::make_exception_ptr(rig::Error("later")));
  producer.join();
  CHECK(threw);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  CHECK_THROWS_WITH(std::rethrow_exception(q.finish()), "the writer process ended unexpectedly");
}
