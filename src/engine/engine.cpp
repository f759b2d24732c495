// Engine: the public API over model, KV cache, token batches and sampler for one sequence at a
// time. (Many sequences at once go through the scheduler.)
#include "packinfer/engine.h"

#include "packinfer/batch.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "batch/token_batch.h"
#include "kv/kv_cache.h"
#include "model/model.h"
#include "model/transformer.h"
#include "sample/sampler.h"
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
               const std::function<void(int64_t, std::span<const float>)>& on_logits) {
    const int64_t vocab = model->config().n_vocab;
    TokenBatch batch;
    for (int64_t start = 0; start < static_cast<int64_t>(ids.size());) {
      int64_t n = std::min<int64_t>(options.max_batch_tokens, static_cast<int64_t>(ids.size()) - start);
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
};

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
  int32_t threads = options.n_threads > 0 ? options.n_threads
                                          : static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
  m.options.n_ctx = n_ctx;
  m.pool = std::make_unique<ThreadPool>(threads);
  m.transformer = std::make_unique<Transformer>(c, m.model->weights(), *m.pool);
  m.transformer->set_mlp_chunk(options.max_batch_tokens);
  int64_t blocks = KvCache::blocks_for(n_ctx, options.kv_block_size);
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
    if (id < 0 || id >= tok.vocab_size()) throw InvalidArgument("token id " + std::to_string(id) + " is outside the vocabulary");
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
  const Tokenizer& tok = m.model->tokenizer();
  req.sampling.validate();
  GenerationResult res;
  if (!req.prompt_ids.empty()) {
    for (int32_t id : req.prompt_ids) {
      if (id < 0 || id >= tok.vocab_size()) {
        throw InvalidArgument("prompt token id " + std::to_string(id) + " is outside the vocabulary");
      }
    }
    res.prompt_ids = req.prompt_ids;
  } else {
    std::string text = utf8::sanitize(req.prompt);
    res.prompt_ids = tok.encode(text, req.add_special, req.parse_special);
  }
  const int64_t n_prompt = static_cast<int64_t>(res.prompt_ids.size());
  if (n_prompt == 0) throw InvalidArgument("the prompt is empty (it has no tokens)");
  if (n_prompt >= m.options.n_ctx) {
    throw InvalidArgument("prompt has " + std::to_string(n_prompt) +
                          " tokens but the context size is " + std::to_string(m.options.n_ctx) +
                          " (at least one position must remain for generation)");
  }
  int64_t max_new = m.options.n_ctx - n_prompt;
  if (req.sampling.max_tokens >= 0) max_new = std::min<int64_t>(max_new, req.sampling.max_tokens);

  SequenceKv seq;
  struct Release {
    KvCache& kv;
    SequenceKv& seq;
    ~Release() { kv.release(seq); }
  } release{*m.kv, seq};

  Sampler sampler(req.sampling, m.model->config().n_vocab);
  StreamingDetokenizer detok(tok, /*render_special=*/false);
  StopStringMatcher stops(req.sampling.stop);
  std::vector<int32_t> history = res.prompt_ids;
  std::vector<float> last(static_cast<size_t>(m.model->config().n_vocab));

  auto t0 = Clock::now();
  m.prefill(seq, res.prompt_ids, /*all=*/false, [&](int64_t, std::span<const float> l) {
    std::copy(l.begin(), l.end(), last.begin());
  });
  res.prompt_seconds = seconds_since(t0);
  auto t1 = Clock::now();

  res.finish_reason = "length";
  bool cancelled = false;
  auto emit = [&](const std::string& text) {
    if (text.empty()) return;
    res.text += text;
    if (on_text && !on_text(text)) cancelled = true;
  };
  TokenBatch batch;
  for (int64_t step = 0; step < max_new; ++step) {
    int32_t id = sampler.sample(last, history);
    bool is_stop_token = (!req.sampling.ignore_eos && tok.is_eog(id)) ||
                         std::find(req.sampling.stop_token_ids.begin(),
                                   req.sampling.stop_token_ids.end(), id) != req.sampling.stop_token_ids.end();
    if (is_stop_token) {
      res.finish_reason = "stop";
      break;
    }
    res.output_ids.push_back(id);
    history.push_back(id);
    StopStringMatcher::Result r = stops.push(detok.push(id));
    emit(r.emit);
    if (r.stopped) {
      res.finish_reason = "stop";
      break;
    }
    if (cancelled) break;
    if (step + 1 == max_new) break;
    if (!m.kv->reserve(seq, seq.n_tokens + 1)) throw Error("KV cache is full");
    batch.clear();
    batch.add(&seq, std::span<const int32_t>(&id, 1), LogitsWanted::Last);
    m.transformer->forward(batch, *m.kv, m.logits);
    std::copy(m.logits.begin(), m.logits.end(), last.begin());
  }
  if (!cancelled) {
    // Release text held back for a possible stop string or an incomplete character.
    StopStringMatcher::Result r = stops.push(detok.flush());
    emit(r.emit);
    if (r.stopped) {
      res.finish_reason = "stop";
    } else {
      emit(stops.flush());
    }
  }
  if (cancelled) res.finish_reason = "cancelled";
  res.generate_seconds = seconds_since(t1);
  return res;
}

}  // namespace packinfer

// --- batch API ------------------------------------------------------------------------------
namespace packinfer {

const char* prefill_mode_name(PrefillMode mode) {
  switch (mode) {
    case PrefillMode::Packed: return "packed";
    case PrefillMode::Padded: return "padded";
    case PrefillMode::Single: return "single";
  }
  return "?";
}

PrefillMode parse_prefill_mode(const std::string& name) {
  if (name == "packed") return PrefillMode::Packed;
  if (name == "padded") return PrefillMode::Padded;
  if (name == "single") return PrefillMode::Single;
  throw InvalidArgument("unknown prefill mode '" + name + "' (use packed, padded or single)");
}

// Provisional: one request at a time through generate(). Replaced by the batch scheduler.
std::vector<BatchItemResult> Engine::generate_batch(
    const std::vector<GenerationRequest>& requests, const BatchOptions& options, BatchStats* stats,
    const std::function<void(size_t, const BatchItemResult&)>& on_done,
    const std::function<void(const BatchProgress&)>& on_progress) {
  auto t0 = Clock::now();
  std::vector<BatchItemResult> out(requests.size());
  BatchProgress progress;
  progress.total = static_cast<int64_t>(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    try {
      out[i].result = generate(requests[i]);
      out[i].ttft_seconds = seconds_since(t0) - out[i].result.generate_seconds;
    } catch (const std::exception& e) {
      out[i].error = e.what();
    }
    out[i].finish_seconds = seconds_since(t0);
    progress.done++;
    progress.prompt_tokens += static_cast<int64_t>(out[i].result.prompt_ids.size());
    progress.generated_tokens += static_cast<int64_t>(out[i].result.output_ids.size());
    progress.elapsed_seconds = seconds_since(t0);
    if (on_done) on_done(i, out[i]);
    if (on_progress) on_progress(progress);
  }
  if (stats != nullptr) {
    *stats = BatchStats{};
    stats->makespan_seconds = seconds_since(t0);
    stats->prompt_tokens = progress.prompt_tokens;
    stats->generated_tokens = progress.generated_tokens;
  }
  return out;
}

}  // namespace packinfer
