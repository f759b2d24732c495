#pragma once
// Nodes whose token tables are necessarily equal, so each table is computed once. A token is at
// most K bytes long, so two nodes that nothing within K bytes tells apart (same finality, and
// byte successors alike within K-1 bytes) accept, reject and leave uncertain the same tokens.
// This is Moore's partition refinement stopped after K rounds. It matters for bounded
// repetition: the states of "a string of at most 500 characters" differ only near the bound,
// and all but the last K share one table. Nodes that call rules are never merged (the
// refinement does not look into callees).
#include <cstdint>
#include <vector>

#include "grammar/automaton.h"

namespace packinfer::grammar {

// A class id per node (equal ids: equal tables). `lookahead` is the longest token in bytes.
std::vector<int32_t> token_equivalence_classes(const Automaton& a, int32_t lookahead);

}  // namespace packinfer::grammar
