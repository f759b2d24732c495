#include "grammar/token_tables.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "grammar/limits.h"
#include "grammar/parse_stack.h"
#include "grammar/token_classes.h"
#include "packinfer/error.h"

namespace packinfer::grammar {
namespace {

// One node's walk over the trie. Levels hold the configurations after each prefix depth; frames
// pushed at a depth are dropped again when the walk moves back above it.
class TrieWalk {
 public:
  TrieWalk(const Automaton& a, const Vocabulary& v)
      : a_(a),
        v_(v),
        levels_(static_cast<size_t>(v.max_token_bytes()) + 1),
        marks_(levels_.size(), 0) {}

  int64_t steps() const { return steps_; }

  void run(int32_t node, std::vector<int32_t>& accepted, std::vector<UncertainToken>& uncertain) {
    pool_.clear();
    levels_[0].assign(1, Config{node, kUnknownFrame});
    marks_[0] = 0;
    pops_.clear();
    const std::vector<int32_t>& sorted = v_.sorted_tokens();
    const int32_t n = v_.n_nodes();
    int32_t i = 1;
    while (i < n) {
      ++steps_;
      const auto d = static_cast<size_t>(v_.node_depth(i));
      pool_.truncate(marks_[d - 1]);
      while (!pops_.empty() && pops_.back() >= static_cast<int32_t>(d)) pops_.pop_back();
      std::vector<Config>& level = levels_[d];
      const std::vector<Config>& prev = levels_[d - 1];
      level.clear();
      StepResult r;
      // Most steps are one parse inside the starting rule reading a byte: one table lookup.
      const int32_t t = prev.size() == 1 && prev[0].frame == kUnknownFrame
                            ? a_.step(prev[0].node, v_.node_byte(i))
                            : -2;
      if (t == -1) {
        // dead
      } else if (t >= 0 && !a_.calls_rules(t)) {
        if (a_.reads_bytes(t)) level.push_back({t, kUnknownFrame});
        r.popped = a_.nodes[static_cast<size_t>(t)].final;
      } else {
        closure_.advance(a_, pool_, prev, v_.node_byte(i), level, r);
      }
      marks_[d] = pool_.size();
      const bool alive = !level.empty();
      // Tokens ending here.
      for (int32_t k = v_.first_token(i); k < v_.first_token(i + 1); ++k) {
        if (alive || r.popped) {
          accepted.push_back(sorted[static_cast<size_t>(k)]);
        } else {
          for (int32_t off : pops_) uncertain.push_back({sorted[static_cast<size_t>(k)], off});
        }
      }
      if (r.popped) pops_.push_back(static_cast<int32_t>(d));
      if (alive) {
        ++i;
        continue;
      }
      // Nothing goes on inside the rule: the longer tokens depend on the context if the rule
      // finished somewhere along the way, else they are rejected.
      const int32_t end = v_.subtree_end(i);
      if (!pops_.empty()) {
        for (int32_t k = v_.first_token(i + 1); k < v_.first_token(end); ++k) {
          for (int32_t off : pops_) uncertain.push_back({sorted[static_cast<size_t>(k)], off});
        }
      }
      i = end;
    }
  }

