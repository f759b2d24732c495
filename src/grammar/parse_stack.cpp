#include "grammar/parse_stack.h"

#include "grammar/limits.h"

namespace packinfer::grammar {

bool FramePool::same(Config a, Config b) const {
  if (a.node != b.node) return false;
  int32_t x = a.frame, y = b.frame;
  while (x != y) {
    if (x < 0 || y < 0) return false;
    const Frame& fx = frames_[static_cast<size_t>(x)];
    const Frame& fy = frames_[static_cast<size_t>(y)];
    if (fx.node != fy.node) return false;
    x = fx.parent;
    y = fy.parent;
  }
  return true;
}

void Closure::run(const Automaton& a, FramePool& pool, std::span<const Config> in,
                  std::vector<Config>& out, StepResult& result) {
  work_.assign(in.begin(), in.end());
  seen_.clear();
  // Work in order (a queue over work_), so configurations come out in a stable order.
  for (size_t w = 0; w < work_.size(); ++w) {
    const Config c = work_[w];
    bool dup = false;
    for (const Config& s : seen_) {
      if (pool.same(s, c)) {
        dup = true;
        break;
      }
    }
    if (dup) continue;
    // Beyond the bound further parses are dropped: the ones kept still only allow valid text.
    if (seen_.size() >= limits::kMaxConfigs) break;
    seen_.push_back(c);
    const Automaton::Node& node = a.nodes[static_cast<size_t>(c.node)];
    if (node.bytes_end > node.bytes_begin) out.push_back(c);
    if (node.rules_end > node.rules_begin) {
      for (uint32_t k = node.rules_begin; k < node.rules_end; ++k) {
        const RuleEdge& e = a.rule_edges[k];
        const int32_t ret = pool.push(e.target, c.frame);
        work_.push_back({a.rule_start[static_cast<size_t>(e.rule)], ret});
      }
    }
    if (node.final) {
      if (c.frame == kRootFrame) {
        result.accepting = true;
      } else if (c.frame == kUnknownFrame) {
        result.popped = true;
      } else {
        const Frame& f = pool[c.frame];
        work_.push_back({f.node, f.parent});
      }
    }
  }
}

void Closure::advance(const Automaton& a, FramePool& pool, std::span<const Config> in, uint8_t b,
                      std::vector<Config>& out, StepResult& result) {
  moved_.clear();
  for (const Config& c : in) {
    const int32_t to = a.step(c.node, b);
    if (to >= 0) moved_.push_back({to, c.frame});
  }
  if (moved_.empty()) return;
  run(a, pool, moved_, out, result);
}

}  // namespace packinfer::grammar
