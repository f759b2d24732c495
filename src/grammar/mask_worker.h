#pragma once
// A helper thread that computes token masks off the scheduler's thread, so the mask of a
// sequence's next step is computed while the next forward pass runs (overlap). One thread for the
// process, started on first use; jobs run in submission order.
//
// A job's owner must wait() for it before touching what the job touches (the job's completion
// is published under a mutex, so everything it wrote is visible after wait() returns), and
// before destroying it.
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace packinfer::grammar {

class MaskJob {
 public:
  explicit MaskJob(std::function<void()> fn) : fn_(std::move(fn)) {}
  void wait();
  bool done() const;

 private:
  friend class MaskWorker;
  void run();
  std::function<void()> fn_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

class MaskWorker {
 public:
  static MaskWorker& shared();
  ~MaskWorker();
  std::shared_ptr<MaskJob> submit(std::function<void()> fn);

 private:
  MaskWorker();
  void loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<MaskJob>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace packinfer::grammar
