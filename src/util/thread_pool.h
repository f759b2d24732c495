#pragma once
// A persistent pool of worker threads. The calling thread always takes part as worker 0, so a
// pool of n threads starts n-1 OS threads once and reuses them for every kernel call: a decode
// step makes a few hundred parallel calls, and waking threads per call would cost more than the
// work. Idle workers spin briefly (a call usually follows within microseconds), then sleep on an
// atomic wait so an idle engine uses no CPU.
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace packinfer {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(thread_index, n_threads) on every thread of the pool (the caller is index 0) and
  // returns when all have finished. Not reentrant: fn must not call run() on the same pool.
  void run(const std::function<void(int, int)>& fn);

  // Splits [0, n) into contiguous ranges of at least `grain` items and calls fn(begin, end) for
  // each; ranges are handed out dynamically so uneven work balances across threads.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  // A pool sized to the machine (hardware_concurrency), shared by code that was not given one.
  static ThreadPool& global();

 private:
  void worker_loop(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace packinfer
