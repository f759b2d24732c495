#include "sched/request_factory.h"

namespace packinfer {

std::unique_ptr<Request> make_request(uint64_t id, const Tokenizer& tok,
                                      const GenerationRequest& generation, PreparedRequest prepared,
                                      int32_t n_vocab) {
  auto r = std::make_unique<Request>();
  r->id = id;
  r->tokens = prepared.prompt_ids;
  r->computed_target = static_cast<int64_t>(prepared.prompt_ids.size());
  r->seq = std::make_unique<Sequence>(tok, generation.sampling, std::move(prepared.prompt_ids),
                                      prepared.max_new, n_vocab, std::move(prepared.grammar));
  return r;
}

}  // namespace packinfer
