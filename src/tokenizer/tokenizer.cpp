// Tokenizer factory and the parts common to every tokenizer model.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <stdexcept>

#include "packinfer/error.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"

namespace packinfer {

std::string Tokenizer::token_to_piece(int32_t id, bool render_special) const {
  if (id < 0 || id >= vocab_size()) return "";
  const std::string_view text = token_text(id);
  switch (types_[static_cast<size_t>(id)]) {
    case TokenType::CONTROL:
    case TokenType::UNKNOWN:
      return render_special ? std::string(text) : "";
    case TokenType::USER_DEFINED:
      return std::string(text);
    case TokenType::NORMAL:
      return normal_piece(text);
    case TokenType::BYTE:
      return byte_piece(text);
    default:
      return "";  // unused / undefined tokens print nothing, as in llama.cpp
  }
}

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const gguf::File& file) {
  const std::optional<std::string> model = file.get_string("tokenizer.ggml.model");
  if (!model) throw Error(file.name() + ": missing tokenizer.ggml.model");
  if (*model == "llama") return std::make_unique<SpmTokenizer>(file);
  if (*model == "gpt2") return std::make_unique<BpeTokenizer>(file);
  throw Error(file.name() + ": unsupported tokenizer.ggml.model '" + *model +
              "' (supported: llama, gpt2)");
}

TokenType Tokenizer::token_type(int32_t id) const { return types_.at(static_cast<size_t>(id)); }

bool Tokenizer::is_eog(int32_t id) const {
  return std::binary_search(eog_.begin(), eog_.end(), id);
}

std::string_view Tokenizer::token_text(int32_t id) const {
  if (id < 0 || id >= vocab_size()) throw std::out_of_range("token id out of the vocabulary");
  return text_of(id);
}

int64_t Tokenizer::table_bytes() const {
  return static_cast<int64_t>(text_.capacity() + text_offset_.capacity() * sizeof(uint32_t) +
                              id_slots_.capacity() * sizeof(int32_t) +
                              types_.capacity() * sizeof(TokenType) +
                              special_tokens_.capacity() * sizeof(int32_t));
}

int32_t Tokenizer::find_token(std::string_view text) const {
  if (id_slots_.empty()) return -1;
  for (size_t i = first_slot(text);; i = (i + 1) & (id_slots_.size() - 1)) {
    const int32_t id = id_slots_[i];
    if (id < 0 || text_of(id) == text) return id;
  }
}

namespace {

// llama.cpp's clean_up_tokenization_spaces: three passes that compact the bytes in place. Each
// pass looks at the *original* neighbours of a byte (in-place compaction never overwrites them
// before they are read), and the second pass blanks the space it swallows, so its successor no
// longer sees a space before it. Passes: drop the space before ? ! . , ; turn " ' " into "'";
// drop the space before 's 'm 're 've.
std::string clean_spaces(std::string t) {
  auto pass = [&t](auto&& keep_prev_space) {
    size_t total = t.empty() ? 0 : 1;
    for (size_t i = 1; i < t.size(); ++i) {
      const char x = t[i];
      if (!keep_prev_space(i) && total > 0) --total;
      t[total++] = x;
    }
    t.resize(total);
  };
  pass([&](size_t i) {
    const char x = t[i];
    return !(t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ','));
  });
  {
    size_t total = t.empty() ? 0 : 1;
    const size_t n = t.size();
    for (size_t i = 1; i < n; ++i) {
      const char x = t[i];
      if (x == '\'' && i + 1 < n && t[i - 1] == ' ' && t[i + 1] == ' ') {
        --total;
        t[++i] = '\0';  // the following space goes too
      }
      t[total++] = x;
    }
    t.resize(total);
  }
  pass([&](size_t i) {
    if (t[i - 1] != ' ' || t[i] != '\'' || i + 1 >= t.size()) return true;
    const char x1 = t[i + 1];
    const char x2 = i + 2 < t.size() ? t[i + 2] : '\0';
    if (x1 == 's' || x1 == 'm') return false;
    if (i + 2 < t.size() && ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e'))) return false;
    return true;
  });
  return t;
}

}  // namespace

std::string Tokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    std::string piece = token_to_piece(ids[i], render_special);
    // The space the tokenizer prepended to the text is not part of it.
    if (i == 0 && add_space_prefix_ && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    out += piece;
  }
  return clean_spaces_ ? clean_spaces(out) : out;
}

}  // namespace packinfer
