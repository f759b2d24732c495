#include "prefill_bench/prefill_requests.h"

#include "packinfer/error.h"
#include "util/text_file.h"

namespace packinfer::prefill_bench {

std::vector<GenerationRequest> make_prefill_requests(Engine& engine,
                                                     const prompt_sets::PromptDistribution& dist,
                                                     int64_t n, uint64_t seed) {
  std::vector<std::vector<int32_t>> prompts;
  if (dist.kind == prompt_sets::PromptDistribution::Kind::Jsonl) {
    for (const prompt_sets::JsonlPrompt& p : prompt_sets::pick_prompts(
             prompt_sets::parse_jsonl_prompts(read_text_file(dist.file)), n, seed)) {
      if (!p.ids.empty()) {
        prompts.push_back(p.ids);
      } else if (!p.messages.empty()) {
        prompts.push_back(engine.tokenize(engine.apply_chat_template(p.messages)));
      } else {
        prompts.push_back(engine.tokenize(p.text));
      }
    }
  } else {
    std::vector<int64_t> lens = prompt_sets::sample_prompt_lengths(dist, n, seed);
    for (size_t i = 0; i < lens.size(); ++i) {
      // A seed per prompt (not one stream) keeps prompt i the same whatever the batch size.
      prompts.push_back(prompt_sets::random_token_ids(lens[i], engine.model_info().n_vocab,
                                                      seed * 0x100000001b3ull + i + 1));
    }
  }
  const int64_t n_ctx = engine.model_info().n_ctx;
  std::vector<GenerationRequest> requests;
  for (auto& ids : prompts) {
    if (static_cast<int64_t>(ids.size()) >= n_ctx) {
      throw InvalidArgument("a prompt of " + std::to_string(ids.size()) +
                            " tokens does not fit the context of " + std::to_string(n_ctx) +
                            " positions; pass a larger -c or a shorter --dist");
    }
    GenerationRequest r;
    r.prompt_ids = std::move(ids);
    r.sampling = SamplingParams::greedy();
    r.sampling.max_tokens = 1;  // prefill only: done when every prompt has its first token
    r.sampling.seed = seed;
    requests.push_back(std::move(r));
  }
  return requests;
}

}  // namespace packinfer::prefill_bench
