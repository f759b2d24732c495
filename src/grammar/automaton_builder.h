#pragma once
// Grammar (parsed GBNF) -> Automaton: NFAs with small rules inlined (nfa.h), one DFA per rule
// (dfa.h), then the checks a pushdown automaton needs to be safe to run: the root must accept
// some text (else "empty language"), no rule may be left-recursive (the parser would push
// forever without reading a byte), and parts that can never finish are trimmed away, so from
// every reachable position the text can still be completed.
#include "grammar/automaton.h"
#include "grammar/grammar_ir.h"

namespace packinfer::grammar {

// Throws InvalidArgument naming the rule for an empty language or left recursion, and for
// grammars beyond the size limits.
Automaton compile_automaton(const Grammar& g);

}  // namespace packinfer::grammar
