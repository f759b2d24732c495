#include "grammar/nfa.h"

#include <algorithm>
#include <string>

#include "grammar/limits.h"
#include "grammar/utf8_ranges.h"
#include "packinfer/error.h"

namespace packinfer::grammar {
namespace {

// Rules with at most this many states are inlined when they are not recursive: a handful of
// characters or alternatives (digits, "true" | "false", a hex escape), not a whole string rule,
// whose token masks are better computed once and shared by every caller.
constexpr size_t kInlineStates = 24;

// The rules each rule's body refers to, in order of first appearance.
std::vector<std::vector<int32_t>> rule_refs(const Grammar& g) {
  std::vector<std::vector<int32_t>> refs(g.rule_names.size());
  std::vector<int32_t> stack;
  for (size_t r = 0; r < g.rule_names.size(); ++r) {
    stack.assign(1, g.rule_body[r]);
    while (!stack.empty()) {
      const Expr& e = g.exprs[static_cast<size_t>(stack.back())];
      stack.pop_back();
      if (e.kind == ExprKind::RuleRef) refs[r].push_back(e.rule);
      for (auto it = e.children.rbegin(); it != e.children.rend(); ++it) stack.push_back(*it);
    }
    std::sort(refs[r].begin(), refs[r].end());
    refs[r].erase(std::unique(refs[r].begin(), refs[r].end()), refs[r].end());
  }
  return refs;
}

// Tarjan's strongly connected components, iteratively (grammars may have thousands of rules in
// a chain). Returns the components callees first, i.e. in reverse topological order.
std::vector<std::vector<int32_t>> components(const std::vector<std::vector<int32_t>>& refs,
                                             const std::vector<bool>& used) {
  const size_t n = refs.size();
  std::vector<int32_t> index(n, -1), low(n, 0);
  std::vector<bool> on_stack(n, false);
  std::vector<int32_t> stack;
  std::vector<std::vector<int32_t>> out;
  int32_t next = 0;
  struct Frame {
    int32_t v;
    size_t edge;
  };
  std::vector<Frame> call;
  for (size_t s = 0; s < n; ++s) {
    if (!used[s] || index[s] >= 0) continue;
    call.push_back({static_cast<int32_t>(s), 0});
    while (!call.empty()) {
      Frame& f = call.back();
      const auto v = static_cast<size_t>(f.v);
      if (f.edge == 0 && index[v] < 0) {
        index[v] = low[v] = next++;
        stack.push_back(f.v);
        on_stack[v] = true;
      }
      if (f.edge < refs[v].size()) {
        const auto w = static_cast<size_t>(refs[v][f.edge++]);
        if (index[w] < 0) {
          call.push_back({static_cast<int32_t>(w), 0});
        } else if (on_stack[w]) {
          low[v] = std::min(low[v], index[w]);
        }
        continue;
      }
      if (low[v] == index[v]) {
        std::vector<int32_t> comp;
        int32_t w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack[static_cast<size_t>(w)] = false;
          comp.push_back(w);
        } while (w != f.v);
        out.push_back(std::move(comp));
      }
      const int32_t done = f.v;
      call.pop_back();
      if (!call.empty()) {
        const auto p = static_cast<size_t>(call.back().v);
        low[p] = std::min(low[p], low[static_cast<size_t>(done)]);
      }
    }
  }
  return out;
}

class Builder {
 public:
  Builder(const Grammar& g, RuleNfas& out, size_t& total) : g_(g), out_(out), total_(total) {}

  Nfa build_rule(int32_t rule) {
    nfa_ = Nfa{};
    const Frag f = build(g_.rule_body[static_cast<size_t>(rule)]);
    nfa_.start = f.start;
    nfa_.accept = f.end;
    return std::move(nfa_);
  }

 private:
  struct Frag {
    int32_t start;
    int32_t end;
  };

  int32_t state() {
    if (++total_ > limits::kMaxNfaStates) {
      throw InvalidArgument("grammar: too large (more than " +
                            std::to_string(limits::kMaxNfaStates) +
                            " automaton states); reduce repetition counts or alternatives");
    }
    nfa_.states.emplace_back();
    return static_cast<int32_t>(nfa_.states.size()) - 1;
  }
  void edge(int32_t from, NfaEdge e) { nfa_.states[static_cast<size_t>(from)].push_back(e); }
  void eps(int32_t from, int32_t to) { edge(from, {NfaEdge::Epsilon, 0, 0, -1, to}); }

