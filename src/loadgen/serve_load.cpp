#include "loadgen/serve_load.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace packinfer::loadgen {
namespace {

using Clock = std::chrono::steady_clock;

// Releases `after_decoding` requests once every other request has produced two token chunks
// (so it is past its prefill and decoding) or has ended.
class DecodingGate {
 public:
  explicit DecodingGate(int64_t waiting_for) : remaining_(waiting_for) {}
  void arrived() {
    std::lock_guard lock(mu_);
    if (--remaining_ <= 0) cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return remaining_ <= 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t remaining_;
};

}  // namespace

LoadResult run_load(const StreamTarget& target, const std::vector<PlannedRequest>& plan,
                    const LoadOptions& options) {
  LoadResult out;
  out.requests.resize(plan.size());
  const auto n = static_cast<int64_t>(plan.size());
  int64_t timed = std::count_if(plan.begin(), plan.end(),
                                [](const PlannedRequest& r) { return !r.after_decoding; });
  DecodingGate gate(timed);
  // Workers take requests in plan order; gated requests must not hold a worker that a timed
  // request needs, so they get workers of their own.
  const int64_t workers =
      std::min<int64_t>(n, std::max<int64_t>(options.max_concurrency, 1) + (n - timed));
  std::atomic<int64_t> next{0}, done{0};
  const Clock::time_point t0 = Clock::now();
  auto since_start = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };

  auto worker = [&] {
    for (int64_t i; (i = next.fetch_add(1)) < n;) {
      const PlannedRequest& p = plan[static_cast<size_t>(i)];
      RequestOutcome& o = out.requests[static_cast<size_t>(i)];
      if (p.after_decoding) {
        gate.wait();
      } else {
        std::this_thread::sleep_until(t0 + std::chrono::duration_cast<Clock::duration>(
                                               std::chrono::duration<double>(p.send_at_s)));
      }
      o.sent_at_s = since_start();
      bool counted = false;
      auto on_token = [&](size_t chunks) {
        if (!p.after_decoding && !counted && chunks >= 2) {
          counted = true;
          gate.arrived();
        }
      };
      o.result = stream_request(target, p.path, p.body, on_token);
      if (!p.after_decoding && !counted) gate.arrived();  // ended early: do not block the gate
      int64_t d = done.fetch_add(1) + 1;
      if (options.on_finished) options.on_finished(d);
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(workers));
  for (int64_t w = 0; w < workers; ++w) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  out.wall_s = since_start();
  return out;
}

}  // namespace packinfer::loadgen
