// Tokenizer::load_vocab: the part of llama.cpp's llama_vocab::load that every tokenizer model
// shares (tokens, token types, special ids, flags, end-of-generation set).
#include <algorithm>
#include <array>
#include <string_view>

#include "packinfer/error.h"
#include "tokenizer/tokenizer.h"

namespace packinfer {
namespace {

constexpr std::string_view kPrefix = "tokenizer.ggml.";

// Texts llama.cpp recognises when the GGUF file does not name the token by id. Matching tokens
// are forced to CONTROL so they are hidden from output and parsed as special.
constexpr std::array<std::string_view, 7> kEotTexts = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<EOT>",
    "<\xef\xbd\x9c"
    "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"};  // DeepSeek
constexpr std::array<std::string_view, 7> kEogTexts = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>"};
// Fill-in-the-middle tokens: llama.cpp finds each kind by text when its key is absent, forces it
// to CONTROL, and ends generation on the pad, repo and file-separator ones.
struct FimKind {
  std::string_view key;
  std::array<std::string_view, 4> texts;  // empty entries unused
  bool eog;
};
constexpr std::array<FimKind, 6> kFimKinds = {{
    {"fim_pre_token_id",
     {"<|fim_prefix|>", "<fim-prefix>",
      "<\xef\xbd\x9c"
      "fim\xe2\x96\x81"
      "begin\xef\xbd\x9c>",
      "<PRE>"},
     false},
    {"fim_suf_token_id",
     {"<|fim_suffix|>", "<fim-suffix>",
      "<\xef\xbd\x9c"
      "fim\xe2\x96\x81hole\xef\xbd\x9c>",
      "<SUF>"},
     false},
    {"fim_mid_token_id",
     {"<|fim_middle|>", "<fim-middle>",
      "<\xef\xbd\x9c"
      "fim\xe2\x96\x81"
      "end\xef\xbd\x9c>",
      "<MID>"},
     false},
    {"fim_pad_token_id", {"<|fim_pad|>", "<fim-pad>", "<PAD>", ""}, true},
    {"fim_rep_token_id", {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"}, true},
    {"fim_sep_token_id", {"<|file_sep|>", "", "", ""}, true},
}};

TokenType type_from_int(int64_t v) {
  return (v >= 1 && v <= 6) ? static_cast<TokenType>(v) : TokenType::UNDEFINED;
}

}  // namespace

void Tokenizer::load_vocab(const gguf::File& file, const Defaults& d) {
  auto key = [](std::string_view k) { return std::string(kPrefix) + std::string(k); };
  const gguf::Array* toks = file.get_array(key("tokens"));
  if (toks == nullptr) throw Error(file.name() + ": missing tokenizer.ggml.tokens");
  if (toks->items.empty()) throw Error(file.name() + ": tokenizer.ggml.tokens is empty");
  const size_t n = toks->items.size();
  if (n > static_cast<size_t>(INT32_MAX)) throw Error(file.name() + ": vocabulary too large");

  const gguf::Array* ttypes = file.get_array(key("token_type"));
  if (ttypes != nullptr && ttypes->items.size() != n)
    throw Error(file.name() + ": tokenizer.ggml.token_type has " +
                std::to_string(ttypes->items.size()) + " entries for " + std::to_string(n) +
                " tokens");
  types_.assign(n, TokenType::NORMAL);
  text_offset_.assign(n + 1, 0);
  text_.clear();
  for (size_t i = 0; i < n; ++i) {
    const std::string* s = toks->items[i].as_string();
    if (s == nullptr) throw Error(file.name() + ": tokenizer.ggml.tokens holds a non-string");
    // llama.cpp renames empty tokens so that they can never match text.
    text_ += s->empty() ? "[EMPTY_" + std::to_string(i) + "]" : *s;
    if (text_.size() > UINT32_MAX) throw Error(file.name() + ": vocabulary texts too large");
    text_offset_[i + 1] = static_cast<uint32_t>(text_.size());
    if (ttypes != nullptr) {
      auto v = ttypes->items[i].as_int();
      if (!v) throw Error(file.name() + ": tokenizer.ggml.token_type holds a non-integer");
      types_[i] = type_from_int(*v);
    }
  }
  text_.shrink_to_fit();
  size_t slots = 1;
  while (slots < n + n / 3 + 1) slots <<= 1;
  id_slots_.assign(slots, -1);
  for (size_t i = 0; i < n; ++i) {
    const auto id = static_cast<int32_t>(i);
    size_t k = first_slot(text_of(id));
    while (id_slots_[k] >= 0 && text_of(id_slots_[k]) != text_of(id)) k = (k + 1) & (slots - 1);
    id_slots_[k] = id;  // a later duplicate replaces the earlier one, as in llama.cpp's map
  }

  // Special ids: the defaults of the tokenizer model, overridden by keys holding a valid id.
  bos_ = d.bos, eos_ = d.eos, unk_ = d.unk;
  auto read_id = [&](std::string_view k, int32_t& id) {
    if (auto v = file.get_int(key(k)); v && *v >= 0 && static_cast<size_t>(*v) < n)
      id = static_cast<int32_t>(*v);
  };
  read_id("bos_token_id", bos_);
  read_id("eos_token_id", eos_);
  read_id("unknown_token_id", unk_);
  read_id("padding_token_id", pad_);
  read_id("eot_token_id", eot_);
  read_id("eom_token_id", eom_);

  add_bos_ = file.get_bool(key("add_bos_token")).value_or(d.add_bos);
  add_eos_ = file.get_bool(key("add_eos_token")).value_or(false);
  add_space_prefix_ = file.get_bool(key("add_space_prefix")).value_or(d.add_space_prefix);
  clean_spaces_ = d.clean_spaces;

  auto force_control = [&](int32_t id) { types_[static_cast<size_t>(id)] = TokenType::CONTROL; };
  // Scanned in id order (llama.cpp walks a hash map; only which of several candidates becomes
  // "the" EOT id can differ, never the EOG set).
  for (size_t i = 0; i < n; ++i) {
    const auto id = static_cast<int32_t>(i);
    const std::string_view t = token_text(id);
    if (eot_ < 0 && std::find(kEotTexts.begin(), kEotTexts.end(), t) != kEotTexts.end()) {
      eot_ = id;
      force_control(id);
    }
    if (eom_ < 0 && t == "<|eom_id|>") {
      eom_ = id;
      force_control(id);
    }
  }
  std::vector<int32_t> eog;
  for (const FimKind& kind : kFimKinds) {
    int32_t id = -1;
    read_id(kind.key, id);
    for (size_t i = 0; id < 0 && i < n; ++i) {
      if (std::find(kind.texts.begin(), kind.texts.end(), token_text(static_cast<int32_t>(i))) !=
          kind.texts.end()) {
        id = static_cast<int32_t>(i);
        force_control(id);
      }
    }
    if (kind.eog && id >= 0) eog.push_back(id);
  }
  for (size_t i = 0; i < n; ++i) {
    if (std::find(kEogTexts.begin(), kEogTexts.end(), token_text(static_cast<int32_t>(i))) !=
        kEogTexts.end()) {
      eog.push_back(static_cast<int32_t>(i));
      force_control(static_cast<int32_t>(i));
    }
  }
  for (int32_t id : {eos_, eot_, eom_})
    if (id >= 0) eog.push_back(id);
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
  eog_ = std::move(eog);

  special_tokens_.clear();
  for (size_t i = 0; i < n; ++i) {
    const TokenType t = types_[i];
    if (t == TokenType::CONTROL || t == TokenType::USER_DEFINED || t == TokenType::UNKNOWN)
      special_tokens_.push_back(static_cast<int32_t>(i));
  }
  // Longest text first so that "<|im_start|>" wins over any special token it contains; equal
  // lengths keep id order (llama.cpp's unstable sort leaves that unspecified).
  std::stable_sort(special_tokens_.begin(), special_tokens_.end(), [&](int32_t a, int32_t b) {
    return token_text(a).size() > token_text(b).size();
  });
}

}  // namespace packinfer
