#include "grammar/mask_worker.h"

namespace packinfer::grammar {

void MaskJob::run() {
  fn_();
  {
    std::lock_guard lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
}

void MaskJob::wait() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return done_; });
}

bool MaskJob::done() const {
  std::lock_guard lock(mu_);
  return done_;
}

MaskWorker& MaskWorker::shared() {
  static MaskWorker worker;
  return worker;
}

MaskWorker::MaskWorker() : thread_([this] { loop(); }) {}

MaskWorker::~MaskWorker() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::shared_ptr<MaskJob> MaskWorker::submit(std::function<void()> fn) {
  auto job = std::make_shared<MaskJob>(std::move(fn));
  {
    std::lock_guard lock(mu_);
    queue_.push_back(job);
  }
  cv_.notify_one();
  return job;
}

void MaskWorker::loop() {
  for (;;) {
    std::shared_ptr<MaskJob> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      // Jobs still queued at shutdown run anyway: their owners wait for them.
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job->run();
  }
}

}  // namespace packinfer::grammar
