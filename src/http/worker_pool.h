#pragma once
// A fixed number of threads running the handlers that may take long (completions, tokenize), so
// the I/O thread never blocks on them. Threads are spent on requests being handled only: a
// connection that is idle or still sending costs none.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace packinfer::api {

class WorkerPool {
 public:
  explicit WorkerPool(size_t threads);
  ~WorkerPool();  // stop()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues a task; false once stop() began (the task is not run).
  bool submit(std::function<void()> task);
  // Runs what is queued, then joins the threads. Idempotent.
  void stop();

 private:
  void work();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace packinfer::api
