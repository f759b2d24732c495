#include "sched/sequence.h"

#include <algorithm>

#include "packinfer/error.h"
#include "tokenizer/utf8.h"

namespace packinfer {

Sequence::Sequence(const Tokenizer& tok, const SamplingParams& params,
                   std::vector<int32_t> prompt_ids, int64_t max_new, int32_t n_vocab)
    : tok_(tok),
      params_(params),
      sampler_(params, n_vocab),
      detok_(tok, /*render_special=*/false),
      stops_(params.stop),
      history_(prompt_ids),
      max_new_(max_new) {
  result_.prompt_ids = std::move(prompt_ids);
  result_.finish_reason = "length";
}

void Sequence::emit(const std::string& text, const TextCallback& on_text) {
  if (text.empty() || cancelled_) return;
  result_.text += text;
  if (on_text && !on_text(text)) cancelled_ = true;
}

void Sequence::release_held_text(const TextCallback& on_text) {
  // Text held back for a possible stop string or an incomplete character.
  StopStringMatcher::Result r = stops_.push(detok_.flush());
  emit(r.emit, on_text);
  if (r.stopped) {
    result_.finish_reason = "stop";
  } else {
    emit(stops_.flush(), on_text);
  }
}

bool Sequence::accept_logits(std::span<const float> logits, const TextCallback& on_text) {
  if (finished_) return false;
  std::vector<float> scratch(logits.begin(), logits.end());
  int32_t id = sampler_.sample(scratch, history_);
  const auto& stop_ids = params_.stop_token_ids;
  if ((!params_.ignore_eos && tok_.is_eog(id)) ||
      std::find(stop_ids.begin(), stop_ids.end(), id) != stop_ids.end()) {
    finish("stop", on_text);
    return false;
  }
  result_.output_ids.push_back(id);
  history_.push_back(id);
  next_token_ = id;
  StopStringMatcher::Result r = stops_.push(detok_.push(id));
  emit(r.emit, on_text);
  if (r.stopped) {
    finish("stop", on_text);
    return false;
  }
  if (cancelled_) {
    finish("cancelled", on_text);
    return false;
  }
  if (static_cast<int64_t>(result_.output_ids.size()) >= max_new_) {
    finish("length", on_text);
    return false;
  }
  return true;
}

void Sequence::finish(const std::string& reason, const TextCallback& on_text) {
  if (finished_) return;
  finished_ = true;
  result_.finish_reason = reason;
  if (cancelled_ || reason == "cancelled") {
    result_.finish_reason = "cancelled";
    return;
  }
  if (reason != "stop" || !stops_.stopped()) release_held_text(on_text);
}

PreparedRequest prepare_request(const Tokenizer& tok, const GenerationRequest& req, int64_t n_ctx) {
  req.sampling.validate();
  PreparedRequest p;
  if (!req.prompt_ids.empty()) {
    for (int32_t id : req.prompt_ids) {
      if (id < 0 || id >= tok.vocab_size()) {
        throw InvalidArgument("prompt token id " + std::to_string(id) +
                              " is outside the vocabulary (size " +
                              std::to_string(tok.vocab_size()) + ")");
      }
    }
    p.prompt_ids = req.prompt_ids;
  } else {
    p.prompt_ids = tok.encode(utf8::sanitize(req.prompt), req.add_special, req.parse_special);
  }
  const int64_t n_prompt = static_cast<int64_t>(p.prompt_ids.size());
  if (n_prompt == 0) throw InvalidArgument("the prompt is empty (it has no tokens)");
  if (n_prompt >= n_ctx) {
    throw InvalidArgument("prompt has " + std::to_string(n_prompt) +
                          " tokens but the context size is " + std::to_string(n_ctx) +
                          " (at least one position must remain for generation)");
  }
  // max_tokens past the context is clamped to what fits (finish_reason "length").
  p.max_new = n_ctx - n_prompt;
  if (req.sampling.max_tokens >= 0)
    p.max_new = std::min<int64_t>(p.max_new, req.sampling.max_tokens);
  return p;
}

}  // namespace packinfer
