#pragma once
// Chat prompt formatting. Like llama.cpp's built-in templates (llm_chat_detect_template /
// llm_chat_apply_template) this does not run Jinja: the template text of a model is recognised
// by distinctive substrings and rendered by a fixed C++ routine per family.
#include <string>
#include <string_view>
#include <vector>

#include "packinfer/chat.h"  // ChatMessage

namespace packinfer {
namespace gguf {
class File;
}
}  // namespace packinfer

namespace packinfer {

class ChatTemplate {
 public:
  enum class Kind {
    CHATML,
    LLAMA3,
    LLAMA2,            // [INST] ... [/INST], system text folded into the first turn
    LLAMA2_SYS,        // with <<SYS>> ... <</SYS>>
    LLAMA2_SYS_BOS,    // ... and "<s>" before every later [INST]
    LLAMA2_SYS_STRIP,  // ... and messages trimmed
    MISTRAL_V1,
    MISTRAL_V3,
    MISTRAL_V3_TEKKEN,
    MISTRAL_V7,
  };

  // Recognises a Jinja template (tokenizer.chat_template) or a template name. Unknown text gives
  // ChatML with is_fallback() true, so the caller can warn.
  static ChatTemplate detect(std::string_view jinja_text);
  // "chatml", "smollm2", "llama3", "llama2", "llama2-sys", "llama2-sys-bos", "llama2-sys-strip",
  // "mistral" (pre-v1 Mistral-Instruct: rendered like "llama2", as llama.cpp does),
  // "mistral-v1", "mistral-v3", "mistral-v3-tekken", "mistral-v7".
  // Throws packinfer::InvalidArgument for other names.
  static ChatTemplate by_name(std::string_view name);
  // detect() on the model's tokenizer.chat_template; a model without one gets ChatML with
  // is_fallback() true (llama.cpp's default as well).
  static ChatTemplate from_gguf(const gguf::File& file);

  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

  std::string_view name() const { return name_; }
  Kind kind() const { return kind_; }
  bool is_fallback() const { return fallback_; }
  // ChatML templates may insert a system message when the conversation has none (SmolLM2:
  // "You are a helpful AI assistant named SmolLM, trained by Hugging Face"). Empty: none.
  const std::string& default_system() const { return default_system_; }

 private:
  ChatTemplate(Kind kind, std::string name) : kind_(kind), name_(std::move(name)) {}
  std::string render_chatml(const std::vector<ChatMessage>& m, bool add_gen) const;
  std::string render_llama2(const std::vector<ChatMessage>& m) const;
  std::string render_mistral(const std::vector<ChatMessage>& m) const;

  Kind kind_;
  std::string name_;
  bool fallback_ = false;
  std::string default_system_;
};

}  // namespace packinfer
