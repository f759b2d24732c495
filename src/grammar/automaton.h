#pragma once
// The compiled grammar: one deterministic automaton over bytes per rule, joined into a pushdown
// automaton. A node is a position inside a rule; its edges read a byte range (at most one edge
// per byte: the rule automata are deterministic) or call a rule (push the return node, go to
// the callee's start). A final node may return to the caller. Immutable once built; shared by
// every matcher of the grammar, from any thread.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace packinfer::grammar {

struct ByteEdge {
  uint8_t lo = 0;
  uint8_t hi = 0;
  int32_t target = -1;
};

struct RuleEdge {
  int32_t rule = -1;
  int32_t target = -1;
};

struct Automaton {
  struct Node {
    int32_t rule = -1;
    bool final = false;
    uint32_t bytes_begin = 0, bytes_end = 0;  // into byte_edges, sorted by lo
    uint32_t rules_begin = 0, rules_end = 0;  // into rule_edges
  };
  std::vector<Node> nodes;
  std::vector<ByteEdge> byte_edges;
  std::vector<RuleEdge> rule_edges;
  std::vector<int32_t> rule_start;  // node where each rule begins
  std::vector<std::string> rule_names;
  int32_t root = -1;  // the root rule

  // Byte transitions as a table over byte classes (bytes no edge tells apart share a class).
  std::array<uint8_t, 256> byte_class{};
  int32_t n_classes = 1;
  std::vector<int32_t> next;  // [node][class] -> node, -1 when no edge

  int32_t step(int32_t node, uint8_t b) const {
    return next[static_cast<size_t>(node) * static_cast<size_t>(n_classes) + byte_class[b]];
  }
  bool reads_bytes(int32_t node) const {
    const Node& n = nodes[static_cast<size_t>(node)];
    return n.bytes_end > n.bytes_begin;
  }
  bool calls_rules(int32_t node) const {
    const Node& n = nodes[static_cast<size_t>(node)];
    return n.rules_end > n.rules_begin;
  }
};

}  // namespace packinfer::grammar
