#include "grammar/token_classes.h"

#include <unordered_map>

namespace packinfer::grammar {

std::vector<int32_t> token_equivalence_classes(const Automaton& a, int32_t lookahead) {
  const size_t n = a.nodes.size();
  std::vector<int32_t> cls(n);
  // Round 0: finality; every node that calls rules is alone.
  int32_t n_classes = 2;
  for (size_t v = 0; v < n; ++v) {
    cls[v] = a.calls_rules(static_cast<int32_t>(v)) ? n_classes++ : (a.nodes[v].final ? 1 : 0);
  }
  // A node's signature: its class and its byte edges with their targets' classes (two nodes
  // with differently split but equivalent edges stay apart: fewer merges, never a wrong one).
  // Signatures are hashed; a hash hit is confirmed against the class's first node, so a
  // collision never merges two nodes.
  auto same = [&](size_t v, size_t w) {
    if (cls[v] != cls[w]) return false;
    if (a.calls_rules(static_cast<int32_t>(v)) || a.calls_rules(static_cast<int32_t>(w)))
      return v == w;
    const Automaton::Node& x = a.nodes[v];
    const Automaton::Node& y = a.nodes[w];
    if (x.bytes_end - x.bytes_begin != y.bytes_end - y.bytes_begin) return false;
    for (uint32_t k = 0; k < x.bytes_end - x.bytes_begin; ++k) {
      const ByteEdge& e = a.byte_edges[x.bytes_begin + k];
      const ByteEdge& f = a.byte_edges[y.bytes_begin + k];
      if (e.lo != f.lo || e.hi != f.hi ||
          cls[static_cast<size_t>(e.target)] != cls[static_cast<size_t>(f.target)])
        return false;
    }
    return true;
  };
  std::unordered_map<uint64_t, int32_t> first_of;  // hash -> class id
  std::vector<size_t> rep;                         // class id -> its first node
  std::vector<int32_t> next(n);
  for (int32_t round = 0; round < lookahead; ++round) {
    first_of.clear();
    rep.clear();
    for (size_t v = 0; v < n; ++v) {
      uint64_t h = 1469598103934665603ull ^ static_cast<uint32_t>(cls[v]);
      if (!a.calls_rules(static_cast<int32_t>(v))) {
        const Automaton::Node& x = a.nodes[v];
        for (uint32_t k = x.bytes_begin; k < x.bytes_end; ++k) {
          const ByteEdge& e = a.byte_edges[k];
          const uint64_t word = (uint64_t{e.lo} << 40) | (uint64_t{e.hi} << 32) |
                                static_cast<uint32_t>(cls[static_cast<size_t>(e.target)]);
          h = (h ^ word) * 1099511628211ull;
        }
      }
      for (;; ++h) {  // open addressing over hash values
        auto [it, fresh] = first_of.emplace(h, static_cast<int32_t>(rep.size()));
        if (fresh) {
          rep.push_back(v);
          next[v] = it->second;
          break;
        }
        if (same(v, rep[static_cast<size_t>(it->second)])) {
          next[v] = it->second;
          break;
        }
      }
    }
    const auto refined = static_cast<int32_t>(rep.size());
    cls.swap(next);
    if (refined == n_classes) break;  // stable: further rounds change nothing
    n_classes = refined;
  }
  return cls;
}

}  // namespace packinfer::grammar
