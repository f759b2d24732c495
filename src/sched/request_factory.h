#pragma once
// Turns a validated generation request into the scheduler's Request.
#include <cstdint>
#include <memory>

#include "packinfer/generation.h"
#include "sched/request.h"
#include "sched/sequence.h"
#include "tokenizer/tokenizer.h"

namespace packinfer {

// `prepared` comes from prepare_request(tok, generation, n_ctx) (sched/sequence.h).
std::unique_ptr<Request> make_request(uint64_t id, const Tokenizer& tok,
                                      const GenerationRequest& generation, PreparedRequest prepared,
                                      int32_t n_vocab);

}  // namespace packinfer
