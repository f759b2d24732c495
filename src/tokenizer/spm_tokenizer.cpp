#include "tokenizer/spm_tokenizer.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <queue>

#include "packinfer/error.h"
#include "tokenizer/utf8.h"

namespace packinfer {
namespace {

constexpr std::string_view kSpace = "\xe2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK "▁"

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t m = s.find(from, pos);
    if (m == std::string_view::npos) break;
    out.append(s.substr(pos, m - pos));
    out.append(to);
    pos = m + from.size();
  }
  out.append(s.substr(pos));
  return out;
}

// A run of bytes in the text; merged-away symbols keep n == 0.
struct SpmSymbol {
  int prev, next;
  size_t pos, n;
};

struct SpmBigram {
  int left, right;
  float score;
  size_t size;
};

// Highest score first; among equal scores the leftmost pair.
struct SpmBigramOrder {
  bool operator()(const SpmBigram& a, const SpmBigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

SpmTokenizer::SpmTokenizer(const gguf::File& file) {
  model_ = "llama";
  Defaults d;
  d.bos = 1, d.eos = 2, d.unk = 0;
  d.add_bos = true;
  d.add_space_prefix = true;
  load_vocab(file, d);
  scores_.assign(static_cast<size_t>(vocab_size()), 0.0f);
  if (const gguf::Array* sc = file.get_array("tokenizer.ggml.scores")) {
    if (sc->items.size() != scores_.size())
      throw Error(file.name() + ": tokenizer.ggml.scores does not match the token count");
    for (size_t i = 0; i < scores_.size(); ++i) {
      auto v = sc->items[i].as_float();
      if (!v) throw Error(file.name() + ": tokenizer.ggml.scores holds a non-number");
      scores_[i] = static_cast<float>(*v);
    }
  }
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    int32_t id = find_token(hex);
    if (id < 0) id = find_token(std::string(1, static_cast<char>(b)));
    byte_tokens_[static_cast<size_t>(b)] = id;
  }
}

std::vector<int32_t> SpmTokenizer::encode(std::string_view text, bool add_special,
                                          bool parse_special) const {
  std::vector<int32_t> out;
  if (add_special && add_bos_ && bos_ >= 0) out.push_back(bos_);
  bool prev_special = true;  // the first text fragment gets the space prefix
  for (const Fragment& f : partition_special(text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;
      continue;
    }
    std::string frag = (add_space_prefix_ && prev_special) ? " " : "";
    frag.append(text.substr(f.offset, f.length));
    encode_fragment(replace_all(frag, " ", kSpace), out);
    prev_special = false;
  }
  if (add_special && add_eos_ && eos_ >= 0) out.push_back(eos_);
  return out;
}

void SpmTokenizer::encode_fragment(std::string_view text, std::vector<int32_t>& out) const {
  // One symbol per UTF-8 character (judged by the lead byte only; invalid bytes stand alone).
  std::vector<SpmSymbol> syms;
  for (size_t off = 0; off < text.size();) {
    const size_t n =
        std::min(utf8::sequence_length(static_cast<uint8_t>(text[off])), text.size() - off);
    const int idx = static_cast<int>(syms.size());
    syms.push_back({idx - 1, off + n == text.size() ? -1 : idx + 1, off, n});
    off += n;
  }
  std::priority_queue<SpmBigram, std::vector<SpmBigram>, SpmBigramOrder> queue;
  // Which two symbols each merged text came from, to split pieces that are not tokens.
  std::map<std::string, std::pair<int, int>, std::less<>> rev_merge;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string s(text.substr(syms[left].pos, syms[left].n + syms[right].n));
    const int32_t id = find_token(s);
    if (id < 0) return;
    queue.push({left, right, scores_[static_cast<size_t>(id)], s.size()});
    rev_merge[s] = {left, right};
  };
  for (int i = 1; i < static_cast<int>(syms.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    const SpmBigram bg = queue.top();
    queue.pop();
    SpmSymbol& l = syms[bg.left];
    SpmSymbol& r = syms[bg.right];
    // Stale entry: one side has been merged into something else since.
    if (l.n == 0 || r.n == 0 || l.n + r.n != bg.size) continue;
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = bg.left;
    try_add(l.prev, bg.left);
    try_add(bg.left, l.next);
  }
  // Emit each symbol as a token, or split it back along its merges, or as bytes.
  auto resegment = [&](auto&& self, const SpmSymbol& s) -> void {
    const std::string_view piece = text.substr(s.pos, s.n);
    if (int32_t id = find_token(piece); id >= 0) {
      out.push_back(id);
      return;
    }
    auto it = rev_merge.find(piece);
    if (it == rev_merge.end()) {
      for (char c : piece) {
        const int32_t b = byte_tokens_[static_cast<uint8_t>(c)];
        if (b >= 0 || unk_ >= 0) out.push_back(b >= 0 ? b : unk_);
      }
      return;
    }
    self(self, syms[it->second.first]);
    self(self, syms[it->second.second]);
  };
  for (int i = syms.empty() ? -1 : 0; i != -1; i = syms[i].next) resegment(resegment, syms[i]);
}

std::string SpmTokenizer::normal_piece(std::string_view text) const {
  return replace_all(text, kSpace, " ");
}

std::string SpmTokenizer::byte_piece(std::string_view text) const {
  // "<0xNN>"
  const std::string hex(text.substr(std::min<size_t>(3, text.size())));
  return std::string(1, static_cast<char>(std::strtol(hex.c_str(), nullptr, 16)));
}

}  // namespace packinfer
