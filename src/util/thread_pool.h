#pragma once
// A persistent pool of worker threads. The calling thread always takes part, so a pool of n
// threads starts n-1 OS threads once and reuses them for every kernel call: a decode step makes
// a few hundred parallel calls, and waking threads per call would cost more than the work.
//
// Work is handed out in chunks that threads claim dynamically, and a call never waits for a
// worker that has not started on it: a worker must register for a call before it may claim, and
// the caller closes registration once every chunk is claimed. So when another process holds a
// core, the caller simply does all the chunks itself instead of stalling for a time slice.
// Idle workers spin briefly (a call usually follows within microseconds), then sleep on an
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

  // Splits [0, n) into contiguous chunks of at least `grain` items and calls fn(begin, end) for
  // each, on any thread of the pool; returns when all are done. Not reentrant: fn must not call
  // parallel_for on the same pool.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop();
  void claim_and_run();

  int n_threads_;
  std::vector<std::thread> workers_;
  uint64_t job_counter_ = 0;  // touched by the caller only

  // The current call; written by the caller before it publishes `state_`.
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t chunk_ = 1;
  std::atomic<int64_t> next_{0};

  // (job << 16) | closed flag (bit 15) | registered workers (bits 0-14).
  std::atomic<uint64_t> state_{0};
  std::atomic<int64_t> finished_{0};    // registered workers done with the current call
  std::atomic<uint64_t> wake_{0};       // bumped per call to wake sleeping workers
  std::atomic<bool> stop_{false};
};

}  // namespace packinfer
