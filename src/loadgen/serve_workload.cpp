#include "loadgen/serve_workload.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "packinfer/error.h"
#include "prompt_sets/prompt_lengths.h"
#include "util/splitmix64.h"
#include "util/text_file.h"

namespace packinfer::loadgen {
namespace {

using prompt_sets::JsonlPrompt;
using prompt_sets::PromptDistribution;

// Frequent words that BPE vocabularies hold as single tokens (with their leading space), so the
// word count is close to the token count.
const char* const kWords[] = {
    "the",   "of",     "and",   "to",    "in",    "is",    "that", "for",   "it",    "as",
    "was",   "with",   "be",    "by",    "on",    "not",   "he",   "this",  "are",   "or",
    "his",   "from",   "at",    "which", "but",   "have",  "an",   "had",   "they",  "you",
    "were",  "their",  "one",   "all",   "we",    "can",   "her",  "has",   "there", "been",
    "if",    "more",   "when",  "will",  "would", "who",   "so",   "no",    "time",  "people",
    "year",  "way",    "day",   "man",   "thing", "woman", "life", "child", "world", "school",
    "state", "family", "water", "house"};
constexpr uint64_t kNumWords = sizeof(kWords) / sizeof(kWords[0]);

// Distinct seeds per purpose, so the shared prefix never equals the start of a question.
constexpr uint64_t kPrefixSalt = 0x51ed270b9ad5f1c3ull;
constexpr uint64_t kPromptSalt = 0x2545f4914f6cdd1dull;

std::vector<int64_t> lengths(const std::string& spec, int64_t n, uint64_t seed) {
  PromptDistribution d = prompt_sets::parse_prompt_distribution(spec);
  if (d.kind == PromptDistribution::Kind::Jsonl) {
    throw InvalidArgument("length spec '" + spec + "': use --prompts FILE for JSONL prompts");
  }
  return prompt_sets::sample_prompt_lengths(d, n, seed);
}

// A question distinct from every other request's from its first word on (the index is in it), so
// only the intended shared prefix can hit a prefix cache.
std::string question(int64_t index, int64_t n_tokens, uint64_t seed) {
  std::string q = "Question " + std::to_string(index) + ":";
  int64_t rest = std::max<int64_t>(n_tokens - 3, 1);
  return q + " " + filler_text(rest, seed * kPromptSalt + static_cast<uint64_t>(index) + 1);
}

std::string shared_prefix(const WorkloadOptions& o) {
  if (o.shared_prefix_tokens <= 0) return "";
  return "You are a helpful assistant. " +
         filler_text(std::max<int64_t>(o.shared_prefix_tokens - 6, 1), o.seed ^ kPrefixSalt) +
         "\n\n";
}

std::string json_prompt_body(const JsonlPrompt& p, const std::string& prefix, int64_t max_tokens,
                             bool& chat, const std::string& model_name) {
  if (!p.messages.empty()) {
    nlohmann::json msgs = nlohmann::json::array();
    if (!prefix.empty()) msgs.push_back({{"role", "system"}, {"content", prefix}});
    for (const ChatMessage& m : p.messages)
      msgs.push_back({{"role", m.role}, {"content", m.content}});
    chat = true;
    nlohmann::json b = nlohmann::json::parse(request_body("", max_tokens, true, model_name));
    b["messages"] = msgs;
    return b.dump();
  }
  chat = false;
  if (!p.ids.empty()) {  // OpenAI accepts a prompt of token ids
    nlohmann::json b = nlohmann::json::parse(request_body("", max_tokens, false, model_name));
    b["prompt"] = p.ids;
    return b.dump();
  }
  return request_body(prefix + p.text, max_tokens, false, model_name);
}

}  // namespace

std::vector<double> poisson_arrivals(int64_t n, double rate, uint64_t seed) {
  std::vector<double> t(static_cast<size_t>(std::max<int64_t>(n, 0)), 0.0);
  if (!std::isfinite(rate)) return t;
  if (rate <= 0) throw InvalidArgument("--rate must be > 0 (or inf)");
  SplitMix64 rng{seed};
  double now = 0;
  for (double& x : t) {
    now += -std::log(1.0 - rng.uniform01()) / rate;  // 1 - u is in (0, 1]: no log(0)
    x = now;
  }
  return t;
}

std::vector<double> poisson_arrivals_for(double duration_s, double rate, uint64_t seed) {
  if (!std::isfinite(rate) || rate <= 0) {
    throw InvalidArgument("--duration needs a finite --rate > 0");
  }
  SplitMix64 rng{seed};
  std::vector<double> t;
  for (double now = 0;;) {
    now += -std::log(1.0 - rng.uniform01()) / rate;
    if (now >= duration_s) return t;
    t.push_back(now);
  }
}

std::string filler_text(int64_t n_tokens, uint64_t seed) {
  SplitMix64 rng{seed};
  std::string s;
  for (int64_t i = 0; i < n_tokens; ++i) {
    if (i) s += ' ';
    s += kWords[rng.below(kNumWords)];
  }
  return s;
}

std::string request_body(const std::string& prompt, int64_t max_tokens, bool chat,
                         const std::string& model_name) {
  nlohmann::json b = {
      {"max_tokens", max_tokens}, {"temperature", 0},
      {"ignore_eos", true},  // so the output length is the one asked for
      {"stream", true},           {"stream_options", {{"include_usage", true}}},
  };
  if (chat) {
    b["messages"] = nlohmann::json::array({{{"role", "user"}, {"content", prompt}}});
  } else {
    b["prompt"] = prompt;
  }
  if (!model_name.empty()) b["model"] = model_name;
  return b.dump();
}

std::vector<PlannedRequest> build_workload(const WorkloadOptions& o) {
  std::vector<double> at = o.duration_s > 0 ? poisson_arrivals_for(o.duration_s, o.rate, o.seed)
                                            : poisson_arrivals(o.num_requests, o.rate, o.seed);
  const auto n = static_cast<int64_t>(at.size());
  std::vector<int64_t> out_len = lengths(o.output_len, n, o.seed + 1);
  const std::string prefix = shared_prefix(o);
  std::vector<PlannedRequest> reqs(static_cast<size_t>(n));
  std::vector<JsonlPrompt> file_prompts;
  std::vector<int64_t> in_len;
  if (!o.prompts_file.empty()) {
    file_prompts = prompt_sets::pick_prompts(
        prompt_sets::parse_jsonl_prompts(read_text_file(o.prompts_file)), n, o.seed);
  } else {
    in_len = lengths(o.prompt_len, n, o.seed);
  }
  for (int64_t i = 0; i < n; ++i) {
    PlannedRequest& r = reqs[static_cast<size_t>(i)];
    r.send_at_s = at[static_cast<size_t>(i)];
    r.max_tokens = out_len[static_cast<size_t>(i)];
    bool chat = o.chat;
    if (!file_prompts.empty()) {
      r.body = json_prompt_body(file_prompts[static_cast<size_t>(i)], prefix, r.max_tokens, chat,
                                o.model_name);
    } else {
      r.approx_prompt_tokens = o.shared_prefix_tokens + in_len[static_cast<size_t>(i)];
      r.body = request_body(prefix + question(i, in_len[static_cast<size_t>(i)], o.seed),
                            r.max_tokens, chat, o.model_name);
    }
    r.path = chat ? "/v1/chat/completions" : "/v1/completions";
  }
  return reqs;
}

std::vector<PlannedRequest> long_prompt_during_decode(const WorkloadOptions& o, int64_t streams,
                                                      int64_t long_prompt_tokens) {
  WorkloadOptions s = o;
  s.num_requests = streams;
  s.duration_s = 0;
  s.rate = std::numeric_limits<double>::infinity();
  s.prompts_file.clear();
  std::vector<PlannedRequest> reqs = build_workload(s);
  for (PlannedRequest& r : reqs) r.group = "streams";
  PlannedRequest big;
  big.after_decoding = true;
  big.group = "long";
  big.max_tokens = 1;  // only its prefill matters: that is what may stall the streams
  big.approx_prompt_tokens = long_prompt_tokens;
  big.path = o.chat ? "/v1/chat/completions" : "/v1/completions";
  big.body = request_body(question(streams, long_prompt_tokens, o.seed + 7), big.max_tokens, o.chat,
                          o.model_name);
  reqs.push_back(std::move(big));
  return reqs;
}

}  // namespace packinfer::loadgen
