#pragma once
// Byte-level BPE tokenizer (tokenizer.ggml.model = "gpt2"): the pre-tokenizer splits the text
// into words, each word's bytes are mapped to printable code points (GPT-2's byte<->unicode
// table), then adjacent pieces are merged by merge rank (lowest first). Matches llama.cpp's
// llm_tokenizer_bpe.
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace packinfer {

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(const gguf::File& file);

  std::vector<int32_t> encode(std::string_view text, bool add_special,
                              bool parse_special) const override;

 private:
  std::string normal_piece(const std::string& text) const override;
  void encode_text(std::string_view text, std::vector<int32_t>& out) const;
  void encode_word(const std::string& word, std::vector<int32_t>& out) const;
  int rank(std::string_view left, std::string_view right) const;

  std::unique_ptr<PreTokenizer> pre_;
  // "left\0right" -> rank (position in tokenizer.ggml.merges; the first occurrence wins).
  std::unordered_map<std::string, int> ranks_;
};

}  // namespace packinfer
