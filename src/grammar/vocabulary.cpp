#include "grammar/vocabulary.h"

#include <algorithm>
#include <unordered_set>

namespace packinfer::grammar {

Vocabulary::Vocabulary(std::vector<std::string> tokens, std::vector<bool> allowed,
                       std::vector<int32_t> end_of_generation)
    : tokens_(std::move(tokens)), allowed_(std::move(allowed)), eog_(std::move(end_of_generation)) {
  allowed_.resize(tokens_.size(), false);
  std::sort(eog_.begin(), eog_.end());
  eog_.erase(std::unique(eog_.begin(), eog_.end()), eog_.end());
  std::erase_if(eog_, [this](int32_t id) { return id < 0 || id >= size(); });
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint64_t x) { h = (h ^ x) * 1099511628211ull; };
  for (size_t id = 0; id < tokens_.size(); ++id) {
    if (tokens_[id].empty()) allowed_[id] = false;
    for (char c : tokens_[id]) mix(static_cast<uint8_t>(c));
    mix(0x100 + (allowed_[id] ? 1 : 0));
    if (allowed_[id]) {
      sorted_.push_back(static_cast<int32_t>(id));
      max_len_ = std::max(max_len_, static_cast<int32_t>(tokens_[id].size()));
    }
  }
  for (int32_t id : eog_) mix(0x200 + static_cast<uint64_t>(id));
  fingerprint_ = h;
  std::sort(sorted_.begin(), sorted_.end(), [this](int32_t a, int32_t b) {
    const int c = tokens_[static_cast<size_t>(a)].compare(tokens_[static_cast<size_t>(b)]);
    return c != 0 ? c < 0 : a < b;
  });
  // Depth-first node order falls out of the sorted order: each token adds the nodes of its bytes
  // beyond the prefix it shares with the previous token.
  byte_.push_back(0);
  depth_.push_back(0);
  token_begin_.push_back(0);
  std::vector<int32_t> path = {0};  // node at each depth of the previous token
  std::string_view prev;
  for (size_t k = 0; k < sorted_.size(); ++k) {
    const std::string_view t = tokens_[static_cast<size_t>(sorted_[k])];
    size_t lcp = 0;
    while (lcp < t.size() && lcp < prev.size() && t[lcp] == prev[lcp]) ++lcp;
    path.resize(lcp + 1);
    for (size_t d = lcp; d < t.size(); ++d) {
      byte_.push_back(static_cast<uint8_t>(t[d]));
      depth_.push_back(static_cast<int32_t>(d + 1));
      token_begin_.push_back(static_cast<int32_t>(k));
      path.push_back(static_cast<int32_t>(byte_.size()) - 1);
    }
    prev = t;
  }
  token_begin_.push_back(static_cast<int32_t>(sorted_.size()));
  // A token's entry starts at its own node: token_begin_ of node i is the first sorted token
  // whose bytes pass through i, which (sorted order) is the one that ends there if any.
  // Subtree ends: the next node at the same or a lower depth.
  const auto n = static_cast<int32_t>(byte_.size());
  end_.assign(static_cast<size_t>(n), n);
  std::vector<int32_t> open;
  for (int32_t i = 0; i < n; ++i) {
    while (!open.empty() &&
           depth_[static_cast<size_t>(open.back())] >= depth_[static_cast<size_t>(i)]) {
      end_[static_cast<size_t>(open.back())] = i;
      open.pop_back();
    }
    open.push_back(i);
  }
}

bool Vocabulary::is_end_of_generation(int32_t id) const {
  return std::binary_search(eog_.begin(), eog_.end(), id);
}

std::shared_ptr<const Vocabulary> Vocabulary::from_tokenizer(const Tokenizer& tok) {
  const int32_t n = tok.vocab_size();
  std::vector<std::string> tokens(static_cast<size_t>(n));
  std::vector<bool> allowed(static_cast<size_t>(n), false);
  std::unordered_set<std::string> normal;
  for (int32_t id = 0; id < n; ++id) {
    const TokenType type = tok.token_type(id);
    // Only text tokens: control and user-defined tokens are markers (<|im_start|>), not text a
    // grammar describes, and unknown/unused tokens print nothing or garbage.
    if (type != TokenType::NORMAL && type != TokenType::BYTE) continue;
    tokens[static_cast<size_t>(id)] = tok.token_to_piece(id, /*render_special=*/false);
    allowed[static_cast<size_t>(id)] = !tokens[static_cast<size_t>(id)].empty();
    if (type == TokenType::NORMAL) normal.insert(tokens[static_cast<size_t>(id)]);
  }
  // A byte-fallback token that spells what a normal token spells ("<0x7E>" and "~") is what the
  // tokenizer never writes: leave it out, so a forced character is one token, not a choice.
  for (int32_t id = 0; id < n; ++id) {
    if (tok.token_type(id) == TokenType::BYTE && normal.count(tokens[static_cast<size_t>(id)]))
      allowed[static_cast<size_t>(id)] = false;
  }
  return std::make_shared<const Vocabulary>(std::move(tokens), std::move(allowed), tok.eog_ids());
}

}  // namespace packinfer::grammar
