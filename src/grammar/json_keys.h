#pragma once
// The keys an object's extra properties may have: JSON strings without escapes whose text is
// none of the declared property names (an extra property must never repeat a declared one, whose
// schema it would break). Built on the names' trie, over code points: a key ends where no name
// ends, leaves the trie, or goes on past it.
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace packinfer::grammar {

// A GBNF expression for such a key (quotes included). Its rules (one per trie node) are named
// by `new_rule_name` and appended to `rules` as (name, body). Empty optional when the trie
// would need more than `max_rules` rules.
std::optional<std::string> keys_other_than(const std::vector<std::string>& names,
                                           const std::function<std::string()>& new_rule_name,
                                           std::vector<std::pair<std::string, std::string>>& rules,
                                           size_t max_rules);

}  // namespace packinfer::grammar
