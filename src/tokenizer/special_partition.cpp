// Tokenizer::partition_special: special-token text is cut out of the input before the normal
// tokenizer runs, so "<|im_start|>" becomes one token instead of "<", "|", "im", ...
#include "tokenizer/tokenizer.h"

namespace packinfer {

std::vector<Tokenizer::Fragment> Tokenizer::partition_special(std::string_view text,
                                                              bool parse_special) const {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({-1, 0, text.size()});
  for (int32_t id : special_tokens_) {
    const TokenType type = types_[static_cast<size_t>(id)];
    // Without parse_special only user-defined tokens are split out (llama.cpp follows Hugging
    // Face tokenizers here: added non-special tokens are always matched first).
    if (!parse_special && (type == TokenType::CONTROL || type == TokenType::UNKNOWN)) continue;
    const std::string_view needle = token_text(id);
    std::vector<Fragment> next;
    next.reserve(frags.size());
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      size_t off = f.offset;
      const size_t end = f.offset + f.length;
      while (off < end) {
        const size_t m = text.substr(0, end).find(needle, off);
        if (m == std::string_view::npos) break;
        if (m > off) next.push_back({-1, off, m - off});
        next.push_back({id, m, needle.size()});
        off = m + needle.size();
      }
      if (off < end) next.push_back({-1, off, end - off});
    }
    frags = std::move(next);
  }
  return frags;
}

}  // namespace packinfer
