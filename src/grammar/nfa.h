#pragma once
// First compilation stage: every rule's expression tree becomes a nondeterministic automaton
// over bytes (Thompson construction), whose edges read a byte range, call another rule or read
// nothing. Small rules that are not recursive are inlined into their callers (one automaton
// instead of a call: fewer parse stacks and cheaper token masks).
#include <cstdint>
#include <vector>

#include "grammar/grammar_ir.h"

namespace packinfer::grammar {

struct NfaEdge {
  enum Kind : uint8_t { Epsilon, Bytes, Rule };
  Kind kind = Epsilon;
  uint8_t lo = 0;
  uint8_t hi = 0;
  int32_t rule = -1;
  int32_t target = -1;
};

struct Nfa {
  std::vector<std::vector<NfaEdge>> states;
  int32_t start = -1;
  int32_t accept = -1;  // the one final state
};

struct RuleNfas {
  std::vector<Nfa> rules;       // indexed like Grammar::rule_names; empty when unused
  std::vector<bool> used;       // reachable from the root (before inlining)
  std::vector<bool> recursive;  // calls itself, directly or not
};

// Throws InvalidArgument when the automata would exceed limits::kMaxNfaStates.
RuleNfas build_nfas(const Grammar& g);

}  // namespace packinfer::grammar
