#pragma once
// The pre-tokenizer of byte-level BPE vocabularies: splits text into words with the regular
// expressions llama.cpp associates with `tokenizer.ggml.pre`. Several expressions are applied in
// sequence, each splitting the pieces left by the previous one; text between matches is kept as
// a piece of its own (llama.cpp's unicode_regex_split).
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace packinfer {

class PreTokenizer {
 public:
  // Throws packinfer::Error naming `pre` when it is not a supported pre-tokenizer.
  explicit PreTokenizer(std::string_view pre);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Words of `text` as UTF-8 (not yet byte-encoded). Invalid UTF-8 bytes come out as U+FFFD,
  // as in llama.cpp. Thread-safe.
  std::vector<std::string> split(std::string_view text) const;

  // True for pre-tokenizers whose words are looked up whole before merging (llama.cpp's
  // ignore_merges, set for llama3).
  bool ignore_merges() const { return ignore_merges_; }
  // Whether detokenized text gets llama.cpp's clean_up_tokenization_spaces treatment.
  bool clean_spaces() const { return clean_spaces_; }
  // Whether llama.cpp adds BOS by default for this pre-tokenizer (the GGUF key still wins).
  bool default_add_bos() const { return default_add_bos_; }

 private:
  struct Regex;
  std::vector<std::unique_ptr<Regex>> regexes_;
  bool ignore_merges_ = false;
  bool clean_spaces_ = true;
  bool default_add_bos_ = false;
};

}  // namespace packinfer