 private:
  const Automaton& a_;
  const Vocabulary& v_;
  FramePool pool_;
  Closure closure_;
  std::vector<std::vector<Config>> levels_;
  std::vector<size_t> marks_;
  std::vector<int32_t> pops_;  // depths at which the rule finished, along the current path
  int64_t steps_ = 0;          // trie nodes visited by every run so far
};

}  // namespace

TokenTables::TokenTables(const Automaton& a, const Vocabulary& v) {
  n_words_ = (v.size() + 63) / 64;
  const size_t n = a.nodes.size();
  table_of_.assign(n, -1);
  const std::vector<int32_t> cls = token_equivalence_classes(a, v.max_token_bytes());
  std::unordered_map<int32_t, int32_t> table_of_class;
  TrieWalk walk(a, v);
  std::vector<int32_t> accepted;
  std::vector<UncertainToken> uncertain;
  for (size_t node = 0; node < n; ++node) {
    if (!a.reads_bytes(static_cast<int32_t>(node))) continue;
    auto [it, fresh] = table_of_class.emplace(cls[node], static_cast<int32_t>(tables_.size()));
    table_of_[node] = it->second;
    if (!fresh) continue;
    accepted.clear();
    uncertain.clear();
    walk.run(static_cast<int32_t>(node), accepted, uncertain);
    if (walk.steps() > limits::kMaxTableWork) {
      throw InvalidArgument("grammar: too complex to compile for this model's vocabulary (" +
                            std::to_string(tables_.size()) + " of its positions took more than " +
                            std::to_string(limits::kMaxTableWork) +
                            " vocabulary-trie steps); simplify it");
    }
    Table t;
    // A list costs one store per token, a bitset one OR per word: whichever is less.
    if (static_cast<int64_t>(accepted.size()) > 2 * n_words_) {
      t.bitset = static_cast<int32_t>(bitsets_.size() / static_cast<size_t>(n_words_));
      bitsets_.resize(bitsets_.size() + static_cast<size_t>(n_words_), 0);
      uint64_t* bits = bitsets_.data() + bitsets_.size() - static_cast<size_t>(n_words_);
      for (int32_t tok : accepted) bits[tok >> 6] |= uint64_t{1} << (tok & 63);
    } else {
      std::sort(accepted.begin(), accepted.end());
      t.list_begin = static_cast<uint32_t>(lists_.size());
      lists_.insert(lists_.end(), accepted.begin(), accepted.end());
      t.list_end = static_cast<uint32_t>(lists_.size());
    }
    std::sort(uncertain.begin(), uncertain.end(),
              [&v](const UncertainToken& x, const UncertainToken& y) {
                const std::string_view sx = v.bytes(x.token).substr(static_cast<size_t>(x.offset));
                const std::string_view sy = v.bytes(y.token).substr(static_cast<size_t>(y.offset));
                const int c = sx.compare(sy);
                return c != 0 ? c < 0 : x.token < y.token;
              });
    t.uncertain_begin = static_cast<uint32_t>(uncertain_.size());
    uncertain_.insert(uncertain_.end(), uncertain.begin(), uncertain.end());
    t.uncertain_end = static_cast<uint32_t>(uncertain_.size());
    tables_.push_back(t);
  }
}

void TokenTables::add_accepted(int32_t node, uint64_t* mask) const {
  const int32_t id = table_of_[static_cast<size_t>(node)];
  if (id < 0) return;
  const Table& t = tables_[static_cast<size_t>(id)];
  if (t.bitset >= 0) {
    const uint64_t* bits =
        bitsets_.data() + static_cast<size_t>(t.bitset) * static_cast<size_t>(n_words_);
    for (int32_t w = 0; w < n_words_; ++w) mask[w] |= bits[w];
    return;
  }
  for (uint32_t k = t.list_begin; k < t.list_end; ++k) {
    const int32_t tok = lists_[k];
    mask[tok >> 6] |= uint64_t{1} << (tok & 63);
  }
}

int64_t TokenTables::n_accepted(int32_t node) const {
  const int32_t id = table_of_[static_cast<size_t>(node)];
  if (id < 0) return 0;
  const Table& t = tables_[static_cast<size_t>(id)];
  if (t.bitset < 0) return t.list_end - t.list_begin;
  int64_t c = 0;
  const uint64_t* bits =
      bitsets_.data() + static_cast<size_t>(t.bitset) * static_cast<size_t>(n_words_);
  for (int32_t w = 0; w < n_words_; ++w) c += __builtin_popcountll(bits[w]);
  return c;
}

std::span<const UncertainToken> TokenTables::uncertain(int32_t node) const {
  const int32_t id = table_of_[static_cast<size_t>(node)];
  if (id < 0) return {};
  const Table& t = tables_[static_cast<size_t>(id)];
  return std::span<const UncertainToken>(uncertain_)
      .subspan(t.uncertain_begin, t.uncertain_end - t.uncertain_begin);
}

size_t TokenTables::memory_bytes() const {
  return bitsets_.size() * 8 + lists_.size() * 4 + uncertain_.size() * sizeof(UncertainToken) +
         table_of_.size() * 4 + tables_.size() * sizeof(Table);
}

}  // namespace packinfer::grammar
