#pragma once
// Tokenizers built from a GGUF file's `tokenizer.ggml.*` metadata:
//  - "llama": SentencePiece-style BPE over scores, with byte fallback (<0xNN> tokens)
//  - "gpt2":  byte-level BPE over merges, after a pre-tokenizer named by tokenizer.ggml.pre
// Behaviour matches llama.cpp's llama_tokenize / llama_token_to_piece (tested against
// ../shared/golden/tokenizer).
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf_file.h"

namespace packinfer {

enum class TokenType : int32_t {
  UNDEFINED = 0,
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6,
};

// Immutable after from_gguf(): every const member may be called from several threads at once.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Throws packinfer::Error if the metadata is missing, inconsistent, or names a tokenizer model
  // or pre-tokenizer packinfer does not implement (the message names it).
  static std::unique_ptr<Tokenizer> from_gguf(const gguf::File& file);
  // The GGUF arrays from_gguf copies into the tokenizer's own tables: a loader may drop their
  // parsed values once the tokenizer is built (gguf::File::drop_metadata).
  static constexpr std::string_view kCopiedArrays[] = {
      "tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
      "tokenizer.ggml.scores"};

  // add_special: prepend BOS / append EOS as the vocabulary asks (tokenizer.ggml.add_bos_token,
  // add_eos_token). parse_special: text of control/user-defined tokens (e.g. "<|im_start|>")
  // becomes that token; otherwise it is tokenized as plain text. Invalid UTF-8 never crashes.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special,
                                      bool parse_special) const = 0;

  // The bytes of one token as text (SPM: "▁" -> " ", <0xNN> -> byte; BPE: byte-level decoding).
  // Control tokens give their text only when render_special is true, else "".
  std::string token_to_piece(int32_t id, bool render_special) const;

  // Concatenated pieces. Like llama.cpp's llama_detokenize (remove_special=false): the space a
  // SentencePiece vocabulary prepends is dropped from the first piece, and vocabularies that ask
  // for it get clean_up_tokenization_spaces (" ." -> ".", " 's" -> "'s", ...).
  std::string decode(std::span<const int32_t> ids, bool render_special) const;

  int32_t vocab_size() const { return static_cast<int32_t>(types_.size()); }
  // The vocabulary text of a token; throws std::out_of_range for an id outside the vocabulary.
  std::string_view token_text(int32_t id) const;
  TokenType token_type(int32_t id) const;
  int32_t bos_id() const { return bos_; }
  int32_t eos_id() const { return eos_; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  // End-of-generation: EOS, EOT, and tokens such as <|endoftext|>, <|im_end|>, <|eot_id|>.
  bool is_eog(int32_t id) const;
  const std::vector<int32_t>& eog_ids() const { return eog_; }
  // Bytes of the tables built from the vocabulary (texts, ids, types, merges or scores).
  virtual int64_t table_bytes() const;
  // Looks a token up by its exact vocabulary text; -1 if absent.
  int32_t find_token(std::string_view text) const;
  // Further special ids (-1 when the vocabulary has none).
  int32_t eot_id() const { return eot_; }
  int32_t eom_id() const { return eom_; }
  int32_t unk_id() const { return unk_; }
  int32_t pad_id() const { return pad_; }
  // "llama" (SentencePiece) or "gpt2" (byte-level BPE), as tokenizer.ggml.model says.
  const std::string& model_name() const { return model_; }

 protected:
  // The text of a NORMAL token (SPM: "▁" -> " "; BPE: byte-level decoding) and of a BYTE token
  // ("<0xNN>" -> that byte; vocabularies without byte tokens print nothing).
  virtual std::string normal_piece(std::string_view text) const = 0;
  virtual std::string byte_piece(std::string_view text) const { return ""; }

  // Defaults llama.cpp uses for ids and flags when the GGUF keys are absent.
  struct Defaults {
    int32_t bos = -1, eos = -1, unk = -1;
    bool add_bos = false;
    bool add_space_prefix = false;
    bool clean_spaces = false;
  };
  // Reads the vocabulary, ids and flags shared by all tokenizer models and derives the EOG set.
  void load_vocab(const gguf::File& file, const Defaults& defaults);

  // A piece of the input: either a special token found in the text or a raw text range.
  struct Fragment {
    int32_t token = -1;  // -1: raw text [offset, offset + length)
    size_t offset = 0;
    size_t length = 0;
  };
  // Splits `text` on the texts of special tokens, longest first, like llama.cpp's
  // tokenizer_st_partition: user-defined tokens always, control/unknown ones only when
  // parse_special is true.
  std::vector<Fragment> partition_special(std::string_view text, bool parse_special) const;

  std::string model_;
  // The vocabulary's texts one after another: token id spans [text_offset_[id],
  // text_offset_[id + 1]) of text_. A std::string per token and a hash map from text to id took
  // 4.5 MiB for a 49k vocabulary (14 MiB for Qwen's 152k), more than the activations of a step.
  std::string text_;
  std::vector<uint32_t> text_offset_;
  // Text -> id, open addressing by the text's hash (linear probing, at most 3/4 full): a token id
  // per slot, -1 when empty; of tokens with the same text the last id, as in llama.cpp's map.
  // 5 to 11 bytes a token, and one hash and usually one comparison a lookup (a search of ids
  // sorted by text made BPE encoding 1.4x slower).
  std::vector<int32_t> id_slots_;
  // The text of a valid id (token_text without the range check, for the lookups).
  std::string_view text_of(int32_t id) const {
    const uint32_t begin = text_offset_[static_cast<size_t>(id)];
    return std::string_view(text_).substr(begin, text_offset_[static_cast<size_t>(id) + 1] - begin);
  }
  size_t first_slot(std::string_view text) const {
    return std::hash<std::string_view>{}(text) & (id_slots_.size() - 1);
  }
  std::vector<TokenType> types_;
  std::vector<int32_t> special_tokens_;  // control, user-defined, unknown: longest text first
  int32_t bos_ = -1;
  int32_t eos_ = -1;
  int32_t eot_ = -1;
  int32_t eom_ = -1;
  int32_t unk_ = -1;
  int32_t pad_ = -1;
  bool add_bos_ = false;
  bool add_eos_ = false;
  bool add_space_prefix_ = false;  // SPM: prepend a space; decode() then drops it again
  bool clean_spaces_ = false;      // decode(): llama.cpp's clean_up_tokenization_spaces
  std::vector<int32_t> eog_;
};

// Turns a stream of token ids into text without ever emitting a partial UTF-8 character: bytes
// of an incomplete character are held back until the rest arrives (or flush() is called).
class StreamingDetokenizer {
 public:
  StreamingDetokenizer(const Tokenizer& tok, bool render_special)
      : tok_(tok), render_special_(render_special) {}
  // Returns the newly completed text (possibly empty).
  std::string push(int32_t id);
  // Returns what is left, with invalid or incomplete sequences replaced by U+FFFD.
  std::string flush();

 private:
  const Tokenizer& tok_;
  bool render_special_;
  std::string pending_;
};

}  // namespace packinfer
