#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <queue>

#include "packinfer/error.h"
#include "tokenizer/byte_unicode.h"
#include "tokenizer/utf8.h"

namespace packinfer {
namespace {

struct Symbol {
  int prev, next;
  size_t pos, n;
  int32_t id;  // the token the piece spells, or -1
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

uint64_t merge_key(int32_t left, int32_t right) {
  return static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32 | static_cast<uint32_t>(right);
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
  std::vector<std::pair<uint64_t, int32_t>> by_ids;
  by_ids.reserve(merges->items.size());
  for (size_t i = 0; i < merges->items.size(); ++i) {
    const std::string* m = merges->items[i].as_string();
    if (m == nullptr) throw Error(file.name() + ": tokenizer.ggml.merges holds a non-string");
    // Split at the first space after the first character (the left part is never empty).
    const size_t sp = m->find(' ', 1);
    if (sp == std::string::npos) continue;  // llama.cpp would register ("", ""): never matches
    const std::string_view left = std::string_view(*m).substr(0, sp);
    const std::string_view right = std::string_view(*m).substr(sp + 1);
    const int32_t l = find_token(left), r = find_token(right);
    if (l >= 0 && r >= 0) {
      by_ids.emplace_back(merge_key(l, r), static_cast<int32_t>(i));
    } else {
      text_ranks_.emplace(pair_key(left, right), static_cast<int>(i));
    }
  }
  // By key, and of equal keys the first merge (the lowest rank), which is the one kept.
  std::sort(by_ids.begin(), by_ids.end());
  by_ids.erase(std::unique(by_ids.begin(), by_ids.end(),
                           [](const auto& a, const auto& b) { return a.first == b.first; }),
               by_ids.end());
  merge_keys_.reserve(by_ids.size());
  merge_ranks_.reserve(by_ids.size());
  for (const auto& [key, rank] : by_ids) {
    merge_keys_.push_back(key);
    merge_ranks_.push_back(rank);
  }
}

int64_t BpeTokenizer::table_bytes() const {
  // A hash node per text-keyed merge: its key, rank, hash and link, about 64 bytes.
  return Tokenizer::table_bytes() +
         static_cast<int64_t>(merge_keys_.capacity() * sizeof(uint64_t) +
                              merge_ranks_.capacity() * sizeof(int32_t) + text_ranks_.size() * 64);
}

int BpeTokenizer::rank(int32_t left_id, int32_t right_id, std::string_view left,
                       std::string_view right) const {
  if (left_id >= 0 && right_id >= 0) {
    // Two tokens: a merge of their texts has token parts, so it is among those keyed by ids.
    const uint64_t key = merge_key(left_id, right_id);
    auto it = std::lower_bound(merge_keys_.begin(), merge_keys_.end(), key);
    return it != merge_keys_.end() && *it == key ? merge_ranks_[it - merge_keys_.begin()] : -1;
  }
  if (text_ranks_.empty()) return -1;
  auto it = text_ranks_.find(pair_key(left, right));
  return it == text_ranks_.end() ? -1 : it->second;
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
    syms.push_back({idx - 1, off + n == word.size() ? -1 : idx + 1, off, n,
                    find_token(std::string_view(word).substr(off, n))});
    off += n;
  }
  auto piece = [&](const Symbol& s) { return std::string_view(word).substr(s.pos, s.n); };
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const int r = rank(syms[left].id, syms[right].id, piece(syms[left]), piece(syms[right]));
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
    l.id = find_token(piece(l));
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = bg.left;
    try_add(l.prev, bg.left);
    try_add(bg.left, l.next);
  }
  for (const Symbol& s : syms) {
    if (s.n == 0) continue;
    if (s.id >= 0) {
      out.push_back(s.id);
      continue;
    }
    // Not in the vocabulary: fall back to its single bytes, skipping those that are not tokens.
    for (char c : piece(s)) {
      if (int32_t id = find_token(std::string(1, c)); id >= 0) out.push_back(id);
    }
  }
}

std::string BpeTokenizer::normal_piece(std::string_view text) const {
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
      out += text;
      out += ']';
    }
  }
  return out;
}

}  // namespace packinfer
