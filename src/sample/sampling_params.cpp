// SamplingParams::validate(): every field is checked against the range the sampler and the server
// can honour, so a bad request fails with a 400 naming the field instead of producing NaNs or
// hanging in a degenerate loop.
#include "packinfer/sampling_params.h"

#include <cmath>
#include <string>

#include "packinfer/error.h"

namespace packinfer {

namespace {

// Limits beyond which the values make no sense for any model; they keep arithmetic finite
// (e.g. logit / temperature, logit * repetition_penalty) and bound per-request memory.
constexpr float kMaxTemperature = 100.0f;
constexpr float kMaxRepetitionPenalty = 10.0f;
constexpr float kMaxAbsOpenAIPenalty = 2.0f;
constexpr int32_t kMaxTokens = 1 << 20;
constexpr size_t kMaxStopStrings = 16;
constexpr size_t kMaxStopStringBytes = 256;
constexpr size_t kMaxLogitBias = 1024;
constexpr float kMaxAbsLogitBias = 100.0f;

[[noreturn]] void fail(const std::string& field, const std::string& rule, const std::string& got) {
  throw InvalidArgument("invalid sampling parameter '" + field + "': " + rule + " (got " + got +
                        ")");
}

std::string show(float v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return std::to_string(v);
}

}  // namespace

void SamplingParams::validate() const {
  // Comparisons are written so NaN fails them (NaN compares false to everything).
  if (!(std::isfinite(temperature) && temperature >= 0.0f && temperature <= kMaxTemperature))
    fail("temperature", "must be a finite number in [0, 100]", show(temperature));
  if (top_k < 0) fail("top_k", "must be >= 0 (0 disables it)", std::to_string(top_k));
  if (!(top_p > 0.0f && top_p <= 1.0f))
    fail("top_p", "must be in (0, 1] (1 disables it)", show(top_p));
  if (!(min_p >= 0.0f && min_p <= 1.0f))
    fail("min_p", "must be in [0, 1] (0 disables it)", show(min_p));
  if (!(std::isfinite(repetition_penalty) && repetition_penalty > 0.0f &&
        repetition_penalty <= kMaxRepetitionPenalty))
    fail("repetition_penalty", "must be a finite number in (0, 10] (1 disables it)",
         show(repetition_penalty));
  if (repetition_window < -1)
    fail("repetition_window", "must be >= -1 (-1 = whole history, 0 = no penalties)",
         std::to_string(repetition_window));
  if (!(presence_penalty >= -kMaxAbsOpenAIPenalty && presence_penalty <= kMaxAbsOpenAIPenalty))
    fail("presence_penalty", "must be in [-2, 2]", show(presence_penalty));
  if (!(frequency_penalty >= -kMaxAbsOpenAIPenalty && frequency_penalty <= kMaxAbsOpenAIPenalty))
    fail("frequency_penalty", "must be in [-2, 2]", show(frequency_penalty));
  if (max_tokens < -1 || max_tokens > kMaxTokens)
    fail("max_tokens", "must be -1 (until the context is full) or in [0, 1048576]",
         std::to_string(max_tokens));
  if (stop.size() > kMaxStopStrings)
    fail("stop", "at most 16 stop strings are allowed", std::to_string(stop.size()) + " strings");
  for (size_t i = 0; i < stop.size(); ++i) {
    const std::string field = "stop[" + std::to_string(i) + "]";
    if (stop[i].empty()) fail(field, "stop strings must not be empty", "\"\"");
    if (stop[i].size() > kMaxStopStringBytes)
      fail(field, "stop strings must be at most 256 bytes",
           std::to_string(stop[i].size()) + " bytes");
  }
  if (logit_bias.size() > kMaxLogitBias)
    fail("logit_bias", "at most 1024 tokens may be biased",
         std::to_string(logit_bias.size()) + " tokens");
  for (const auto& [id, bias] : logit_bias) {
    if (id < 0) fail("logit_bias", "token ids must be >= 0", std::to_string(id));
    if (!(bias >= -kMaxAbsLogitBias && bias <= kMaxAbsLogitBias))
      fail("logit_bias", "biases must be in [-100, 100]", show(bias));
  }
  for (size_t i = 0; i < stop_token_ids.size(); ++i) {
    if (stop_token_ids[i] < 0)
      fail("stop_token_ids[" + std::to_string(i) + "]", "token ids must be >= 0",
           std::to_string(stop_token_ids[i]));
  }
  // The schema or grammar itself is compiled where the vocabulary is known (prepare_request).
  using Kind = StructuredOutput::Kind;
  if ((structured.kind == Kind::JsonSchema || structured.kind == Kind::Grammar) &&
      structured.text.empty()) {
    fail("structured", "a JSON schema or grammar needs its text", "an empty text");
  }
  if ((structured.kind == Kind::None || structured.kind == Kind::JsonObject) &&
      !structured.text.empty()) {
    fail("structured", "only a JSON schema or a grammar has a text", "a text");
  }
}

}  // namespace packinfer
