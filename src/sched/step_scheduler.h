#pragma once
// The online scheduler: continuous batching with chunked prefill (Sarathi-Serve). Each step()
// builds one token batch under the step budget:
//   1. one token for every decoding request, oldest first (decodes never wait behind prompts);
//   2. the next chunk of every request still prefilling, oldest first;
//   3. new requests in arrival order while budget, sequence slots and KV memory allow. A new
//      request first takes the longest cached prefix of its prompt (whole KV blocks); one that
//      shares an uncomputed block with a request being prefilled waits until that block is
//      computed and cached, so a shared prefix is computed once.
// The budget counts cost, not just tokens: a token attending to a long context costs more than
// one at the start (token_cost), so a chunk late in a long prompt is shorter and every step
// takes about the same time — what keeps the decodes' inter-token latency flat.
// KV blocks are taken as tokens are written. When a decode finds no free block, the newest
// running request is preempted: its blocks are released (full ones stay in the prefix cache)
// and it goes back to the front of the queue, to be recomputed. The oldest request therefore
// always progresses, and since the KV budget holds at least one full context, a request that
// fits the context never fails for lack of KV.
// With chunked_prefill off, a step is either prompts only (whole prompts, several forwards) or
// decodes only: the classic scheduler whose decode stalls chunking removes.
//
// Single-threaded: only the serving engine thread calls into it.
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "batch/token_batch.h"
#include "kv/kv_cache.h"
#include "model/model.h"
#include "model/transformer.h"
#include "packinfer/serving.h"
#include "sched/live_request.h"

namespace packinfer {

struct StepContext {
  const Model& model;
  Transformer& transformer;
  KvCache& kv;
  int64_t n_ctx = 0;
};

class StepScheduler {
 public:
  StepScheduler(const StepContext& ctx, const ServingOptions& options);
  ~StepScheduler();  // cancels whatever is left

  void enqueue(std::unique_ptr<LiveRequest> request);
  // Marks a request cancelled; it is finished (KV freed, on_done called) at the next step.
  void cancel(uint64_t id);
  void cancel_all();
  bool idle() const { return waiting_.empty() && running_.empty(); }
  int64_t n_waiting() const { return static_cast<int64_t>(waiting_.size()); }

  // Runs one step (at most one token batch in chunked mode). Finished requests get on_done.
  void step();

  // Counters and gauges; queued is the scheduler's own queue.
  ServingStats stats() const;

 private:
  // A run of one request's tokens in this step.
  struct Piece {
    LiveRequest* request;
    int64_t n_tokens;
    bool decode;
    bool wants_logits = false;  // set when the piece is placed in a forward
  };

  void finish_cancelled();
  void plan_decodes(std::vector<Piece>& pieces, double& budget);
  void plan_prefills(std::vector<Piece>& pieces, double& budget);
  void admit(std::vector<Piece>& pieces, double& budget);
  // Cost of computing n tokens after `cached` positions, in units of one token's layer matmuls
  // (chunked mode; otherwise just n).
  double token_cost(int64_t cached, int64_t n) const;
  // How many of `wanted` prompt tokens after `cached` fit in `budget` (at least 1 when `first`,
  // so a step always progresses).
  int64_t tokens_within(int64_t cached, int64_t wanted, double budget, bool first) const;
  bool shares_uncomputed_prefix(const LiveRequest& r) const;
  int64_t prefill_room(const LiveRequest& r) const;
  // Makes r's KV hold n positions, preempting newer requests (newest first) that are not in
  // this step's batch; returns false if r itself had to be preempted.
  bool reserve_or_preempt(LiveRequest& r, int64_t n, size_t index);
  void preempt(size_t running_index);
  void execute(const std::vector<Piece>& pieces, int64_t forward_limit);
  void run_forward();
  void complete(Piece piece, std::span<const float> logits);
  void accept(LiveRequest& r, std::span<const float> logits);
  void deliver(LiveRequest& r, TokenEvent event);
  void finish(LiveRequest& r, const std::string& error = {});
  void remove_finished();
  std::span<const int32_t> target_tokens(const LiveRequest& r) const;

  StepContext ctx_;
  ServingOptions options_;
  std::deque<std::unique_ptr<LiveRequest>> waiting_;   // arrival order; preempted ones in front
  std::vector<std::unique_ptr<LiveRequest>> running_;  // ascending id (arrival order)
  TokenBatch batch_;
  std::vector<Piece> batch_pieces_;  // pieces in batch_, in order (logit rows likewise)
  std::vector<float> logits_;
  ServingStats stats_;
};

}  // namespace packinfer
