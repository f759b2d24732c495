#include "sched/sequence.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "packinfer/error.h"
#include "tokenizer/utf8.h"

namespace packinfer {
namespace {

constexpr int32_t kMaxForcedRun = 32;  // tokens a grammar may force in one step

}  // namespace

Sequence::Sequence(const Tokenizer& tok, const SamplingParams& params,
                   std::vector<int32_t> prompt_ids, int64_t max_new, int32_t n_vocab,
                   GrammarRun grammar)
    : tok_(tok),
      params_(params),
      sampler_(params, n_vocab),
      detok_(tok, /*render_special=*/false),
      stops_(params.stop),
      history_(prompt_ids),
      max_new_(max_new),
      overlap_(grammar.overlap) {
  result_.prompt_ids = std::move(prompt_ids);
  result_.finish_reason = "length";
  if (grammar.grammar) {
    matcher_ = std::make_unique<grammar::GrammarMatcher>(std::move(grammar.grammar));
    mask_.assign(static_cast<size_t>(matcher_->mask_words()), 0);
    compute_mask();  // here, off the engine thread when a server submits
  }
}

Sequence::~Sequence() {
  if (job_) job_->wait();  // the job writes into this object
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
  forced_ = 0;
  if (matcher_) return accept_constrained(logits, on_text);
  std::vector<float> scratch(logits.begin(), logits.end());
  return take(sampler_.sample(scratch, history_), on_text);
}

void Sequence::compute_mask() {
  matcher_->fill_mask(mask_.data());
  if (params_.ignore_eos) {
    // Past a complete text the grammar may still go on; without end tokens it must.
    for (int32_t id : matcher_->grammar().vocab->end_of_generation())
      mask_[static_cast<size_t>(id >> 6)] &= ~(uint64_t{1} << (id & 63));
  }
  mask_ready_ = true;
}

void Sequence::wait_mask() {
  if (job_) {
    job_->wait();
    job_.reset();
  }
  if (!mask_ready_) compute_mask();
}

int32_t Sequence::single_allowed() const {
  int32_t found = -1;
  for (size_t w = 0; w < mask_.size(); ++w) {
    const uint64_t bits = mask_[w];
    if (bits == 0) continue;
    if (found >= 0 || (bits & (bits - 1)) != 0) return -1;
    found = static_cast<int32_t>(w * 64) + __builtin_ctzll(bits);
  }
  if (found >= 0 && matcher_->grammar().vocab->is_end_of_generation(found)) return -1;
  return found;
}

bool Sequence::take(int32_t id, const TextCallback& on_text) {
  const auto& stop_ids = params_.stop_token_ids;
  if ((!params_.ignore_eos && tok_.is_eog(id)) ||
      std::find(stop_ids.begin(), stop_ids.end(), id) != stop_ids.end()) {
    finish("stop", on_text);
    return false;
  }
  if (matcher_ && !matcher_->accept_token(id)) {
    // The mask allowed it, so the matcher must too: anything else is a bug, not bad input.
    throw Error("grammar: token " + std::to_string(id) + " was allowed but not accepted");
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
  // A complete text that nothing may follow ends here, even on the last allowed token.
  if (matcher_ && matcher_->must_end()) {
    finish("stop", on_text);
    return false;
  }
  if (static_cast<int64_t>(result_.output_ids.size()) >= max_new_) {
    finish("length", on_text);
    return false;
  }
  return true;
}

bool Sequence::accept_constrained(std::span<const float> logits, const TextCallback& on_text) {
  wait_mask();
  mask_ready_ = false;
  int32_t id = single_allowed();
  if (id >= 0) {
    ++forced_;  // the only possible token: no sampling, no random draw
  } else {
    std::vector<float> scratch(logits.begin(), logits.end());
    // Disallowed tokens get -inf, a word of 64 at a time (most words are all one or the other).
    constexpr float kNegInf = -std::numeric_limits<float>::infinity();
    const size_t n = scratch.size();
    for (size_t w = 0; w * 64 < n; ++w) {
      const uint64_t bits = w < mask_.size() ? mask_[w] : 0;
      if (bits == ~uint64_t{0}) continue;
      const size_t end = std::min(n, w * 64 + 64);
      if (bits == 0) {
        std::fill(scratch.begin() + static_cast<std::ptrdiff_t>(w * 64),
                  scratch.begin() + static_cast<std::ptrdiff_t>(end), kNegInf);
        continue;
      }
      for (size_t i = w * 64; i < end; ++i) {
        if (!(bits >> (i & 63) & 1)) scratch[i] = kNegInf;
      }
    }
    id = sampler_.sample(scratch, history_);
    if (id < 0 || static_cast<size_t>(id >> 6) >= mask_.size() ||
        !(mask_[static_cast<size_t>(id >> 6)] >> (id & 63) & 1)) {
      // Every allowed token's logit was NaN or -inf (or no token of this vocabulary can continue
      // the text): the sampler fell back to a token the grammar does not allow.
      finish(matcher_->can_end() ? "stop" : "length", on_text);
      return false;
    }
  }
  if (!take(id, on_text)) return false;
  // Jump-forward: while the grammar leaves exactly one token, take it now; the run is fed to
  // the model in one forward. With overlap, a sampled token's successor mask is left to the
  // worker instead (a run is then noticed at the next step).
  const bool sampled = forced_ == 0;
  if (!(overlap_ && sampled)) {
    for (;;) {
      compute_mask();
      // A bounded run per step keeps decodes small pieces of a forward.
      const int32_t next = forced_ < kMaxForcedRun ? single_allowed() : -1;
      if (next < 0) break;
      mask_ready_ = false;
      ++forced_;
      if (!take(next, on_text)) return false;
    }
  }
  if (!mask_ready_ && overlap_) {
    job_ = grammar::MaskWorker::shared().submit([this] { compute_mask(); });
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

PreparedRequest prepare_request(const Tokenizer& tok, const GenerationRequest& req, int64_t n_ctx,
                                grammar::GrammarCompiler* grammars) {
  req.sampling.validate();
  PreparedRequest p;
  if (req.sampling.structured.kind != StructuredOutput::Kind::None) {
    if (grammars == nullptr) throw InvalidArgument("structured output is not available here");
    p.grammar.grammar = grammars->compile(req.sampling.structured);
    p.grammar.overlap = grammars->overlap();
  }
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
