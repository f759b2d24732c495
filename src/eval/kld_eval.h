#pragma once
// `packinfer kld`: evaluates a text in chunks with the exact path (the base: f32 KV, f32
// matmuls) and with a configuration under test, and reports how far the test's next-token
// distributions are from the base's (eval/kl_divergence.h). As in llama-perplexity: the text is
// tokenized once, cut into chunks of `chunk` tokens whose first token is BOS, and the positions
// of each chunk's second half are scored (so every scored token has at least chunk/2 tokens of
// context). The base can be saved to a file and reused against many test configurations.
#include <cstdint>
#include <string>
#include <vector>

#include "eval/kl_divergence.h"
#include "packinfer/engine.h"

namespace packinfer::eval {

struct KldOptions {
  int64_t chunk = 512;     // tokens per chunk (at most the context size)
  int64_t max_chunks = 0;  // 0 = as many as the text holds
};

// The exact path's log-probabilities at every scored position, and what they belong to.
struct KldBase {
  std::string model_fingerprint;
  int32_t n_vocab = 0;
  int64_t chunk = 0;
  int64_t n_chunks = 0;
  std::vector<int32_t> tokens;  // n_chunks * chunk tokens, as evaluated (BOS first in each chunk)
  std::vector<float> logprobs;  // [n_chunks * scored_per_chunk()][n_vocab]

  int64_t first_scored() const { return chunk / 2; }
  int64_t scored_per_chunk() const { return chunk - 1 - first_scored(); }
};

struct KldReport {
  std::vector<KldSummary> chunks;
  KldSummary overall;
};

// The exact path of a configuration: the same model, context and batching with every lossy
// option (KV format, matmul precision) at its exact setting. The base of every comparison.
EngineOptions exact_options(EngineOptions options);

// What identifies a model for a saved base: name, sizes and parameter count.
std::string model_fingerprint(const ModelInfo& info);

// The chunks of `text` for this engine's tokenizer. Throws InvalidArgument when the text holds
// less than one chunk or the chunk does not fit the context (naming both).
std::vector<int32_t> chunk_tokens(const Engine& engine, const std::string& text,
                                  const KldOptions& options, int64_t* n_chunks);

KldBase compute_base(Engine& base, const std::vector<int32_t>& tokens, int64_t chunk,
                     int64_t n_chunks);
KldReport compare(Engine& test, const KldBase& base);

// Binary file: a magic line, a JSON header (fingerprint, vocabulary, chunking, tokens), then the
// log-probabilities as little-endian f32. load_base checks the header and the size, and that the
// file belongs to `engine`'s model; throws Error naming what is wrong.
void save_base(const KldBase& base, const std::string& path);
KldBase load_base(const std::string& path, const Engine& engine);

}  // namespace packinfer::eval
