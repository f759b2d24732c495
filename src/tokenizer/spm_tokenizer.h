#pragma once
// SentencePiece-style tokenizer (tokenizer.ggml.model = "llama"): spaces become U+2581 "▁", a
// space is prepended to every text fragment, then adjacent pieces are merged greedily by the
// score of the vocabulary entry they form; pieces that are not in the vocabulary fall back to
// <0xNN> byte tokens. Matches llama.cpp's llm_tokenizer_spm.
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace packinfer {

class SpmTokenizer final : public Tokenizer {
 public:
  explicit SpmTokenizer(const gguf::File& file);

  std::vector<int32_t> encode(std::string_view text, bool add_special,
                              bool parse_special) const override;
  int64_t table_bytes() const override {
    return Tokenizer::table_bytes() + static_cast<int64_t>(scores_.capacity() * sizeof(float));
  }

 private:
  std::string normal_piece(std::string_view text) const override;
  std::string byte_piece(std::string_view text) const override;
  // Appends the tokens of one text fragment (already with ▁ for spaces).
  void encode_fragment(std::string_view text, std::vector<int32_t>& out) const;

  std::vector<float> scores_;
  std::array<int32_t, 256> byte_tokens_{};  // <0xNN> token of each byte (-1 if absent)
};

}  // namespace packinfer
