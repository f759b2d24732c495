// ChatTemplate::render: one routine per template family, producing exactly the text llama.cpp's
// llm_chat_apply_template produces (SmolLM2 additionally gets its default system message, as its
// Jinja template does).
#include "tokenizer/chat_template.h"

namespace packinfer {
namespace {

std::string trim(std::string_view s) {
  const char* ws = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return "";
  const size_t e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace

std::string ChatTemplate::render(const std::vector<ChatMessage>& m, bool add_gen) const {
  switch (kind_) {
    case Kind::CHATML:
      return render_chatml(m, add_gen);
    case Kind::LLAMA3: {
      std::string s;
      for (const ChatMessage& msg : m)
        s += "<|start_header_id|>" + msg.role + "<|end_header_id|>\n\n" + trim(msg.content) +
             "<|eot_id|>";
      if (add_gen) s += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      return s;
    }
    case Kind::LLAMA2:
    case Kind::LLAMA2_SYS:
    case Kind::LLAMA2_SYS_BOS:
    case Kind::LLAMA2_SYS_STRIP:
      return render_llama2(m);  // these formats have no separate generation prompt
    default:
      return render_mistral(m);
  }
}

std::string ChatTemplate::render_chatml(const std::vector<ChatMessage>& m, bool add_gen) const {
  std::string s;
  if (!default_system_.empty() && (m.empty() || m.front().role != "system"))
    s += "<|im_start|>system\n" + default_system_ + "<|im_end|>\n";
  for (const ChatMessage& msg : m)
    s += "<|im_start|>" + msg.role + "\n" + msg.content + "<|im_end|>\n";
  if (add_gen) s += "<|im_start|>assistant\n";
  return s;
}

std::string ChatTemplate::render_llama2(const std::vector<ChatMessage>& m) const {
  const bool sys_tags = kind_ != Kind::LLAMA2;
  const bool bos_inside = kind_ == Kind::LLAMA2_SYS_BOS;
  const bool strip = kind_ == Kind::LLAMA2_SYS_STRIP;
  std::string s = "[INST] ";  // BOS of the first turn comes from the tokenizer
  bool inside_turn = true;
  for (const ChatMessage& msg : m) {
    const std::string content = strip ? trim(msg.content) : msg.content;
    if (!inside_turn) {
      inside_turn = true;
      s += bos_inside ? "<s>[INST] " : "[INST] ";
    }
    if (msg.role == "system") {
      s += sys_tags ? "<<SYS>>\n" + content + "\n<</SYS>>\n\n" : content + "\n";
    } else if (msg.role == "user") {
      s += content + " [/INST]";
    } else {
      s += content + "</s>";
      inside_turn = false;
    }
  }
  return s;
}

std::string ChatTemplate::render_mistral(const std::vector<ChatMessage>& m) const {
  std::string s;
  if (kind_ == Kind::MISTRAL_V7) {
    for (const ChatMessage& msg : m) {
      if (msg.role == "system") {
        s += "[SYSTEM_PROMPT] " + msg.content + "[/SYSTEM_PROMPT]";
      } else if (msg.role == "user") {
        s += "[INST] " + msg.content + "[/INST]";
      } else {
        s += " " + msg.content + "</s>";
      }
    }
    return s;
  }
  const std::string lead = kind_ == Kind::MISTRAL_V1 ? " " : "";
  const std::string trail = kind_ == Kind::MISTRAL_V3_TEKKEN ? "" : " ";
  const bool trim_assistant = kind_ == Kind::MISTRAL_V3;
  bool inside_turn = false;
  for (const ChatMessage& msg : m) {
    if (!inside_turn) {
      s += lead + "[INST]" + trail;
      inside_turn = true;
    }
    if (msg.role == "system") {
      s += msg.content + "\n\n";
    } else if (msg.role == "user") {
      s += msg.content + lead + "[/INST]";
    } else {
      s += trail + (trim_assistant ? trim(msg.content) : msg.content) + "</s>";
      inside_turn = false;
    }
  }
  return s;
}

}  // namespace packinfer
