#pragma once
// A model's vocabulary as the grammar matcher sees it: the bytes each token adds to the text,
// which tokens can never be allowed (control, unknown, unused and user-defined tokens, tokens
// with no text, byte-fallback tokens duplicating a normal token) and which end generation, plus
// a trie of the allowed tokens' bytes.
//
// The trie is stored in depth-first order: node i's subtree is [i, subtree_end[i]), so a walk
// skips a dead branch in one step, and a token list sorted by bytes is a range of nodes.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace packinfer::grammar {

class Vocabulary {
 public:
  // tokens[id] = the token's bytes; allowed[id] = false for tokens that never match a grammar.
  Vocabulary(std::vector<std::string> tokens, std::vector<bool> allowed,
             std::vector<int32_t> end_of_generation);
  static std::shared_ptr<const Vocabulary> from_tokenizer(const Tokenizer& tok);

  int32_t size() const { return static_cast<int32_t>(tokens_.size()); }
  std::string_view bytes(int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
  bool allowed(int32_t id) const { return allowed_[static_cast<size_t>(id)]; }
  const std::vector<int32_t>& end_of_generation() const { return eog_; }
  bool is_end_of_generation(int32_t id) const;
  // Identifies the vocabulary's contents (cache key).
  uint64_t fingerprint() const { return fingerprint_; }

  // --- the trie (node 0 is the root, the empty prefix) ---
  int32_t n_nodes() const { return static_cast<int32_t>(byte_.size()); }
  uint8_t node_byte(int32_t i) const { return byte_[static_cast<size_t>(i)]; }
  int32_t node_depth(int32_t i) const { return depth_[static_cast<size_t>(i)]; }
  int32_t subtree_end(int32_t i) const { return end_[static_cast<size_t>(i)]; }
  // Tokens whose bytes end exactly at node i: sorted_tokens()[first_token(i) .. first_token(i+1)).
  // Since nodes are in depth-first order, the tokens of subtree [i, j) are
  // sorted_tokens()[first_token(i) .. first_token(j)).
  int32_t first_token(int32_t i) const { return token_begin_[static_cast<size_t>(i)]; }
  const std::vector<int32_t>& sorted_tokens() const { return sorted_; }
  int32_t max_token_bytes() const { return max_len_; }

 private:
  std::vector<std::string> tokens_;
  std::vector<bool> allowed_;
  std::vector<int32_t> eog_;
  uint64_t fingerprint_ = 0;
  std::vector<uint8_t> byte_;
  std::vector<int32_t> depth_;
  std::vector<int32_t> end_;
  std::vector<int32_t> token_begin_;  // n_nodes + 1 entries
  std::vector<int32_t> sorted_;       // allowed tokens sorted by bytes (ties by id)
  int32_t max_len_ = 0;
};

}  // namespace packinfer::grammar
