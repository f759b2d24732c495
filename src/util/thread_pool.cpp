#include "util/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#define PACKINFER_PAUSE() _mm_pause()
#else
#define PACKINFER_PAUSE() ((void)0)
#endif

namespace packinfer {
namespace {
// About 50-100 us of spinning before an idle worker goes to sleep.
constexpr int kSpinIterations = 20000;
constexpr uint64_t kClosed = uint64_t{1} << 15;
constexpr uint64_t kCountMask = kClosed - 1;
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::clamp(n_threads, 1, 1024)) {
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  wake_.fetch_add(1, std::memory_order_release);
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::claim_and_run() {
  for (;;) {
    int64_t begin = next_.fetch_add(chunk_, std::memory_order_relaxed);
    if (begin >= n_) return;
    (*fn_)(begin, std::min(n_, begin + chunk_));
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (n_threads_ == 1 || n <= grain) {
    fn(0, n);
    return;
  }
  // Chunks of about n / (8 * threads), never below grain: enough pieces to balance, few enough
  // that the shared counter is not contended.
  const uint64_t job = ++job_counter_;
  fn_ = &fn;
  n_ = n;
  chunk_ = std::max(grain, n / (8 * static_cast<int64_t>(n_threads_)));
  next_.store(0, std::memory_order_relaxed);
  finished_.store(0, std::memory_order_relaxed);
  state_.store(job << 16, std::memory_order_release);
  wake_.fetch_add(1, std::memory_order_release);
  wake_.notify_all();

  claim_and_run();

  // Every chunk is claimed: close registration, then wait only for workers that registered.
  uint64_t s = state_.load(std::memory_order_acquire);
  while (!state_.compare_exchange_weak(s, s | kClosed, std::memory_order_acq_rel)) {
  }
  const int64_t registered = static_cast<int64_t>(s & kCountMask);
  int spins = 0;
  while (finished_.load(std::memory_order_acquire) != registered) {
    if (++spins < 2000) {
      PACKINFER_PAUSE();
    } else {
      std::this_thread::yield();
    }
  }
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    uint64_t now;
    while ((now = wake_.load(std::memory_order_acquire)) == seen) {
      if (++spins < kSpinIterations) {
        PACKINFER_PAUSE();
      } else {
        wake_.wait(seen, std::memory_order_acquire);
      }
    }
    seen = now;
    if (stop_.load()) return;
    // Register for the current call unless the caller has already closed it (then every chunk
    // is taken and the caller is not waiting for us).
    uint64_t s = state_.load(std::memory_order_acquire);
    bool registered = false;
    while ((s & kClosed) == 0 && s != 0) {
      if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) {
        registered = true;
        break;
      }
    }
    if (!registered) continue;
    claim_and_run();
    finished_.fetch_add(1, std::memory_order_release);
  }
}

}  // namespace packinfer
