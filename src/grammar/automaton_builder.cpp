#include "grammar/automaton_builder.h"

#include <algorithm>
#include <string>

#include "grammar/dfa.h"
#include "grammar/nfa.h"
#include "packinfer/error.h"

namespace packinfer::grammar {
namespace {

using Dfas = std::vector<RuleDfa>;

// Rules that can finish: their start reaches a final state through bytes and calls of rules
// that can finish (a least fixpoint, re-checking a rule's callers when it becomes productive).
// With `nullable`, paths may not read bytes: rules that can finish without reading anything.
std::vector<bool> finishing_rules(const Dfas& dfas, const std::vector<bool>& used, bool nullable) {
  const size_t n = dfas.size();
  std::vector<bool> ok(n, false);
  std::vector<std::vector<int32_t>> callers(n);
  for (size_t r = 0; r < n; ++r) {
    if (!used[r]) continue;
    for (const DfaState& s : dfas[r].states) {
      for (const RuleEdge& e : s.rules)
        callers[static_cast<size_t>(e.rule)].push_back(static_cast<int32_t>(r));
    }
  }
  for (auto& c : callers) {
    std::sort(c.begin(), c.end());
    c.erase(std::unique(c.begin(), c.end()), c.end());
  }
  auto check = [&](size_t r) {
    const auto& states = dfas[r].states;
    std::vector<bool> seen(states.size(), false);
    std::vector<int32_t> stack = {0};
    seen[0] = true;
    while (!stack.empty()) {
      const DfaState& s = states[static_cast<size_t>(stack.back())];
      stack.pop_back();
      if (s.final) return true;
      auto visit = [&](int32_t t) {
        if (!seen[static_cast<size_t>(t)]) {
          seen[static_cast<size_t>(t)] = true;
          stack.push_back(t);
        }
      };
      if (!nullable) {
        for (const ByteEdge& e : s.bytes) visit(e.target);
      }
      for (const RuleEdge& e : s.rules) {
        if (ok[static_cast<size_t>(e.rule)]) visit(e.target);
      }
    }
    return false;
  };
  std::vector<int32_t> todo;
  for (size_t r = 0; r < n; ++r) {
    if (used[r]) todo.push_back(static_cast<int32_t>(r));
  }
  while (!todo.empty()) {
    const auto r = static_cast<size_t>(todo.back());
    todo.pop_back();
    if (ok[r] || !check(r)) continue;
    ok[r] = true;
    for (int32_t c : callers[r]) {
      if (!ok[static_cast<size_t>(c)]) todo.push_back(c);
    }
  }
  return ok;
}

// Keeps the states on some path from the start to a final state (through productive calls
// only), renumbered with the start first.
void trim(RuleDfa& dfa, const std::vector<bool>& productive) {
  const size_t n = dfa.states.size();
  std::vector<std::vector<int32_t>> preds(n);
  std::vector<bool> fwd(n, false), back(n, false);
  std::vector<int32_t> stack = {0};
  fwd[0] = true;
  auto targets = [&](const DfaState& s, auto&& fn) {
    for (const ByteEdge& e : s.bytes) fn(e.target);
    for (const RuleEdge& e : s.rules) {
      if (productive[static_cast<size_t>(e.rule)]) fn(e.target);
    }
  };
  while (!stack.empty()) {
    const int32_t v = stack.back();
    stack.pop_back();
    targets(dfa.states[static_cast<size_t>(v)], [&](int32_t t) {
      preds[static_cast<size_t>(t)].push_back(v);
      if (!fwd[static_cast<size_t>(t)]) {
        fwd[static_cast<size_t>(t)] = true;
        stack.push_back(t);
      }
    });
  }
  for (size_t v = 0; v < n; ++v) {
    if (fwd[v] && dfa.states[v].final) {
      back[v] = true;
      stack.push_back(static_cast<int32_t>(v));
    }
  }
  while (!stack.empty()) {
    const int32_t v = stack.back();
    stack.pop_back();
    for (int32_t p : preds[static_cast<size_t>(v)]) {
      if (!back[static_cast<size_t>(p)]) {
        back[static_cast<size_t>(p)] = true;
        stack.push_back(p);
      }
    }
  }
  std::vector<int32_t> id(n, -1);
  int32_t next = 0;
  for (size_t v = 0; v < n; ++v) {
    if (fwd[v] && back[v]) id[v] = next++;
  }
  RuleDfa out;
  for (size_t v = 0; v < n; ++v) {
    if (id[v] < 0) continue;
    DfaState s;
    s.final = dfa.states[v].final;
    for (const ByteEdge& e : dfa.states[v].bytes) {
      if (id[static_cast<size_t>(e.target)] >= 0)
        s.bytes.push_back({e.lo, e.hi, id[static_cast<size_t>(e.target)]});
    }
    for (const RuleEdge& e : dfa.states[v].rules) {
      if (productive[static_cast<size_t>(e.rule)] && id[static_cast<size_t>(e.target)] >= 0)
        s.rules.push_back({e.rule, id[static_cast<size_t>(e.target)]});
    }
    out.states.push_back(std::move(s));
  }
  dfa = std::move(out);
}

std::vector<bool> reachable_rules(const Dfas& dfas, int32_t root) {
  std::vector<bool> used(dfas.size(), false);
  std::vector<int32_t> stack = {root};
  used[static_cast<size_t>(root)] = true;
  while (!stack.empty()) {
    const auto r = static_cast<size_t>(stack.back());
    stack.pop_back();
    for (const DfaState& s : dfas[r].states) {
      for (const RuleEdge& e : s.rules) {
        if (!used[static_cast<size_t>(e.rule)]) {
          used[static_cast<size_t>(e.rule)] = true;
          stack.push_back(e.rule);
        }
      }
    }
  }
  return used;
}

// Left recursion: a rule that can call itself (through other rules) before reading a byte. The
// pushdown automaton would push forever, so it is refused with the cycle spelled out.
void check_left_recursion(const Dfas& dfas, const std::vector<bool>& used,
                          const std::vector<bool>& nullable,
                          const std::vector<std::string>& names) {
  const size_t n = dfas.size();
  std::vector<std::vector<int32_t>> left(n);
  for (size_t r = 0; r < n; ++r) {
    if (!used[r]) continue;
    const auto& states = dfas[r].states;
    std::vector<bool> seen(states.size(), false);
    std::vector<int32_t> stack = {0};
    seen[0] = true;
    while (!stack.empty()) {
      const DfaState& s = states[static_cast<size_t>(stack.back())];
      stack.pop_back();
      for (const RuleEdge& e : s.rules) {
        left[r].push_back(e.rule);
        if (nullable[static_cast<size_t>(e.rule)] && !seen[static_cast<size_t>(e.target)]) {
          seen[static_cast<size_t>(e.target)] = true;
          stack.push_back(e.target);
        }
      }
    }
  }
  // Depth-first search for a cycle, iteratively; colour 1 = on the current path.
  std::vector<uint8_t> colour(n, 0);
  std::vector<std::pair<int32_t, size_t>> path;
  for (size_t s = 0; s < n; ++s) {
    if (!used[s] || colour[s] != 0) continue;
    path.push_back({static_cast<int32_t>(s), 0});
    colour[s] = 1;
    while (!path.empty()) {
      auto& [v, k] = path.back();
      const auto& out = left[static_cast<size_t>(v)];
      if (k == out.size()) {
        colour[static_cast<size_t>(v)] = 2;
        path.pop_back();
        continue;
      }
      const int32_t w = out[k++];
      if (colour[static_cast<size_t>(w)] == 1) {
        std::string cycle;
        size_t from = 0;
        while (path[from].first != w) ++from;
        for (size_t i = from; i < path.size(); ++i)
          cycle += names[static_cast<size_t>(path[i].first)] + " -> ";
        cycle += names[static_cast<size_t>(w)];
        throw InvalidArgument("grammar: rule '" + names[static_cast<size_t>(w)] +
                              "' is left-recursive (" + cycle +
                              " before reading any character); rewrite it with repetition, "
                              "e.g. x ::= y (\"+\" y)*");
      }
      if (colour[static_cast<size_t>(w)] == 0) {
        colour[static_cast<size_t>(w)] = 1;
        path.push_back({w, 0});
      }
    }
  }
}

void build_byte_classes(Automaton& a) {
  std::array<bool, 257> boundary{};
  boundary[0] = true;
  for (const ByteEdge& e : a.byte_edges) {
    boundary[e.lo] = true;
    boundary[static_cast<size_t>(e.hi) + 1] = true;
  }
  int32_t cls = -1;
  for (int b = 0; b < 256; ++b) {
    if (boundary[static_cast<size_t>(b)]) ++cls;
    a.byte_class[static_cast<size_t>(b)] = static_cast<uint8_t>(cls);
  }
  a.n_classes = cls + 1;
  a.next.assign(a.nodes.size() * static_cast<size_t>(a.n_classes), -1);
  for (size_t v = 0; v < a.nodes.size(); ++v) {
    const Automaton::Node& node = a.nodes[v];
    for (uint32_t k = node.bytes_begin; k < node.bytes_end; ++k) {
      const ByteEdge& e = a.byte_edges[k];
      for (int b = e.lo; b <= e.hi; ++b) {
        a.next[v * static_cast<size_t>(a.n_classes) + a.byte_class[static_cast<size_t>(b)]] =
            e.target;
      }
    }
  }
}

}  // namespace

Automaton compile_automaton(const Grammar& g) {
  const RuleNfas nfas = build_nfas(g);
  const size_t n = g.rule_names.size();
  Dfas dfas(n);
  size_t total = 0;
  for (size_t r = 0; r < n; ++r) {
    if (nfas.used[r]) dfas[r] = determinize(nfas.rules[r], total);
  }
  std::vector<bool> used = reachable_rules(dfas, g.root);
  const std::vector<bool> productive = finishing_rules(dfas, used, false);
  if (!productive[static_cast<size_t>(g.root)]) {
    // Name the rules that can never finish, so the author sees where the loop is.
    std::string stuck;
    int listed = 0;
    for (size_t r = 0; r < n && listed < 5; ++r) {
      if (used[r] && !productive[r]) {
        stuck += (listed++ ? ", '" : "'") + g.rule_names[r] + "'";
      }
    }
    throw InvalidArgument(
        "grammar: the grammar accepts no text at all (empty language): rule "
        "'root' can never finish; rules that never finish: " +
        stuck);
  }
  for (size_t r = 0; r < n; ++r) {
    if (used[r] && productive[r]) trim(dfas[r], productive);
  }
  used = reachable_rules(dfas, g.root);
  const std::vector<bool> nullable = finishing_rules(dfas, used, true);
  check_left_recursion(dfas, used, nullable, g.rule_names);

  Automaton a;
  a.rule_names = g.rule_names;
  a.rule_start.assign(n, -1);
  a.root = g.root;
  for (size_t r = 0; r < n; ++r) {
    if (!used[r]) continue;
    a.rule_start[r] = static_cast<int32_t>(a.nodes.size());
    a.nodes.resize(a.nodes.size() + dfas[r].states.size());
  }
  for (size_t r = 0; r < n; ++r) {
    if (!used[r]) continue;
    const int32_t base = a.rule_start[r];
    for (size_t k = 0; k < dfas[r].states.size(); ++k) {
      const DfaState& s = dfas[r].states[k];
      Automaton::Node& node = a.nodes[static_cast<size_t>(base) + k];
      node.rule = static_cast<int32_t>(r);
      node.final = s.final;
      node.bytes_begin = static_cast<uint32_t>(a.byte_edges.size());
      for (const ByteEdge& e : s.bytes) a.byte_edges.push_back({e.lo, e.hi, e.target + base});
      node.bytes_end = static_cast<uint32_t>(a.byte_edges.size());
      node.rules_begin = static_cast<uint32_t>(a.rule_edges.size());
      for (const RuleEdge& e : s.rules) a.rule_edges.push_back({e.rule, e.target + base});
      node.rules_end = static_cast<uint32_t>(a.rule_edges.size());
    }
  }
  build_byte_classes(a);
  return a;
}

}  // namespace packinfer::grammar
