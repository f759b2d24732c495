// Engine: the public API over model, KV cache, token batches and sampler for one sequence at a
// time. (Many sequences at once go through the scheduler.)
#include "packinfer/engine.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "batch/token_batch.h"
#include "engine/engine_impl.h"
#include "kv/kv_cache.h"
#include "model/model.h"
#include "model/transformer.h"
#include "packinfer/batch.h"
#include "sample/sampler.h"
#include "sched/batch_scheduler.h"
#include "sched/sequence.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"
#include "util/thread_pool.h"

namespace packinfer {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

constexpr int64_t kDefaultMaxContext = 8192;

}  // namespace

void Engine::Impl::prefill(SequenceKv& seq, std::span<const int32_t> ids, bool all,
                           const std::function<void(int64_t, std::span<const float>)>& on_logits) {
  const int64_t vocab = model->config().n_vocab;
  TokenBatch batch;
  for (int64_t start = 0; start < static_cast<int64_t>(ids.size());) {
    int64_t n =
        std::min<int64_t>(options.max_batch_tokens, static_cast<int64_t>(ids.size()) - start);
    bool last_chunk = start + n == static_cast<int64_t>(ids.size());
    if (!kv->reserve(seq, seq.n_tokens + n)) throw Error("KV cache is full");
    batch.clear();
    batch.add(&seq, ids.subspan(static_cast<size_t>(start), static_cast<size_t>(n)),
              all ? LogitsWanted::All : (last_chunk ? LogitsWanted::Last : LogitsWanted::None));
    transformer->forward(batch, *kv, logits);
    for (size_t r = 0; r < batch.logit_rows.size(); ++r) {
      on_logits(start + batch.logit_rows[r],
                std::span<const float>(logits.data() + r * vocab, static_cast<size_t>(vocab)));
    }
    start += n;
  }
}

Engine::Engine(const EngineOptions& options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.options = options;
  if (options.kv_block_size < 1 || options.kv_block_size > 1024) {
    throw InvalidArgument("kv block size must be in [1, 1024]");
  }
  if (options.max_batch_tokens < 1) throw InvalidArgument("max batch tokens must be positive");
  auto t0 = Clock::now();
  m.model = Model::load(options.model_path);
  const ModelConfig& c = m.model->config();
  int64_t n_ctx = options.n_ctx > 0 ? options.n_ctx : std::min(c.n_ctx_train, kDefaultMaxContext);
  if (n_ctx > (int64_t{1} << 22)) throw InvalidArgument("context size is too large");
  int32_t threads = options.n_threads > 0
                        ? options.n_threads
                        : static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
  m.options.n_ctx = n_ctx;
  m.pool = std::make_unique<ThreadPool>(threads);
  m.transformer = std::make_unique<Transformer>(c, m.model->weights(), *m.pool);
  m.transformer->set_mlp_chunk(options.max_batch_tokens);
  // KV budget: --kv-mem bytes, else room for 4 full contexts. The memory is only reserved
  // (demand paged), so an unused budget costs no RSS.
  const int64_t block_bytes = KvCache::block_bytes(c, options.kv_block_size);
  int64_t blocks = options.kv_blocks > 0 ? options.kv_blocks
                   : options.kv_mem_bytes > 0
                       ? options.kv_mem_bytes / block_bytes
                       : 4 * KvCache::blocks_for(n_ctx, options.kv_block_size);
  if (blocks < KvCache::blocks_for(n_ctx, options.kv_block_size)) {
    throw InvalidArgument("KV budget of " + std::to_string(blocks) + " blocks (" +
                          std::to_string(blocks * block_bytes >> 20) + " MiB) holds " +
                          std::to_string(blocks * options.kv_block_size) +
                          " positions, fewer than one context of " + std::to_string(n_ctx));
  }
  if (blocks > (int64_t{1} << 30)) throw InvalidArgument("KV memory budget is too large");
  m.kv = std::make_unique<KvCache>(c, static_cast<int32_t>(blocks), options.kv_block_size);
  m.chat_template = ChatTemplate::detect(m.model->chat_template());
  ModelInfo& i = m.info;
  i.path = options.model_path;
  i.name = c.name;
  i.arch = c.arch;
  i.n_vocab = c.n_vocab;
  i.n_layer = c.n_layer;
  i.n_embd = c.n_embd;
  i.n_head = c.n_head;
  i.n_head_kv = c.n_head_kv;
  i.n_ff = c.n_ff;
  i.n_ctx = n_ctx;
  i.n_ctx_train = c.n_ctx_train;
  i.n_params = m.model->n_params();
  i.weight_bytes = m.model->weight_bytes();
  i.chat_template_name = std::string(m.chat_template.name());
  i.load_seconds = seconds_since(t0);
}

