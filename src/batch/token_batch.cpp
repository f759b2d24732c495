#include "batch/token_batch.h"

#include "packinfer/error.h"

namespace packinfer {

void TokenBatch::add(SequenceKv* kv, std::span<const int32_t> toks, LogitsWanted logits) {
  if (toks.empty()) return;
  for (const BatchSequence& s : sequences) {
    if (s.kv == kv) throw Error("a sequence may appear only once in a token batch");
  }
  BatchSequence s;
  s.kv = kv;
  s.begin = size();
  s.n_tokens = static_cast<int64_t>(toks.size());
  s.pos0 = kv->n_tokens;
  sequences.push_back(s);
  for (size_t i = 0; i < toks.size(); ++i) {
    tokens.push_back(toks[i]);
    positions.push_back(static_cast<int32_t>(s.pos0 + static_cast<int64_t>(i)));
    bool want =
        logits == LogitsWanted::All || (logits == LogitsWanted::Last && i + 1 == toks.size());
    if (want) logit_rows.push_back(s.begin + static_cast<int64_t>(i));
  }
}

void TokenBatch::clear() {
  tokens.clear();
  positions.clear();
  sequences.clear();
  logit_rows.clear();
}

}  // namespace packinfer
