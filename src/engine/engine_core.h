#pragma once
// The engine's internals, shared by the two fronts of the library that drive a model: Engine
// (generate, prompt scoring, batch jobs) and ServingEngine (online). Not part of the public API:
// the public header only names the type (Engine::core()).
#include <functional>
#include <memory>

#include "grammar/grammar_cache.h"
#include "kv/kv_cache.h"
#include "model/model.h"
#include "model/transformer.h"
#include "packinfer/engine.h"
#include "runner/model_runner.h"
#include "runner/step_plan.h"
#include "sched/scheduler.h"
#include "tokenizer/chat_template.h"
#include "util/thread_pool.h"

namespace packinfer {

struct EngineCore {
  EngineOptions options;
  std::unique_ptr<Model> model;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<Transformer> transformer;
  std::unique_ptr<KvCache> kv;
  std::unique_ptr<ModelRunner> runner;
  ChatTemplate chat_template = ChatTemplate::by_name("chatml");
  // Compiles structured-output schemas and grammars for this model's vocabulary (cached).
  std::unique_ptr<grammar::GrammarCompiler> grammars;
  ModelInfo info;
  StepOutput output;  // reused by every step
  uint64_t next_request_id = 1;

  // Runs the scheduler until it is idle: schedule, run the plan, update. A forward that throws
  // fails the plan's requests (they end with the error) and the loop goes on. `observe` sees
  // every plan with its output (statistics), before the scheduler takes it back.
  void drive(Scheduler& scheduler,
             const std::function<void(const StepPlan&, const StepOutput&)>& observe = {});
};

}  // namespace packinfer
