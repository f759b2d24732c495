#pragma once
// Running the pushdown automaton. A parse configuration is the current node plus the stack of
// return nodes below it; stacks are persistent (a frame is (return node, frame below), shared by
// every configuration that grew from it), so advancing a configuration never copies its stack.
// A matcher state is a small set of configurations (ambiguous grammars have several parses)
// whose nodes all read bytes: calls are expanded and finished rules returned from eagerly
// ("closure"), so the next byte is one table lookup per configuration.
#include <cstdint>
#include <span>
#include <vector>

#include "grammar/automaton.h"

namespace packinfer::grammar {

// Special frame ids below every real one.
inline constexpr int32_t kRootFrame = -1;     // returning from here finishes the root rule
inline constexpr int32_t kUnknownFrame = -2;  // precomputation: the context is not known

struct Config {
  int32_t node = -1;
  int32_t frame = kRootFrame;  // where the current rule returns to
};

struct Frame {
  int32_t node;    // return node in the caller
  int32_t parent;  // frame below
};

// Frames are only ever appended; a caller that explores (token masks) truncates back to a mark.
class FramePool {
 public:
  int32_t push(int32_t node, int32_t parent) {
    frames_.push_back({node, parent});
    return static_cast<int32_t>(frames_.size()) - 1;
  }
  const Frame& operator[](int32_t id) const { return frames_[static_cast<size_t>(id)]; }
  size_t size() const { return frames_.size(); }
  void truncate(size_t n) { frames_.resize(n); }
  void clear() { frames_.clear(); }
  // Two configurations are the same parse when their nodes and whole stacks are equal.
  bool same(Config a, Config b) const;

 private:
  std::vector<Frame> frames_;
};

struct StepResult {
  bool accepting = false;  // some parse finished the root rule
  bool popped = false;     // some parse returned into kUnknownFrame
};

// Rewrites configurations into byte-reading ones: calls are pushed, final nodes return (a
// return into kRootFrame sets accepting, into kUnknownFrame sets popped). Appends to `out`
// without duplicates (at most limits::kMaxConfigs). Scratch vectors are the caller's, to reuse.
class Closure {
 public:
  void run(const Automaton& a, FramePool& pool, std::span<const Config> in,
           std::vector<Config>& out, StepResult& result);
  // Reads byte b from byte-reading configurations `in`, then closes: `out` is the next state.
  void advance(const Automaton& a, FramePool& pool, std::span<const Config> in, uint8_t b,
               std::vector<Config>& out, StepResult& result);

 private:
  std::vector<Config> work_;
  std::vector<Config> seen_;
  std::vector<Config> moved_;
};

}  // namespace packinfer::grammar
