#pragma once
// The workload of `packinfer bench serve`: which OpenAI requests to send and when. Everything is
// drawn from the seed, so every configuration of a comparison (and every machine) gets the same
// prompts at the same offsets.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace packinfer::loadgen {

struct WorkloadOptions {
  int64_t num_requests = 64;
  double duration_s = 0;  // > 0: as many Poisson arrivals as fall in [0, duration)
  double rate = std::numeric_limits<double>::infinity();  // requests/s; inf = all at once
  uint64_t seed = 1;
  std::string prompt_len = "uniform:64:512";  // prompt_lengths spec (not jsonl)
  std::string output_len = "fixed:128";
  std::string prompts_file;          // JSONL prompts instead of synthetic text
  int64_t shared_prefix_tokens = 0;  // the same text before every prompt
  bool chat = false;                 // /v1/chat/completions instead of /v1/completions
  std::string model_name;            // the request's "model" field (empty: omitted)
};

// One request to send.
struct PlannedRequest {
  double send_at_s = 0;         // offset from the start of the run
  bool after_decoding = false;  // sent once every other request is decoding (not at send_at_s)
  std::string group;            // label for per-group statistics ("" = the only group)
  std::string path;             // /v1/completions or /v1/chat/completions
  std::string body;             // JSON, streaming with usage
  int64_t approx_prompt_tokens = 0;
  int64_t max_tokens = 0;
};

// `n` arrival offsets of a Poisson process at `rate` requests/s (exponential gaps), starting with
// the first gap; all 0 for an infinite rate. Deterministic for a seed.
std::vector<double> poisson_arrivals(int64_t n, double rate, uint64_t seed);
// Arrivals of the same process until `duration_s`.
std::vector<double> poisson_arrivals_for(double duration_s, double rate, uint64_t seed);

// About `n_tokens` tokens of text: `n_tokens` common English words, each usually one token of a
// BPE vocabulary (the server's usage.prompt_tokens gives the exact count).
std::string filler_text(int64_t n_tokens, uint64_t seed);

// The request body for a prompt (text, or chat with one user message).
std::string request_body(const std::string& prompt, int64_t max_tokens, bool chat,
                         const std::string& model_name);

std::vector<PlannedRequest> build_workload(const WorkloadOptions& o);

// Scenario (b) of issue 4: `streams` requests (prompt and output lengths from `o`) start at once;
// when all of them are decoding, one prompt of `long_prompt_tokens` arrives (group "long").
std::vector<PlannedRequest> long_prompt_during_decode(const WorkloadOptions& o, int64_t streams,
                                                      int64_t long_prompt_tokens);

}  // namespace packinfer::loadgen
