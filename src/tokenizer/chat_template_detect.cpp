// ChatTemplate::detect and by_name: which family a template belongs to, following the substring
// tests of llama.cpp's llm_chat_detect_template.
#include "gguf/gguf_file.h"
#include "packinfer/error.h"
#include "tokenizer/chat_template.h"

namespace packinfer {
namespace {

constexpr std::string_view kSmolLM2System =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

// A ChatML template that inserts its own system message when the conversation lacks one writes
// it as a literal "<|im_start|>system\n...<|im_end|>" (with a real newline or a "\n" escape).
// Returns that message, or "" when the template has none.
std::string default_system_message(std::string_view t) {
  if (t.find("messages[0]['role'] != 'system'") == std::string_view::npos &&
      t.find("messages[0][\"role\"] != \"system\"") == std::string_view::npos &&
      t.find("messages[0].role != 'system'") == std::string_view::npos)
    return "";
  for (std::string_view head : {"<|im_start|>system\n", "<|im_start|>system\\n"}) {
    const size_t p = t.find(head);
    if (p == std::string_view::npos) continue;
    const size_t b = p + head.size();
    const size_t e = t.find("<|im_end|>", b);
    if (e == std::string_view::npos) continue;
    std::string_view msg = t.substr(b, e - b);
    // Only a plain literal counts; a Jinja expression here means the message is not fixed.
    if (msg.find_first_of("{}'\"+") != std::string_view::npos) continue;
    return std::string(msg);
  }
  return "";
}

}  // namespace

ChatTemplate ChatTemplate::by_name(std::string_view n) {
  using K = Kind;
  if (n == "chatml") return {K::CHATML, "chatml"};
  if (n == "smollm2") {
    ChatTemplate t(K::CHATML, "smollm2");
    t.default_system_ = std::string(kSmolLM2System);
    return t;
  }
  if (n == "llama3") return {K::LLAMA3, "llama3"};
  if (n == "llama2") return {K::LLAMA2, "llama2"};
  if (n == "llama2-sys") return {K::LLAMA2_SYS, "llama2-sys"};
  if (n == "llama2-sys-bos") return {K::LLAMA2_SYS_BOS, "llama2-sys-bos"};
  if (n == "llama2-sys-strip") return {K::LLAMA2_SYS_STRIP, "llama2-sys-strip"};
  // Plain "mistral" is the pre-v1 Mistral-Instruct format, which llama.cpp renders as Llama-2
  // without <<SYS>> (its name only reaches the [INST] branch of the detection).
  if (n == "mistral") return {K::LLAMA2, "mistral"};
  if (n == "mistral-v3") return {K::MISTRAL_V3, "mistral-v3"};
  if (n == "mistral-v1") return {K::MISTRAL_V1, "mistral-v1"};
  if (n == "mistral-v3-tekken") return {K::MISTRAL_V3_TEKKEN, "mistral-v3-tekken"};
  if (n == "mistral-v7") return {K::MISTRAL_V7, "mistral-v7"};
  throw InvalidArgument("unknown chat template name '" + std::string(n) + "'");
}

ChatTemplate ChatTemplate::detect(std::string_view t) {
  try {
    return by_name(t);
  } catch (const InvalidArgument&) {
  }
  auto has = [&](std::string_view s) { return t.find(s) != std::string_view::npos; };
  if (has("<|im_start|>")) {
    ChatTemplate ct(Kind::CHATML, "chatml");
    ct.default_system_ = default_system_message(t);
    if (ct.default_system_ == kSmolLM2System) ct.name_ = "smollm2";
    return ct;
  }
  if (t.rfind("mistral", 0) == 0 || has("[INST]")) {
    if (has("[SYSTEM_PROMPT]")) return by_name("mistral-v7");
    if (has("' [INST] ' + system_message") || has("[AVAILABLE_TOOLS]")) {
      if (has(" [INST]")) return by_name("mistral-v1");
      if (has("\"[INST]\"")) return by_name("mistral-v3-tekken");
      return by_name("mistral-v3");
    }
    if (has("content.strip()")) return by_name("llama2-sys-strip");
    if (has("bos_token + '[INST]")) return by_name("llama2-sys-bos");
    if (has("<<SYS>>")) return by_name("llama2-sys");
    return by_name("llama2");
  }
  if (has("<|start_header_id|>") && has("<|end_header_id|>")) return by_name("llama3");
  ChatTemplate ct(Kind::CHATML, "chatml");
  ct.fallback_ = true;
  return ct;
}

ChatTemplate ChatTemplate::from_gguf(const gguf::File& file) {
  if (std::optional<std::string> t = file.get_string("tokenizer.chat_template")) return detect(*t);
  ChatTemplate ct(Kind::CHATML, "chatml");
  ct.fallback_ = true;
  return ct;
}

}  // namespace packinfer
