#include "batch/token_batch.h"

#include <string>

#include "packinfer/error.h"

namespace packinfer {

void TokenBatch::add(std::span<const int32_t> toks, int64_t pos0, std::span<const int32_t> blocks,
                     std::span<const int32_t> rows) {
  if (toks.empty()) return;
  BatchSequence s;
  s.begin = size();
  s.n_tokens = static_cast<int64_t>(toks.size());
  s.pos0 = pos0;
  s.blocks = blocks;
  sequences.push_back(s);
  for (size_t i = 0; i < toks.size(); ++i) {
    tokens.push_back(toks[i]);
    positions.push_back(static_cast<int32_t>(pos0 + static_cast<int64_t>(i)));
  }
  int64_t previous = -1;
  for (int32_t r : rows) {
    if (r <= previous || r >= s.n_tokens) {
      throw Error("logit row " + std::to_string(r) + " is not an ascending index into " +
                  std::to_string(s.n_tokens) + " tokens");
    }
    previous = r;
    logit_rows.push_back(s.begin + r);
  }
}

void TokenBatch::clear() {
  tokens.clear();
  positions.clear();
  sequences.clear();
  logit_rows.clear();
}

}  // namespace packinfer
