// Engine: the public API over model, KV cache, scheduler and model runner. Every request, one or
// many, goes through the scheduler core and the runner (see sched/scheduler.h).
#include "packinfer/engine.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "engine/engine_core.h"
#include "model/flops.h"
#include "packinfer/batch.h"
#include "sched/offline_policy.h"
#include "sched/request_factory.h"
#include "sched/sequence.h"
#include "tokenizer/tokenizer.h"

namespace packinfer {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

constexpr int64_t kDefaultMaxContext = 8192;

}  // namespace

void EngineCore::drive(Scheduler& scheduler,
                       const std::function<void(const StepPlan&, const StepOutput&)>& observe) {
  while (!scheduler.idle()) {
    StepPlan plan = scheduler.schedule();
    if (plan.empty()) {
      if (scheduler.idle()) break;
      throw Error("the scheduler cannot make progress (internal error)");
    }
    try {
      runner->run(plan, output);
    } catch (const std::exception& e) {
      scheduler.fail(plan, std::string("internal error: ") + e.what());
      continue;
    }
    // Observed before the update, which may finish requests and free their KV: the KV in use
    // during the forward is what the statistics want.
    if (observe) observe(plan, output);
    scheduler.update(plan, output);
  }
}

Engine::Engine(const EngineOptions& options) : impl_(std::make_unique<EngineCore>()) {
  EngineCore& m = *impl_;
  m.options = options;
  if (options.kv_block_size < 0 || options.kv_block_size > 1024) {
    throw InvalidArgument("kv block size must be in [1, 1024] (0 = automatic)");
  }
  KvFormat format;
  format.k = parse_kv_type(options.kv_type_k.empty() ? options.kv_type : options.kv_type_k);
  format.v = parse_kv_type(options.kv_type_v.empty() ? options.kv_type : options.kv_type_v);
  format.rotate = options.kv_rotate;
  const int32_t block_size = options.kv_block_size > 0
                                 ? options.kv_block_size
                                 : (kv_type_quantizes_keys_per_channel(format.k) ? 32 : 16);
  m.options.kv_block_size = block_size;
  if (options.max_batch_tokens < 1) throw InvalidArgument("max batch tokens must be positive");
  auto t0 = Clock::now();
  const MatmulActivations act = parse_matmul_activations(options.matmul_act);
  m.options.matmul_act = matmul_activations_name(act);
  m.model = Model::load(options.model_path, act);
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
  m.transformer->set_batch_invariant(options.batch_invariant);
  m.transformer->set_matmul_activations(act);
  // KV budget: --kv-mem bytes, else room for 4 full contexts. The memory is only reserved
  // (demand paged), so an unused budget costs no RSS.
  check_kv_format(format, c.head_dim, block_size);
  const int64_t block_bytes = KvCache::block_bytes(c.kv_shape(), block_size, format);
  int64_t blocks = options.kv_blocks > 0      ? options.kv_blocks
                   : options.kv_mem_bytes > 0 ? options.kv_mem_bytes / block_bytes
                                              : 4 * KvCache::blocks_for(n_ctx, block_size);
  if (blocks < KvCache::blocks_for(n_ctx, block_size)) {
    throw InvalidArgument("KV budget of " + std::to_string(blocks) + " blocks (" +
                          std::to_string(blocks * block_bytes >> 20) + " MiB) holds " +
                          std::to_string(blocks * block_size) +
                          " positions, fewer than one context of " + std::to_string(n_ctx));
  }
  if (blocks > (int64_t{1} << 30)) throw InvalidArgument("KV memory budget is too large");
  KvShape kv_shape = c.kv_shape();
  kv_shape.max_positions = n_ctx;
  m.kv = std::make_unique<KvCache>(kv_shape, static_cast<int32_t>(blocks), block_size, format);
  if (!options.kv_disk_dir.empty()) {
    DiskTierOptions d;
    d.dir = options.kv_disk_dir;
    d.max_bytes = options.kv_disk_bytes;
    d.fingerprint = m.model->fingerprint();
    m.kv->enable_disk_tier(d);
  }
  if (!options.kv_store_url.empty()) {
    KvStoreOptions so;
    so.url = options.kv_store_url;
    so.fingerprint = m.model->fingerprint();
    if (options.kv_store_timeout_ms <= 0)
      throw InvalidArgument("KV store timeout must be positive");
    so.lookup_timeout_seconds = options.kv_store_timeout_ms / 1000.0;
    m.kv->enable_store(so);
  }
  m.runner = std::make_unique<ModelRunner>(*m.transformer, *m.kv);
  m.chat_template = ChatTemplate::detect(m.model->chat_template());
  // PACKINFER_GRAMMAR_OVERLAP=1 computes grammar masks on a helper thread during the forward
  // (see bench/RESULTS.md, "Issue #11": on two cores it does not pay, so it is off by default).
  const char* overlap = std::getenv("PACKINFER_GRAMMAR_OVERLAP");
  m.grammars = std::make_unique<grammar::GrammarCompiler>(
      m.model->tokenizer(), overlap != nullptr && std::string(overlap) == "1");
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
  i.panel_bytes = m.model->weights().panel_bytes;
  for (const LayerWeights& l : m.model->weights().layers) {
    for (const WeightMatrix* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      i.decode_bytes_per_token += w->row_bytes * w->rows;
  }
  const WeightMatrix& out = m.model->weights().output;
  i.decode_bytes_per_token += out.row_bytes * out.rows;
  i.chat_template_name = std::string(m.chat_template.name());
  i.kv_format = format.name();
  i.matmul_act = m.options.matmul_act;
  i.kv_block_size = block_size;
  i.kv_bytes_per_token = static_cast<double>(block_bytes) / block_size;
  i.kv_budget_bytes = blocks * block_bytes;
  i.load_seconds = seconds_since(t0);
}

Engine::~Engine() = default;

const ModelInfo& Engine::model_info() const { return impl_->info; }

std::vector<MemoryItem> Engine::memory_report() const {
  std::vector<MemoryItem> items;
  for (auto& [name, bytes] : impl_->transformer->scratch_buffers()) items.push_back({name, bytes});
  items.push_back({"logits [rows, n_vocab]",
                   static_cast<int64_t>(impl_->output.logits.capacity() * sizeof(float))});
  items.push_back({"tokenizer: vocabulary and merges", impl_->model->tokenizer().table_bytes()});
  const KvCache& kv = *impl_->kv;
  items.push_back({"KV cache: blocks written so far", kv.bytes_touched()});
  items.push_back({"KV cache: f16 keys of unfinished q8_0/KIVI blocks", kv.staging_bytes()});
  std::stable_sort(items.begin(), items.end(),
                   [](const MemoryItem& a, const MemoryItem& b) { return a.bytes > b.bytes; });
  items.push_back(
      {"KV cache: reserved budget (address space, paged in as written)", kv.bytes_total()});
  return items;
}

double Engine::prompt_flops(int64_t n) const {
  const ModelConfig& c = impl_->model->config();
  const double t = static_cast<double>(n);
  return layer_flops_per_token(c) * t + attention_flops(c, 0, t) + lm_head_flops(c);
}

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

namespace {

// A single request runs as a job of one: prompt in chunks of the token budget, then one token
// per forward. Without a disk tier or shared store nothing is published to the prefix cache
// (nobody in this process would reuse it); with one, prefixes are read from and written to it.
std::unique_ptr<Scheduler> single_request_scheduler(EngineCore& m, bool use_prefix_cache) {
  OfflinePolicyOptions po;
  po.mode = PrefillMode::Single;
  po.max_batch_tokens = m.options.max_batch_tokens;
  SchedulerOptions so;
  so.prefix_cache = use_prefix_cache && (m.kv->disk_tier() != nullptr || m.kv->store() != nullptr);
  return std::make_unique<Scheduler>(*m.kv, std::make_unique<OfflinePolicy>(po), so);
}

}  // namespace

void Engine::prompt_logits(std::span<const int32_t> ids,
                           const std::function<void(int64_t, std::span<const float>)>& fn) {
  EngineCore& m = *impl_;
  if (ids.empty()) throw InvalidArgument("empty prompt");
  if (static_cast<int64_t>(ids.size()) > m.options.n_ctx) {
    throw InvalidArgument("prompt has " + std::to_string(ids.size()) +
                          " tokens but the context size is " + std::to_string(m.options.n_ctx));
  }
  GenerationRequest g;
  g.sampling = SamplingParams::greedy();
  PreparedRequest p{std::vector<int32_t>(ids.begin(), ids.end()), 0, {}};
  std::unique_ptr<Request> r = make_request(m.next_request_id++, m.model->tokenizer(), g,
                                            std::move(p), m.model->config().n_vocab);
  r->on_prompt_logits = fn;
  std::string error;
  r->callbacks.on_done = [&error](const ServingResult& res) { error = res.error; };
  // Every position's logits are wanted: nothing may come from the cache.
  std::unique_ptr<Scheduler> scheduler = single_request_scheduler(m, false);
  scheduler->add(std::move(r));
  m.drive(*scheduler);
  if (!error.empty()) throw Error(error);
}

GenerationResult Engine::generate(const GenerationRequest& req, const TextCallback& on_text) {
  EngineCore& m = *impl_;
  PreparedRequest p = prepare_request(m.model->tokenizer(), req, m.options.n_ctx, m.grammars.get());
  std::unique_ptr<Request> r = make_request(m.next_request_id++, m.model->tokenizer(), req,
                                            std::move(p), m.model->config().n_vocab);
  if (on_text) {
    r->callbacks.on_token = [&on_text](const TokenEvent& ev) {
      return ev.text.empty() || on_text(ev.text);
    };
  }
  ServingResult result;
  r->callbacks.on_done = [&result](const ServingResult& res) { result = res; };
  std::unique_ptr<Scheduler> scheduler = single_request_scheduler(m, true);
  scheduler->add(std::move(r));
  m.drive(*scheduler);
  if (!result.error.empty()) throw Error(result.error);
  return std::move(result.generation);
}

}  // namespace packinfer
