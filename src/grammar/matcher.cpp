#include "grammar/matcher.h"

#include <algorithm>
#include <unordered_map>

namespace packinfer::grammar {

GrammarMatcher::GrammarMatcher(std::shared_ptr<const CompiledGrammar> grammar)
    : grammar_(std::move(grammar)),
      a_(*grammar_->automaton),
      v_(*grammar_->vocab),
      levels_(static_cast<size_t>(v_.max_token_bytes()) + 2),
      marks_(levels_.size(), 0) {
  const Config start{a_.rule_start[static_cast<size_t>(a_.root)], kRootFrame};
  StepResult r;
  closure_.run(a_, pool_, std::span<const Config>(&start, 1), configs_, r);
  accepting_ = r.accepting;
  live_frames_ = pool_.size();
}

bool GrammarMatcher::advance_bytes(std::string_view bytes, std::vector<Config>& out,
                                   bool& accepting) {
  tmp_a_ = configs_;
  accepting = accepting_;
  for (char c : bytes) {
    tmp_b_.clear();
    StepResult r;
    closure_.advance(a_, pool_, tmp_a_, static_cast<uint8_t>(c), tmp_b_, r);
    accepting = r.accepting;
    if (tmp_b_.empty() && !r.accepting) return false;
    std::swap(tmp_a_, tmp_b_);
  }
  out = tmp_a_;
  return true;
}

bool GrammarMatcher::accept_bytes(std::string_view bytes) {
  if (terminated_) return false;
  const size_t mark = pool_.size();
  std::vector<Config> next;
  bool accepting = false;
  if (!advance_bytes(bytes, next, accepting)) {
    pool_.truncate(mark);
    return false;
  }
  configs_ = std::move(next);
  accepting_ = accepting;
  // Frames of parses that died are garbage; compact once they dominate.
  if (pool_.size() > 4096 && pool_.size() > 4 * live_frames_) compact();
  return true;
}

bool GrammarMatcher::accept_token(int32_t id) {
  if (terminated_ || id < 0 || id >= v_.size()) return false;
  if (v_.is_end_of_generation(id)) {
    if (!accepting_) return false;
    terminated_ = true;
    return true;
  }
  if (!v_.allowed(id)) return false;
  return accept_bytes(v_.bytes(id));
}

void GrammarMatcher::fill_mask(uint64_t* mask) {
  const int32_t words = mask_words();
  std::fill(mask, mask + words, 0);
  if (terminated_) return;
  if (accepting_) {
    for (int32_t id : v_.end_of_generation()) mask[id >> 6] |= uint64_t{1} << (id & 63);
  }
  const TokenTables& t = grammar_->tables;
  seen_nodes_.clear();
  for (const Config& c : configs_) {
    if (std::find(seen_nodes_.begin(), seen_nodes_.end(), c.node) != seen_nodes_.end()) continue;
    seen_nodes_.push_back(c.node);
    t.add_accepted(c.node, mask);
  }
  for (const Config& c : configs_) {
    if (!t.uncertain(c.node).empty()) check_uncertain(c, mask);
  }
}

// The uncertain tokens of c's node finish its rule at `offset`; the rest of their bytes must fit
// what c's caller (the real stack) allows. Their suffixes are sorted, so consecutive ones share
// prefixes: the parse after each prefix byte is kept per depth and reused, and a prefix no parse
// survives rules out every following suffix that starts with it.
void GrammarMatcher::check_uncertain(const Config& c, uint64_t* mask) {
  if (c.frame == kRootFrame) return;  // the root finishing mid-token: nothing may follow
  const std::span<const UncertainToken> entries = grammar_->tables.uncertain(c.node);
  const size_t mark = pool_.size();
  const Frame& f = pool_[c.frame];
  const Config caller{f.node, f.parent};
  levels_[0].clear();
  StepResult r0;
  closure_.run(a_, pool_, std::span<const Config>(&caller, 1), levels_[0], r0);
  marks_[0] = pool_.size();
  std::string_view prev;
  size_t computed = 0;     // levels_[0..computed] hold prev's prefixes
  size_t dead = SIZE_MAX;  // levels_[dead] is empty: prev[0, dead) fits no parse
  bool prev_ok = false;
  for (const UncertainToken& u : entries) {
    const std::string_view s = v_.bytes(u.token).substr(static_cast<size_t>(u.offset));
    bool ok;
    if (s == prev) {
      ok = prev_ok;
    } else {
      size_t l = 0;
      while (l < s.size() && l < prev.size() && s[l] == prev[l]) ++l;
      if (dead <= l) {
        ok = false;  // starts with a prefix already known to fail
      } else {
        size_t k = std::min(l, computed);
        pool_.truncate(marks_[k]);
        dead = SIZE_MAX;
        ok = false;
        bool accepting = false;
        while (k < s.size()) {
          std::vector<Config>& next = levels_[k + 1];
          next.clear();
          StepResult r;
          closure_.advance(a_, pool_, levels_[k], static_cast<uint8_t>(s[k]), next, r);
          ++k;
          marks_[k] = pool_.size();
          accepting = r.accepting;
          if (next.empty()) {
            dead = k;
            break;
          }
        }
        computed = k;
        ok = k == s.size() && (dead == SIZE_MAX || accepting);
      }
    }
    if (ok) mask[u.token >> 6] |= uint64_t{1} << (u.token & 63);
    prev = s;
    prev_ok = ok;
  }
  pool_.truncate(mark);
}

std::string GrammarMatcher::forced_bytes(size_t max_bytes) {
  std::string out;
  if (terminated_) return out;
  const size_t mark = pool_.size();
  std::vector<Config> cur = configs_, next;
  bool accepting = accepting_;
  while (out.size() < max_bytes && !accepting && !cur.empty()) {
    // The one byte every parse allows, if there is exactly one.
    int only = -1;
    bool many = false;
    for (const Config& c : cur) {
      const Automaton::Node& n = a_.nodes[static_cast<size_t>(c.node)];
      for (uint32_t k = n.bytes_begin; k < n.bytes_end && !many; ++k) {
        const ByteEdge& e = a_.byte_edges[k];
        if (e.lo != e.hi || (only >= 0 && only != e.lo)) {
          many = true;
        } else {
          only = e.lo;
        }
      }
      if (many) break;
    }
    if (many || only < 0) break;
    next.clear();
    StepResult r;
    closure_.advance(a_, pool_, cur, static_cast<uint8_t>(only), next, r);
    out.push_back(static_cast<char>(only));
    accepting = r.accepting;
    std::swap(cur, next);
  }
  pool_.truncate(mark);
  return out;
}

bool GrammarMatcher::accepts_continuation(std::string_view bytes, bool must_complete) {
  if (terminated_) return false;
  const size_t mark = pool_.size();
  std::vector<Config> next;
  bool accepting = false;
  bool ok = advance_bytes(bytes, next, accepting);
  if (ok && must_complete) ok = accepting;
  if (ok && !must_complete) ok = !next.empty() || accepting;
  pool_.truncate(mark);
  return ok;
}

// Copies the frames the live parses use into a fresh pool (frames of dead parses and of past
// explorations are dropped).
void GrammarMatcher::compact() {
  FramePool fresh;
  std::unordered_map<int32_t, int32_t> moved;
  std::vector<int32_t> chain;
  auto relocate = [&](int32_t frame) -> int32_t {
    chain.clear();
    int32_t x = frame;
    while (x >= 0 && !moved.count(x)) {
      chain.push_back(x);
      x = pool_[x].parent;
    }
    int32_t below = x < 0 ? x : moved[x];
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      const int32_t id = fresh.push(pool_[*it].node, below);
      moved[*it] = id;
      below = id;
    }
    return frame < 0 ? frame : moved[frame];
  };
  for (Config& c : configs_) c.frame = relocate(c.frame);
  pool_ = std::move(fresh);
  live_frames_ = pool_.size();
}

}  // namespace packinfer::grammar
