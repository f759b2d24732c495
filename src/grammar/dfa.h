#pragma once
// Second stage: each rule's automaton made deterministic (subset construction over bytes and rule
// calls). Alternatives that start alike are then one path: "true" | "trap" reads "tr" once, and
// a class of many UTF-8 sequences is a small tree of byte ranges. Fewer parallel parses at run
// time, and at most one edge per byte.
#include <cstdint>
#include <vector>

#include "grammar/automaton.h"
#include "grammar/nfa.h"

namespace packinfer::grammar {

struct DfaState {
  bool final = false;
  std::vector<ByteEdge> bytes;  // sorted by lo, disjoint
  std::vector<RuleEdge> rules;  // sorted by rule, one per rule
};

struct RuleDfa {
  std::vector<DfaState> states;  // states[0] is the start
};

// `total` counts the states of every rule so far; throws InvalidArgument beyond
// limits::kMaxDfaStates.
RuleDfa determinize(const Nfa& nfa, size_t& total);

}  // namespace packinfer::grammar
