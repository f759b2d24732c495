#include "grammar/dfa.h"

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>

#include "grammar/limits.h"
#include "packinfer/error.h"

namespace packinfer::grammar {
namespace {

struct SetHash {
  size_t operator()(const std::vector<int32_t>& v) const {
    uint64_t h = 1469598103934665603ull;
    for (int32_t x : v) h = (h ^ static_cast<uint32_t>(x)) * 1099511628211ull;
    return static_cast<size_t>(h);
  }
};

class Determinizer {
 public:
  Determinizer(const Nfa& nfa, size_t& total)
      : nfa_(nfa), total_(total), mark_(nfa.states.size(), 0) {}

  RuleDfa run() {
    std::vector<int32_t> start = {nfa_.start};
    intern(closure(start));
    for (size_t i = 0; i < sets_.size(); ++i) expand(i);
    return std::move(dfa_);
  }

 private:
  // The states reachable from `seeds` by epsilon edges, sorted.
  std::vector<int32_t> closure(const std::vector<int32_t>& seeds) {
    ++stamp_;
    std::vector<int32_t> out, stack;
    for (int32_t s : seeds) {
      if (mark_[static_cast<size_t>(s)] != stamp_) {
        mark_[static_cast<size_t>(s)] = stamp_;
        stack.push_back(s);
      }
    }
    while (!stack.empty()) {
      const int32_t s = stack.back();
      stack.pop_back();
      out.push_back(s);
      for (const NfaEdge& e : nfa_.states[static_cast<size_t>(s)]) {
        if (e.kind == NfaEdge::Epsilon && mark_[static_cast<size_t>(e.target)] != stamp_) {
          mark_[static_cast<size_t>(e.target)] = stamp_;
          stack.push_back(e.target);
        }
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  int32_t intern(std::vector<int32_t> set) {
    auto it = ids_.find(set);
    if (it != ids_.end()) return it->second;
    if (++total_ > limits::kMaxDfaStates) {
      throw InvalidArgument("grammar: too large (more than " +
                            std::to_string(limits::kMaxDfaStates) +
                            " automaton states after determinization)");
    }
    const auto id = static_cast<int32_t>(sets_.size());
    DfaState st;
    st.final = std::binary_search(set.begin(), set.end(), nfa_.accept);
    dfa_.states.push_back(std::move(st));
    ids_.emplace(set, id);
    sets_.push_back(std::move(set));
    return id;
  }

  void expand(size_t i) {
    struct Range {
      uint8_t lo, hi;
      int32_t target;
    };
    std::vector<Range> ranges;
    std::map<int32_t, std::vector<int32_t>> calls;
    for (int32_t s : sets_[i]) {
      for (const NfaEdge& e : nfa_.states[static_cast<size_t>(s)]) {
        if (e.kind == NfaEdge::Bytes) ranges.push_back({e.lo, e.hi, e.target});
        if (e.kind == NfaEdge::Rule) calls[e.rule].push_back(e.target);
      }
    }
    // Elementary intervals: between consecutive range boundaries the target set is constant.
    std::vector<int> bounds;
    for (const Range& r : ranges) {
      bounds.push_back(r.lo);
      bounds.push_back(r.hi + 1);
    }
    std::sort(bounds.begin(), bounds.end());
    bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
    std::sort(ranges.begin(), ranges.end(),
              [](const Range& a, const Range& b) { return a.lo < b.lo; });
    std::vector<ByteEdge> edges;
    std::vector<Range> active;
    size_t next = 0;
    std::vector<int32_t> targets;
    for (size_t k = 0; k + 1 < bounds.size(); ++k) {
      const int a = bounds[k], b = bounds[k + 1] - 1;
      while (next < ranges.size() && ranges[next].lo <= a) active.push_back(ranges[next++]);
      std::erase_if(active, [a](const Range& r) { return r.hi < a; });
      if (active.empty()) continue;
      targets.clear();
      for (const Range& r : active) targets.push_back(r.target);
      std::sort(targets.begin(), targets.end());
      targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
      const int32_t to = intern(closure(targets));
      if (!edges.empty() && edges.back().target == to && edges.back().hi + 1 == a) {
        edges.back().hi = static_cast<uint8_t>(b);
      } else {
        edges.push_back({static_cast<uint8_t>(a), static_cast<uint8_t>(b), to});
      }
    }
    std::vector<RuleEdge> rules;
    for (auto& [rule, tgts] : calls) rules.push_back({rule, intern(closure(tgts))});
    // intern() may have grown the vector: index again.
    dfa_.states[i].bytes = std::move(edges);
    dfa_.states[i].rules = std::move(rules);
  }

  const Nfa& nfa_;
  size_t& total_;
  std::vector<uint32_t> mark_;
  uint32_t stamp_ = 0;
  std::vector<std::vector<int32_t>> sets_;
  std::unordered_map<std::vector<int32_t>, int32_t, SetHash> ids_;
  RuleDfa dfa_;
};

}  // namespace

RuleDfa determinize(const Nfa& nfa, size_t& total) { return Determinizer(nfa, total).run(); }

}  // namespace packinfer::grammar
