#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "util/thread_pool.h"

namespace packinfer {

TEST(ThreadPool, RunsEveryThreadOnce) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> hits(3);
  for (int rep = 0; rep < 1000; ++rep) pool.run([&](int i, int n) { hits[i]++; EXPECT_EQ(n, 3); });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1000);
}

TEST(ThreadPool, ParallelForCoversRangeExactlyOnce) {
  ThreadPool pool(2);
  for (int64_t n : {0, 1, 7, 1000, 12345}) {
    std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
    pool.parallel_for(n, 3, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) seen[i]++;
    });
    for (auto& s : seen) EXPECT_EQ(s.load(), 1);
  }
}

}  // namespace packinfer
