#include "grammar/json_pointer.h"

#include <string>

namespace packinfer::grammar {

const nlohmann::ordered_json* resolve_local_ref(const nlohmann::ordered_json& root,
                                                std::string_view ref) {
  if (ref.empty() || ref[0] != '#') return nullptr;
  if (ref.size() > 1 && ref[1] != '/') return nullptr;
  const nlohmann::ordered_json* cur = &root;
  size_t i = 1;
  while (i < ref.size()) {
    size_t j = ref.find('/', i + 1);
    if (j == std::string_view::npos) j = ref.size();
    // ~1 is '/', ~0 is '~'.
    std::string token;
    for (size_t k = i + 1; k < j; ++k) {
      if (ref[k] == '~' && k + 1 < j && (ref[k + 1] == '0' || ref[k + 1] == '1')) {
        token += ref[k + 1] == '0' ? '~' : '/';
        ++k;
      } else {
        token += ref[k];
      }
    }
    if (cur->is_object()) {
      auto it = cur->find(token);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array() && !token.empty() && token.size() < 9 &&
               token.find_first_not_of("0123456789") == std::string::npos &&
               std::stoul(token) < cur->size()) {
      cur = &(*cur)[std::stoul(token)];
    } else {
      return nullptr;
    }
    i = j;
  }
  return cur;
}

}  // namespace packinfer::grammar
