#pragma once
// Prompt sets for the benchmarks (`packinfer bench prefill`; `bench serve` draws its lengths and
// reads its JSONL prompts here too): a length distribution ("fixed:N", "uniform:A:B",
// "loguniform:A:B") or real prompts from a JSONL file ("jsonl:FILE"), turned into a batch of
// prompts that is the same for the same seed on every machine (so runs can be compared).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "packinfer/chat.h"

namespace packinfer::prompt_sets {

struct PromptDistribution {
  enum class Kind { Fixed, Uniform, LogUniform, Jsonl };
  Kind kind = Kind::LogUniform;
  int64_t lo = 16, hi = 1024;  // inclusive length range (Fixed: lo == hi)
  std::string file;            // Jsonl
};

// Parses "fixed:N", "uniform:A:B", "loguniform:A:B" (1 <= A <= B) or "jsonl:FILE". Throws
// packinfer::InvalidArgument with the accepted forms.
PromptDistribution parse_prompt_distribution(const std::string& spec);
std::string to_string(const PromptDistribution& d);

// `n` lengths drawn from a synthetic distribution (not Jsonl). Deterministic for a seed across
// platforms (own generator, no std:: distributions), and the first k lengths for n > k are the
// lengths for k, so a batch-size sweep grows one batch instead of drawing unrelated ones.
std::vector<int64_t> sample_prompt_lengths(const PromptDistribution& d, int64_t n, uint64_t seed);

// `n` random token ids uniform over [0, n_vocab): exact-length synthetic prompts.
std::vector<int32_t> random_token_ids(int64_t n, int32_t n_vocab, uint64_t seed);

// One real prompt: exactly one of ids, messages or text is used (in that order).
struct JsonlPrompt {
  std::string text;
  std::vector<int32_t> ids;
  std::vector<ChatMessage> messages;  // to render with the model's chat template
};

// Parses JSONL: each non-blank line an object with "prompt" (string), "prompt_ids" (ints), or an
// OpenAI batch line whose "body" has "prompt" or "messages". Throws packinfer::InvalidArgument
// naming the line for anything else.
std::vector<JsonlPrompt> parse_jsonl_prompts(std::string_view content);

// `n` of `prompts`, chosen by a seeded shuffle (cycling when the file has fewer than n).
std::vector<JsonlPrompt> pick_prompts(const std::vector<JsonlPrompt>& prompts, int64_t n,
                                      uint64_t seed);

}  // namespace packinfer::prompt_sets
