#include "support/test_model.h"

#include <algorithm>
#include <stdexcept>

namespace packinfer::test {

TestModel::TestModel(const std::string& path, int threads, int64_t kv_tokens, int32_t block_size)
    : model_(Model::load(path)), pool_(std::make_unique<ThreadPool>(threads)) {
  tf_ = std::make_unique<Transformer>(model_->config(), model_->weights(), *pool_);
  kv_ = std::make_unique<KvCache>(model_->config().kv_shape(),
                                  static_cast<int32_t>(KvCache::blocks_for(kv_tokens, block_size)),
                                  block_size);
  runner_ = std::make_unique<ModelRunner>(*tf_, *kv_);
}

PlannedSequence TestModel::plan(SequenceKv& seq, std::span<const int32_t> tokens,
                                std::vector<int32_t> logit_rows, uint64_t id, int64_t pads) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (!kv_->reserve(seq, seq.n_tokens + n + pads)) {
    throw std::runtime_error("test KV cache too small");
  }
  PlannedSequence ps;
  ps.request_id = id;
  ps.tokens.assign(tokens.begin(), tokens.end());
  ps.pos0 = seq.n_tokens;
  ps.blocks = seq.blocks;
  ps.logit_rows = std::move(logit_rows);
  return ps;
}

std::vector<std::vector<float>> TestModel::run(const StepPlan& plan) {
  runner_->run(plan, out_);
  std::vector<std::vector<float>> rows(static_cast<size_t>(plan.n_logit_rows()));
  for (size_t r = 0; r < rows.size(); ++r) {
    auto row = out_.row(static_cast<int64_t>(r));
    rows[r].assign(row.begin(), row.end());
  }
  return rows;
}

std::vector<float> TestModel::packed_logits(const std::vector<std::vector<int32_t>>& prompts) {
  std::vector<SequenceKv> seqs(prompts.size());
  StepPlan plan;
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::vector<int32_t> rows(prompts[i].size());
    for (size_t r = 0; r < rows.size(); ++r) rows[r] = static_cast<int32_t>(r);
    plan.sequences.push_back(this->plan(seqs[i], prompts[i], rows, i));
  }
  runner_->run(plan, out_);
  for (auto& s : seqs) kv_->release(s);
  return out_.logits;
}

void TestModel::prefill(SequenceKv& seq, std::span<const int32_t> ids, int64_t chunk,
                        const std::function<void(int64_t, std::span<const float>)>& fn) {
  const int64_t base = seq.n_tokens;
  for (int64_t s = 0; s < static_cast<int64_t>(ids.size()); s += chunk) {
    const int64_t n = std::min<int64_t>(chunk, static_cast<int64_t>(ids.size()) - s);
    std::vector<int32_t> rows(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) rows[static_cast<size_t>(i)] = static_cast<int32_t>(i);
    StepPlan plan;
    plan.sequences.push_back(
        this->plan(seq, ids.subspan(static_cast<size_t>(s), static_cast<size_t>(n)), rows));
    runner_->run(plan, out_);
    seq.n_tokens += n;
    for (int64_t r = 0; r < n; ++r) fn(base + s + r, out_.row(r));
  }
}

std::vector<std::vector<float>> TestModel::all_logits(std::span<const int32_t> ids, int64_t chunk) {
  std::vector<std::vector<float>> out(ids.size());
  SequenceKv seq;
  prefill(seq, ids, chunk, [&](int64_t pos, std::span<const float> l) {
    out[static_cast<size_t>(pos)].assign(l.begin(), l.end());
  });
  kv_->release(seq);
  return out;
}

std::vector<float> TestModel::step(SequenceKv& seq, int32_t token) {
  StepPlan plan;
  plan.sequences.push_back(this->plan(seq, std::span<const int32_t>(&token, 1), {0}));
  runner_->run(plan, out_);
  seq.n_tokens += 1;
  auto row = out_.row(0);
  return std::vector<float>(row.begin(), row.end());
}

int32_t argmax(std::span<const float> v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace packinfer::test
