// Tokenizer factory and the parts common to every tokenizer model.
#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "packinfer/error.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"

namespace packinfer {

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

int32_t Tokenizer::find_token(std::string_view text) const {
  auto it = token_to_id_.find(std::string(text));
  return it == token_to_id_.end() ? -1 : it->second;
}

namespace {

// llama.cpp's clean_up_tokenization_spaces, three passes over the bytes: drop the space before
// ? ! . , ; turn " ' " into "'"; drop the space before 's 'm 're 've.
std::string clean_spaces(const std::string& in) {
  std::string a;
  for (size_t i = 0; i < in.size(); ++i) {
    const char x = in[i];
    if (i > 0 && in[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) a.pop_back();
    a += x;
  }
  std::string b;
  for (size_t i = 0; i < a.size(); ++i) {
    const char x = a[i];
    if (i > 0 && x == '\'' && i + 1 < a.size() && a[i - 1] == ' ' && a[i + 1] == ' ') {
      b.pop_back();
      ++i;  // the following space goes too
    }
    b += x;
  }
  std::string c;
  for (size_t i = 0; i < b.size(); ++i) {
    const char x = b[i];
    if (i > 0 && b[i - 1] == ' ' && x == '\'' && i + 1 < b.size()) {
      const char x1 = b[i + 1];
      const char x2 = i + 2 < b.size() ? b[i + 2] : '\0';
      if (x1 == 's' || x1 == 'm' || (x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e'))
        c.pop_back();
    }
    c += x;
  }
  return c;
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
