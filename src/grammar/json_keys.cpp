#include "grammar/json_keys.h"

#include <cstdio>
#include <map>

#include "grammar/json_text.h"
#include "tokenizer/utf8.h"

namespace packinfer::grammar {
namespace {

// \uXXXX or \UXXXXXXXX: safe inside a GBNF character class whatever the character is.
std::string class_escape(uint32_t cp) {
  char buf[16];
  if (cp <= 0xFFFF) {
    std::snprintf(buf, sizeof(buf), "\\u%04X", cp);
  } else {
    std::snprintf(buf, sizeof(buf), "\\U%08X", cp);
  }
  return buf;
}

}  // namespace

std::optional<std::string> keys_other_than(const std::vector<std::string>& names,
                                           const std::function<std::string()>& new_rule_name,
                                           std::vector<std::pair<std::string, std::string>>& rules,
                                           size_t max_rules) {
  struct Node {
    std::map<uint32_t, int32_t> children;
    bool terminal = false;
  };
  std::vector<Node> trie(1);
  for (const std::string& n : names) {
    int32_t cur = 0;
    for (uint32_t cp : utf8::decode_lenient(n)) {
      auto it = trie[static_cast<size_t>(cur)].children.find(cp);
      if (it == trie[static_cast<size_t>(cur)].children.end()) {
        trie.emplace_back();
        const auto id = static_cast<int32_t>(trie.size()) - 1;
        trie[static_cast<size_t>(cur)].children[cp] = id;
        cur = id;
      } else {
        cur = it->second;
      }
    }
    trie[static_cast<size_t>(cur)].terminal = true;
    if (trie.size() > max_rules) return std::nullopt;
  }
  const std::string free_char = "[^\"\\\\\\x00-\\x1F]";
  // One rule per trie node; node 0 is the whole key after the opening quote.
  std::vector<std::string> node_rule(trie.size());
  for (size_t v = 0; v < trie.size(); ++v) node_rule[v] = new_rule_name();
  for (size_t v = 0; v < trie.size(); ++v) {
    std::vector<std::string> alts;
    if (!trie[v].terminal) alts.push_back("\"\\\"\"");  // the key may end here
    std::string excluded;
    for (const auto& [cp, child] : trie[v].children) {
      excluded += class_escape(cp);
      std::string ch;
      utf8::append(ch, cp);
      alts.push_back(gbnf_literal(ch) + " " + node_rule[static_cast<size_t>(child)]);
    }
    alts.push_back("[^\"\\\\\\x00-\\x1F" + excluded + "] " + free_char + "* \"\\\"\"");
    std::string body;
    for (const std::string& a : alts) body += (body.empty() ? "" : " | ") + a;
    rules.push_back({node_rule[v], body});
  }
  return "\"\\\"\" " + node_rule[0];
}

}  // namespace packinfer::grammar
