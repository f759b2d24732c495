#pragma once
// The engine's internals, shared by the parts of the library that drive the model directly
// (Engine itself and the online ServingEngine). Not part of the public API.
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "kv/kv_cache.h"
#include "model/model.h"
#include "model/transformer.h"
#include "packinfer/engine.h"
#include "tokenizer/chat_template.h"
#include "util/thread_pool.h"

namespace packinfer {

struct Engine::Impl {
  EngineOptions options;
  std::unique_ptr<Model> model;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<Transformer> transformer;
  std::unique_ptr<KvCache> kv;
  ChatTemplate chat_template = ChatTemplate::by_name("chatml");
  ModelInfo info;
  std::vector<float> logits;

  // Runs `ids` through the model for `seq` in chunks of max_batch_tokens; calls on_logits for
  // each wanted row (all rows when `all`, else only the last one).
  void prefill(SequenceKv& seq, std::span<const int32_t> ids, bool all,
               const std::function<void(int64_t, std::span<const float>)>& on_logits);
};

}  // namespace packinfer
