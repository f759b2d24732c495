#pragma once
// The precomputed part of token masks (XGrammar's adaptive token mask cache). For every node that
// reads bytes, each vocabulary token is matched from that node alone, not knowing what lies
// below it on the stack:
//  - accepted: the token's bytes fit inside the node's rule (and the rules it calls), or finish
//    it exactly at the token's end: allowed whatever the context;
//  - rejected: every way of reading it fails inside the rule: never allowed;
//  - uncertain: the rule finishes in the middle of the token, at byte `offset`; whether the rest
//    is allowed depends on the caller, so it is checked at run time from the real stack.
// Each node's tokens are found by one walk over the vocabulary trie, pruned where no parse
// survives. At run time a mask is then an OR of precomputed sets plus a check of the (few)
// uncertain tokens.
#include <cstdint>
#include <span>
#include <vector>

#include "grammar/automaton.h"
#include "grammar/vocabulary.h"

namespace packinfer::grammar {

struct UncertainToken {
  int32_t token;
  int32_t offset;  // bytes [0, offset) finish the node's rule; the rest is up to the caller
};

class TokenTables {
 public:
  TokenTables(const Automaton& a, const Vocabulary& v);

  int32_t n_words() const { return n_words_; }
  // ORs the tokens `node` accepts into a mask of n_words() words.
  void add_accepted(int32_t node, uint64_t* mask) const;
  int64_t n_accepted(int32_t node) const;
  // Sorted by the bytes from `offset` on, so tokens that continue alike are checked together.
  std::span<const UncertainToken> uncertain(int32_t node) const;
  size_t memory_bytes() const;
  int32_t n_tables() const { return static_cast<int32_t>(tables_.size()); }

 private:
  struct Table {
    int32_t bitset = -1;  // index of its bitset, or -1: the accepted tokens are a list
    uint32_t list_begin = 0, list_end = 0;
    uint32_t uncertain_begin = 0, uncertain_end = 0;
  };
  int32_t n_words_ = 0;
  std::vector<int32_t> table_of_;  // per node, -1 for nodes that read no bytes
  std::vector<Table> tables_;      // nodes that behave alike share one
  std::vector<uint64_t> bitsets_;
  std::vector<int32_t> lists_;
  std::vector<UncertainToken> uncertain_;
};

}  // namespace packinfer::grammar
