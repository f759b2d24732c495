#pragma once
#include <string>

namespace packinfer {

// One message of a conversation ("system", "user", "assistant").
struct ChatMessage {
  std::string role;
  std::string content;
};

}  // namespace packinfer
