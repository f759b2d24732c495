#include "tokenizer/bpe_tokenizer.h"

#include <queue>

#include "packinfer/error.h"
#include "tokenizer/byte_unicode.h"
#include "tokenizer/utf8.h"

namespace packinfer {
namespace {

struct Symbol {
  int prev, next;
  size_t pos, n;
};

struct Bigram {
  int left, right;
  int rank;
  std::string text;
};

// Lowest rank first; among equal ranks the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

std::string pair_key(std::string_view l, std::string_view r) {
  std::string k;
  k.reserve(l.size() + r.size() + 1);
  k.append(l);
  k += '\0';  // byte-level tokens never contain NUL (byte 0 is mapped to U+0100)
  k.append(r);
  return k;
}

}  // namespace

BpeTokenizer::BpeTokenizer(const gguf::File& file) {
  model_ = "gpt2";
  const std::string pre = file.get_string("tokenizer.ggml.pre").value_or("default");
  pre_ = std::make_unique<PreTokenizer>(pre);
  Defaults d;
  d.bos = 11, d.eos = 11;  // llama.cpp's defaults for gpt2 vocabularies without the keys
  d.add_bos = pre_->default_add_bos();
  d.clean_spaces = pre_->clean_spaces();
  load_vocab(file, d);
  const gguf::Array* merges = file.get_array("tokenizer.ggml.merges");
  if (merges == nullptr) throw Error(file.name() + ": missing tokenizer.ggml.merges");
  ranks_.reserve(merges->items.size() * 2);
  for (size_t i = 0; i < merges->items.size(); ++i) {
    const std::string* m = merges->items[i].as_string();
    if (m == nullptr) throw Error(file.name() + ": tokenizer.ggml.merges holds a non-string");
    // Split at the first space after the first character (the left part is never empty).
    const size_t sp = m->find(' ', 1);
    if (sp == std::string::npos) continue;  // llama.cpp would register ("", ""): never matches
    ranks_.emplace(
        pair_key(std::string_view(*m).substr(0, sp), std::string_view(*m).substr(sp + 1)),
        static_cast<int>(i));
  }
}

int BpeTokenizer::rank(std::string_view left, std::string_view right) const {
  auto it = ranks_.find(pair_key(left, right));
  return it == ranks_.end() ? -1 : it->second;
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool add_special,
                                          bool parse_special) const {
  std::vector<int32_t> out;
  if (add_special && add_bos_ && bos_ >= 0) out.push_back(bos_);
  for (const Fragment& f : partition_special(text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
    } else {
      encode_text(text.substr(f.offset, f.length), out);
    }
  }
  if (add_special && add_eos_ && eos_ >= 0) out.push_back(eos_);
  return out;
}

void BpeTokenizer::encode_text(std::string_view text, std::vector<int32_t>& out) const {
  for (const std::string& word : pre_->split(text)) encode_word(byte_unicode::encode(word), out);
}

void BpeTokenizer::encode_word(const std::string& word, std::vector<int32_t>& out) const {
  if (pre_->ignore_merges()) {
    if (int32_t id = find_token(word); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Symbol> syms;
  for (size_t off = 0; off < word.size();) {
    const size_t n =
        std::min(utf8::sequence_length(static_cast<uint8_t>(word[off])), word.size() - off);
    const int idx = static_cast<int>(syms.size());
    syms.push_back({idx - 1, off + n == word.size() ? -1 : idx + 1, off, n});
    off += n;
  }
  auto piece = [&](const Symbol& s) { return std::string_view(word).substr(s.pos, s.n); };
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const int r = rank(piece(syms[left]), piece(syms[right]));
    if (r < 0) return;
    std::string t(piece(syms[left]));
    t.append(piece(syms[right]));
    queue.push({left, right, r, std::move(t)});
  };
  for (int i = 1; i < static_cast<int>(syms.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    const Bigram bg = queue.top();
    queue.pop();
    Symbol& l = syms[bg.left];
    Symbol& r = syms[bg.right];
    if (l.n == 0 || r.n == 0) continue;
    // Stale entry: the two symbols no longer spell the pair it was queued for.
    if (l.n + r.n != bg.text.size() || word.compare(l.pos, bg.text.size(), bg.text) != 0) continue;
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = bg.left;
    try_add(l.prev, bg.left);
    try_add(bg.left, l.next);
  }
  for (const Symbol& s : syms) {
    if (s.n == 0) continue;
    if (int32_t id = find_token(piece(s)); id >= 0) {
      out.push_back(id);
      continue;
    }
    // Not in the vocabulary: fall back to its single bytes, skipping those that are not tokens.
    for (char c : piece(s)) {
      if (int32_t id = find_token(std::string(1, c)); id >= 0) out.push_back(id);
    }
  }
}

std::string BpeTokenizer::normal_piece(const std::string& text) const {
  std::string out;
  for (uint32_t cpt : utf8::decode_lenient(text)) {
    if (auto b = byte_unicode::decode_cpt(cpt)) {
      out += static_cast<char>(*b);
    } else {
      // llama.cpp's llama_decode_text marks code points outside the byte table this way.
      std::string u;
      utf8::append(u, cpt);
      out += "[UNK_BYTE_0x";
      static constexpr char kHex[] = "0123456789abcdef";
      for (unsigned char c : u) {
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
      out += text + "]";
    }
  }
  return out;
}

}  // namespace packinfer
