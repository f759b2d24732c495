#pragma once
// The batch of prompts `packinfer bench prefill` measures, as token ids: synthetic prompts of
// random ids with lengths from a distribution, or real prompts from a JSONL file tokenized (chat
// messages rendered with the model's template) by the engine.
#include <cstdint>
#include <vector>

#include "packinfer/engine.h"
#include "prompt_sets/prompt_lengths.h"

namespace packinfer::prefill_bench {

// The prompts of the largest batch; smaller batches of a sweep use a prefix of it. Everything is
// turned into token ids here so every mode prefills exactly the same tokens. Each request is
// greedy with max_tokens = 1 (prefill only). Throws packinfer::InvalidArgument for a prompt that
// does not fit the engine's context, packinfer::Error for an unreadable JSONL file.
std::vector<GenerationRequest> make_prefill_requests(Engine& engine,
                                                     const prompt_sets::PromptDistribution& dist,
                                                     int64_t n, uint64_t seed);

}  // namespace packinfer::prefill_bench
