#include "grammar/json_text.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace packinfer::grammar {

std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

std::string json_text(const nlohmann::ordered_json& v) {
  switch (v.type()) {
    case nlohmann::ordered_json::value_t::object: {
      std::string s = "{";
      bool first = true;
      for (const auto& [k, x] : v.items()) {
        if (!first) s += kItemSeparator;
        first = false;
        s += json_quote(k) + kKeySeparator + json_text(x);
      }
      return s + "}";
    }
    case nlohmann::ordered_json::value_t::array: {
      std::string s = "[";
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) s += kItemSeparator;
        s += json_text(v[i]);
      }
      return s + "]";
    }
    case nlohmann::ordered_json::value_t::string:
      return json_quote(v.get_ref<const std::string&>());
    default:
      return v.dump();  // numbers, booleans, null
  }
}

std::string gbnf_literal(std::string_view bytes) {
  std::string out = "\"";
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02X", c);
      out += buf;
    } else {
      out += ch;  // UTF-8 passes through: GBNF text is UTF-8
    }
  }
  return out + "\"";
}

int json_depth(const nlohmann::ordered_json& value) {
  struct Item {
    const nlohmann::ordered_json* v;
    int depth;
  };
  std::vector<Item> stack = {{&value, 0}};
  int deepest = 0;
  while (!stack.empty()) {
    const Item it = stack.back();
    stack.pop_back();
    if (!it.v->is_structured()) continue;
    deepest = std::max(deepest, it.depth + 1);
    for (const auto& child : *it.v) stack.push_back({&child, it.depth + 1});
  }
  return deepest;
}

}  // namespace packinfer::grammar