  Frag build(int32_t index) {
    const Expr& e = g_.exprs[static_cast<size_t>(index)];
    switch (e.kind) {
      case ExprKind::Empty: {
        const int32_t s = state();
        return {s, s};
      }
      case ExprKind::Literal: {
        const int32_t s = state();
        int32_t cur = s;
        for (char c : e.text) {
          const int32_t n = state();
          const auto b = static_cast<uint8_t>(c);
          edge(cur, {NfaEdge::Bytes, b, b, -1, n});
          cur = n;
        }
        return {s, cur};
      }
      case ExprKind::Chars: {
        const int32_t s = state(), t = state();
        for (const CodepointRange& r : e.ranges) {
          for (const std::vector<ByteRange>& seq : utf8_sequences(r.lo, r.hi)) {
            int32_t cur = s;
            for (size_t k = 0; k < seq.size(); ++k) {
              const int32_t n = k + 1 == seq.size() ? t : state();
              edge(cur, {NfaEdge::Bytes, seq[k].lo, seq[k].hi, -1, n});
              cur = n;
            }
          }
        }
        return {s, t};
      }
      case ExprKind::RuleRef: {
        const auto r = static_cast<size_t>(e.rule);
        const Nfa& callee = out_.rules[r];
        if (!out_.recursive[r] && callee.start >= 0 && callee.states.size() <= kInlineStates) {
          return copy(callee);
        }
        const int32_t s = state(), t = state();
        edge(s, {NfaEdge::Rule, 0, 0, e.rule, t});
        return {s, t};
      }
      case ExprKind::Seq: {
        Frag f = build(e.children[0]);
        for (size_t k = 1; k < e.children.size(); ++k) {
          const Frag next = build(e.children[k]);
          eps(f.end, next.start);
          f.end = next.end;
        }
        return f;
      }
      case ExprKind::Alt: {
        const int32_t s = state(), t = state();
        for (int32_t c : e.children) {
          const Frag f = build(c);
          eps(s, f.start);
          eps(f.end, t);
        }
        return {s, t};
      }
      case ExprKind::Repeat: {
        const int32_t s = state();
        int32_t cur = s;
        for (int32_t k = 0; k < e.min; ++k) {
          const Frag f = build(e.children[0]);
          eps(cur, f.start);
          cur = f.end;
        }
        if (e.max == kUnbounded) {
          const int32_t loop = state();
          eps(cur, loop);
          const Frag f = build(e.children[0]);
          eps(loop, f.start);
          eps(f.end, loop);
          return {s, loop};
        }
        // Nested optionals (x (x (x)?)?)?: each further copy is taken or the repetition ends,
        // so a text has one parse, not one per way of choosing which copies are empty.
        const int32_t end = state();
        for (int32_t k = e.min; k < e.max; ++k) {
          eps(cur, end);
          const Frag f = build(e.children[0]);
          eps(cur, f.start);
          cur = f.end;
        }
        eps(cur, end);
        return {s, end};
      }
    }
    return {state(), state()};
  }

  Frag copy(const Nfa& callee) {
    const auto offset = static_cast<int32_t>(nfa_.states.size());
    for (size_t k = 0; k < callee.states.size(); ++k) {
      state();
      for (NfaEdge e : callee.states[k]) {
        e.target += offset;
        nfa_.states.back().push_back(e);
      }
    }
    return {callee.start + offset, callee.accept + offset};
  }

  const Grammar& g_;
  RuleNfas& out_;
  size_t& total_;
  Nfa nfa_;
};

}  // namespace

RuleNfas build_nfas(const Grammar& g) {
  const size_t n = g.rule_names.size();
  const std::vector<std::vector<int32_t>> refs = rule_refs(g);
  RuleNfas out;
  out.rules.resize(n);
  out.used.assign(n, false);
  out.recursive.assign(n, false);
  std::vector<int32_t> todo = {g.root};
  out.used[static_cast<size_t>(g.root)] = true;
  while (!todo.empty()) {
    const auto r = static_cast<size_t>(todo.back());
    todo.pop_back();
    for (int32_t c : refs[r]) {
      if (!out.used[static_cast<size_t>(c)]) {
        out.used[static_cast<size_t>(c)] = true;
        todo.push_back(c);
      }
    }
  }
  const std::vector<std::vector<int32_t>> comps = components(refs, out.used);
  for (const auto& comp : comps) {
    const auto r0 = static_cast<size_t>(comp[0]);
    const bool self = std::binary_search(refs[r0].begin(), refs[r0].end(), comp[0]);
    if (comp.size() > 1 || self) {
      for (int32_t r : comp) out.recursive[static_cast<size_t>(r)] = true;
    }
  }
  size_t total = 0;
  Builder b(g, out, total);
  for (const auto& comp : comps) {  // callees first: inlinable callees are built before callers
    for (int32_t r : comp) out.rules[static_cast<size_t>(r)] = b.build_rule(r);
  }
  return out;
}

}  // namespace packinfer::grammar