Engine::~Engine() = default;

const ModelInfo& Engine::model_info() const { return impl_->info; }

bool Engine::is_end_of_generation(int32_t id) const { return impl_->model->tokenizer().is_eog(id); }

std::vector<int32_t> Engine::tokenize(std::string_view text, bool add_special,
                                      bool parse_special) const {
  return impl_->model->tokenizer().encode(text, add_special, parse_special);
}

std::string Engine::detokenize(std::span<const int32_t> ids, bool render_special) const {
  const Tokenizer& tok = impl_->model->tokenizer();
  for (int32_t id : ids) {
    if (id < 0 || id >= tok.vocab_size())
      throw InvalidArgument("token id " + std::to_string(id) + " is outside the vocabulary");
  }
  return tok.decode(ids, render_special);
}

std::string Engine::apply_chat_template(const std::vector<ChatMessage>& messages,
                                        bool add_generation_prompt) const {
  return impl_->chat_template.render(messages, add_generation_prompt);
}

void Engine::prompt_logits(std::span<const int32_t> ids,
                           const std::function<void(int64_t, std::span<const float>)>& fn) {
  Impl& m = *impl_;
  if (ids.empty()) throw InvalidArgument("empty prompt");
  if (static_cast<int64_t>(ids.size()) > m.options.n_ctx) {
    throw InvalidArgument("prompt has " + std::to_string(ids.size()) +
                          " tokens but the context size is " + std::to_string(m.options.n_ctx));
  }
  SequenceKv seq;
  try {
    m.prefill(seq, ids, /*all=*/true, fn);
  } catch (...) {
    m.kv->release(seq);
    throw;
  }
  m.kv->release(seq);
}

GenerationResult Engine::generate(const GenerationRequest& req, const TextCallback& on_text) {
  Impl& m = *impl_;
  PreparedRequest p = prepare_request(m.model->tokenizer(), req, m.options.n_ctx);
  Sequence seq(m.model->tokenizer(), req.sampling, std::move(p.prompt_ids), p.max_new,
               m.model->config().n_vocab);
  struct Release {
    KvCache& kv;
    SequenceKv& seq;
    ~Release() { kv.release(seq); }
  } release{*m.kv, seq.kv};

  auto t0 = Clock::now();
  std::vector<float> last;
  m.prefill(seq.kv, seq.prompt(), /*all=*/false,
            [&](int64_t, std::span<const float> l) { last.assign(l.begin(), l.end()); });
  seq.result().prompt_seconds = seconds_since(t0);
  auto t1 = Clock::now();
  bool going =
      seq.max_new() > 0 ? seq.accept_logits(last, on_text) : (seq.finish("length", on_text), false);
  TokenBatch batch;
  while (going) {
    if (!m.kv->reserve(seq.kv, seq.kv.n_tokens + 1)) throw Error("KV cache is full");
    int32_t id = seq.next_token();
    batch.clear();
    batch.add(&seq.kv, std::span<const int32_t>(&id, 1), LogitsWanted::Last);
    m.transformer->forward(batch, *m.kv, m.logits);
    going = seq.accept_logits(m.logits, on_text);
  }
  seq.result().generate_seconds = seconds_since(t1);
  return std::move(seq.result());
}

}  // namespace packinfer

// --- batch API ------------------------------------------------------------------------------
namespace packinfer {

std::vector<BatchItemResult> Engine::generate_batch(
    const std::vector<GenerationRequest>& requests, const BatchOptions& options, BatchStats* stats,
    const std::function<void(size_t, const BatchItemResult&)>& on_done,
    const std::function<void(const BatchProgress&)>& on_progress) {
  Impl& m = *impl_;
  BatchContext ctx{*m.model, *m.transformer, *m.kv, m.options.n_ctx, m.options.max_batch_tokens};
  return run_batch(ctx, requests, options, stats, on_done, on_progress);
}

}  // namespace packinfer
