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
  int64_t table_bytes() const override;

 private:
  std::string normal_piece(std::string_view text) const override;
  void encode_text(std::string_view text, std::vector<int32_t>& out) const;
  void encode_word(const std::string& word, std::vector<int32_t>& out) const;
  // The rank of merging two adjacent pieces (their token ids, -1 for a piece that is no token),
  // or -1 if no merge joins them.
  int rank(int32_t left_id, int32_t right_id, std::string_view left, std::string_view right) const;

  std::unique_ptr<PreTokenizer> pre_;
  // Rank (position in tokenizer.ggml.merges; the first occurrence wins) of each merge of two
  // tokens, keyed by their ids (left << 32 | right) and sorted: 12 bytes a merge, where a hash
  // map from "left\0right" took ~60.
  std::vector<uint64_t> merge_keys_;
  std::vector<int32_t> merge_ranks_;
  // Merges with a part that is no token (none in a well-formed vocabulary): "left\0right".
  std::unordered_map<std::string, int> text_ranks_;
};

}  // namespace packinfer
