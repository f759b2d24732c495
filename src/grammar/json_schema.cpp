#include "grammar/json_schema.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include "grammar/json_keys.h"
#include "grammar/json_numbers.h"
#include "grammar/json_pointer.h"
#include "grammar/json_strings.h"
#include "grammar/json_text.h"
#include "grammar/limits.h"
#include "packinfer/error.h"
#include "tokenizer/utf8.h"

namespace packinfer::grammar {
namespace {

using ojson = nlohmann::ordered_json;

// Keywords that describe and never constrain: accepted and not enforced.
const std::set<std::string, std::less<>> kAnnotations = {
    "title",      "description",      "default",        "examples", "$comment",
    "deprecated", "readOnly",         "writeOnly",      "$schema",  "$id",
    "$anchor",    "contentMediaType", "contentEncoding"};
// Keywords enforced by this compiler.
const std::set<std::string, std::less<>> kSupported = {"type",
                                                       "properties",
                                                       "required",
                                                       "additionalProperties",
                                                       "items",
                                                       "minItems",
                                                       "maxItems",
                                                       "enum",
                                                       "const",
                                                       "minLength",
                                                       "maxLength",
                                                       "format",
                                                       "minimum",
                                                       "maximum",
                                                       "exclusiveMinimum",
                                                       "exclusiveMaximum",
                                                       "anyOf",
                                                       "oneOf",
                                                       "allOf",
                                                       "$ref",
                                                       "$defs",
                                                       "definitions",
                                                       "uniqueItems"};
const std::set<std::string, std::less<>> kObjectKeywords = {"properties", "required",
                                                            "additionalProperties"};
const std::set<std::string, std::less<>> kArrayKeywords = {"items", "minItems", "maxItems",
                                                           "uniqueItems"};
const std::set<std::string, std::less<>> kStringKeywords = {"minLength", "maxLength", "format"};
const std::set<std::string, std::less<>> kNumberKeywords = {"minimum", "maximum",
                                                            "exclusiveMinimum", "exclusiveMaximum"};

std::string escape_pointer_token(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

// A rule name from a hint: GBNF names are [a-zA-Z0-9-].
std::string sanitize(const std::string& hint) {
  std::string out;
  for (char c : hint) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    out += ok ? c : '-';
    if (out.size() >= 40) break;
  }
  if (out.empty() || out == "root") out = "r" + out;
  return out;
}

class SchemaCompiler {
 public:
  explicit SchemaCompiler(const ojson& root) : root_(root) {}

  std::string run() {
    by_ref_["#"] = "root";
    names_.insert("root");
    const std::string body = visit(root_, "#", 0);
    std::string out = "root ::= " + body + "\n";
    for (const auto& [name, rule_body] : rules_) out += name + " ::= " + rule_body + "\n";
    if (out.size() > limits::kMaxGrammarBytes) {
      throw InvalidArgument("json_schema: the schema compiles to a grammar of " +
                            std::to_string(out.size()) + " bytes, above the limit of " +
                            std::to_string(limits::kMaxGrammarBytes));
    }
    return out;
  }

 private:
  [[noreturn]] static void fail(const std::string& what, const std::string& path) {
    throw InvalidArgument("json_schema: " + what + " (at " + path + ")");
  }

  // Defines a rule for `body` (or reuses the one with the same body) and returns its name.
  std::string rule(const std::string& hint, const std::string& body) {
    auto it = by_body_.find(body);
    if (it != by_body_.end()) return it->second;
    const std::string name = unique_name(hint);
    rules_.push_back({name, body});
    by_body_.emplace(body, name);
    return name;
  }

  std::string unique_name(const std::string& hint) {
    const std::string base = sanitize(hint);
    std::string name = base;
    int& k = next_suffix_[base];  // where to continue counting for this hint
    if (k == 0) k = 2;
    while (names_.count(name)) name = base + "-" + std::to_string(k++);
    names_.insert(name);
    if (names_.size() > static_cast<size_t>(limits::kMaxRules) / 2) {
      throw InvalidArgument("json_schema: the schema needs more than " +
                            std::to_string(limits::kMaxRules / 2) + " grammar rules");
    }
    return name;
  }

  // --- generic JSON ---------------------------------------------------------------------------
  std::string any_value() {
    if (any_value_.empty()) {
      any_value_ = unique_name("value");
      const std::string str = rule("string", json_string_gbnf(0, std::nullopt));
      const std::string num = rule("number", number_gbnf({}));
      const std::string obj = unique_name("object");
      const std::string arr = unique_name("array");
      rules_.push_back({any_value_, obj + " | " + arr + " | " + str + " | " + num +
                                        " | \"true\" | \"false\" | \"null\""});
      rules_.push_back({obj, "\"{\" (" + str + " \": \" " + any_value_ + " (\", \" " + str +
                                 " \": \" " + any_value_ + ")*)? \"}\""});
      rules_.push_back({arr, "\"[\" (" + any_value_ + " (\", \" " + any_value_ + ")*)? \"]\""});
      any_object_ = obj;
    }
    return any_value_;
  }

  // --- schemas --------------------------------------------------------------------------------
  std::string visit(const ojson& s, const std::string& path, int depth) {
    if (depth > limits::kMaxSchemaDepth) {
      fail("subschemas are nested deeper than " + std::to_string(limits::kMaxSchemaDepth) +
               " levels",
           path);
    }
    if (s.is_boolean()) {
      if (s.get<bool>()) return any_value();
      fail("the schema 'false' admits no value", path);
    }
    if (!s.is_object()) fail("a schema must be an object or a boolean", path);
    for (const auto& [key, v] : s.items()) {
      if (kAnnotations.count(key)) continue;
      if (!kSupported.count(key)) fail("keyword '" + key + "' is not supported", path);
    }
    if (auto u = s.find("uniqueItems"); u != s.end() && !(u->is_boolean() && !u->get<bool>())) {
      fail("keyword 'uniqueItems' is not supported (only false)", path);
    }
    if (s.contains("$ref")) return visit_ref(s, path, depth);
    if (s.contains("allOf")) return visit_all_of(s, path, depth);
    if (s.contains("anyOf") || s.contains("oneOf")) return visit_any_of(s, path, depth);
    if (s.contains("enum") || s.contains("const")) return visit_enum(s, path);
    return visit_types(s, path, depth);
  }

  // Keywords of `s` that constrain, other than `except` ($defs and annotations never count).
  static std::vector<std::string> constraints(const ojson& s, const std::set<std::string>& except) {
    std::vector<std::string> out;
    for (const auto& [key, v] : s.items()) {
      if (kAnnotations.count(key) || except.count(key) || key == "$defs" || key == "definitions")
        continue;
      if (key == "uniqueItems") continue;  // only false gets here
      out.push_back(key);
    }
    return out;
  }

  void only(const ojson& s, const std::set<std::string>& allowed, const std::string& what,
            const std::string& path) {
    const std::vector<std::string> extra = constraints(s, allowed);
    if (!extra.empty()) {
      fail("keyword '" + extra[0] + "' together with '" + what + "' is not supported", path);
    }
  }

  const ojson& resolve(const std::string& ref, const std::string& path) {
    if (ref.empty() || ref[0] != '#') {
      fail("$ref '" + ref + "' is not supported: only local references (\"#/...\") are", path);
    }
    const ojson* target = resolve_local_ref(root_, ref);
    if (target == nullptr) fail("$ref '" + ref + "' does not resolve", path);
    return *target;
  }

  std::string visit_ref(const ojson& s, const std::string& path, int depth) {
    only(s, {"$ref"}, "$ref", path);
    if (!s["$ref"].is_string()) fail("'$ref' must be a string", path);
    const std::string ref = s["$ref"].get<std::string>();
    auto known = by_ref_.find(ref);
    if (known != by_ref_.end()) return known->second;
    // A chain of references that only refer on never reaches a schema.
    std::vector<std::string> chain = {ref};
    const ojson* target = &resolve(ref, path);
    while (target->is_object() && target->contains("$ref") && (*target)["$ref"].is_string()) {
      const std::string next = (*target)["$ref"].get<std::string>();
      if (std::find(chain.begin(), chain.end(), next) != chain.end()) {
        std::string cycle;
        for (const std::string& c : chain) cycle += c + " -> ";
        fail("cyclic $ref: " + cycle + next, path);
      }
      if (by_ref_.count(next)) break;
      chain.push_back(next);
      target = &resolve(next, path);
    }
    const std::string last =
        ref.substr(ref.find_last_of('/') == std::string::npos ? 0 : ref.find_last_of('/') + 1);
    const std::string name = unique_name("ref-" + last);
    by_ref_[ref] = name;
    const std::string body = visit(resolve(ref, path), ref, depth + 1);
    rules_.push_back({name, body});
    return name;
  }

  std::string visit_all_of(const ojson& s, const std::string& path, int depth) {
    const ojson& all = s["allOf"];
    if (!all.is_array() || all.empty()) fail("'allOf' must be a non-empty array", path);
    if (all.size() > 1) fail("'allOf' with more than one schema is not supported", path);
    only(s, {"allOf"}, "allOf", path);
    return visit(all[0], path + "/allOf/0", depth + 1);
  }

  std::string visit_any_of(const ojson& s, const std::string& path, int depth) {
    const char* key = s.contains("anyOf") ? "anyOf" : "oneOf";
    if (s.contains("anyOf") && s.contains("oneOf"))
      fail("'anyOf' together with 'oneOf' is not supported", path);
    only(s, {key}, key, path);
    const ojson& alts = s[key];
    if (!alts.is_array() || alts.empty())
      fail(std::string("'") + key + "' must be a non-empty array", path);
    std::string out;
    for (size_t i = 0; i < alts.size(); ++i) {
      const std::string a = visit(alts[i], path + "/" + key + "/" + std::to_string(i), depth + 1);
      out += (i ? " | " : "") + a;
    }
    return rule("alt", out);
  }

  static bool has_type(const ojson& types, const std::string& t) {
    if (types.is_string()) return types.get<std::string>() == t;
    for (const ojson& x : types) {
      if (x.is_string() && x.get<std::string>() == t) return true;
    }
    return false;
  }

  static bool value_has_type(const ojson& v, const ojson& types) {
    if (has_type(types, "null") && v.is_null()) return true;
    if (has_type(types, "boolean") && v.is_boolean()) return true;
    if (has_type(types, "string") && v.is_string()) return true;
    if (has_type(types, "object") && v.is_object()) return true;
    if (has_type(types, "array") && v.is_array()) return true;
    if (has_type(types, "number") && v.is_number()) return true;
    if (has_type(types, "integer") && v.is_number()) {
      if (v.is_number_integer()) return true;
      const double d = v.get<double>();
      return d == static_cast<double>(static_cast<int64_t>(d));
    }
    return false;
  }

  std::string visit_enum(const ojson& s, const std::string& path) {
    only(s, {"enum", "const", "type"}, s.contains("enum") ? "enum" : "const", path);
    std::vector<const ojson*> values;
    if (s.contains("const")) values.push_back(&s["const"]);
    if (s.contains("enum")) {
      if (s.contains("const")) fail("'enum' together with 'const' is not supported", path);
      const ojson& e = s["enum"];
      if (!e.is_array() || e.empty()) fail("'enum' must be a non-empty array", path);
      if (e.size() > limits::kMaxEnumValues) {
        fail("'enum' has " + std::to_string(e.size()) + " values; at most " +
                 std::to_string(limits::kMaxEnumValues) + " are supported",
             path);
      }
      for (const ojson& v : e) values.push_back(&v);
    }
    std::string out;
    std::set<std::string> seen;
    for (const ojson* v : values) {
      if (s.contains("type") && !value_has_type(*v, s["type"])) continue;
      if (json_depth(*v) > limits::kMaxSchemaDepth) {
        fail("an enum/const value is nested deeper than " +
                 std::to_string(limits::kMaxSchemaDepth) + " levels",
             path);
      }
      const std::string text = json_text(*v);
      if (!seen.insert(text).second) continue;
      out += (out.empty() ? "" : " | ") + gbnf_literal(text);
    }
    if (out.empty()) fail("no value of 'enum'/'const' has the schema's 'type'", path);
    return rule("enum", out);
  }

  std::string visit_types(const ojson& s, const std::string& path, int depth) {
    std::vector<std::string> types;
    if (s.contains("type")) {
      const ojson& t = s["type"];
      if (t.is_string()) {
        types.push_back(t.get<std::string>());
      } else if (t.is_array() && !t.empty()) {
        for (const ojson& x : t) {
          if (!x.is_string()) fail("'type' must be a string or an array of strings", path);
          types.push_back(x.get<std::string>());
        }
      } else {
        fail("'type' must be a string or an array of strings", path);
      }
    } else {
      // No type: the keywords say which types they constrain; none means any value.
      auto any_of = [&s](const std::set<std::string, std::less<>>& keys) {
        return std::any_of(keys.begin(), keys.end(),
                           [&s](const std::string& k) { return s.contains(k); });
      };
      if (any_of(kObjectKeywords)) types.push_back("object");
      if (any_of(kArrayKeywords)) types.push_back("array");
      if (any_of(kStringKeywords)) types.push_back("string");
      if (any_of(kNumberKeywords)) types.push_back("number");
      if (types.empty()) return any_value();
    }
    std::string out;
    std::set<std::string> done;
    for (const std::string& t : types) {
      if (!done.insert(t).second) continue;
      std::string e;
      if (t == "string") {
        e = string_type(s, path);
      } else if (t == "integer" || t == "number") {
        e = number_type(s, path, t == "integer");
      } else if (t == "boolean") {
        e = rule("boolean", "\"true\" | \"false\"");
      } else if (t == "null") {
        e = "\"null\"";
      } else if (t == "object") {
        e = object_type(s, path, depth);
      } else if (t == "array") {
        e = array_type(s, path, depth);
      } else {
        fail("unknown type '" + t + "'", path);
      }
      out += (out.empty() ? "" : " | ") + e;
    }
    return types.size() == 1 ? out : rule("types", out);
  }

  static int64_t count(const ojson& s, const char* key, const std::string& path) {
    const ojson& v = s[key];
    if (!v.is_number_integer() &&
        !(v.is_number() && v.get<double>() == static_cast<int64_t>(v.get<double>()))) {
      fail(std::string("'") + key + "' must be a non-negative integer", path);
    }
    const int64_t n = v.is_number_unsigned()
                          ? static_cast<int64_t>(std::min<uint64_t>(v.get<uint64_t>(), INT64_MAX))
                          : v.get<int64_t>();
    if (n < 0) fail(std::string("'") + key + "' must be a non-negative integer", path);
    return n;
  }

  // min..max of a repetition: a maximum above the grammar's limit is lowered to it (every value
  // within the lower bound is still valid); a minimum above it cannot be honoured.
  static std::pair<int64_t, std::optional<int64_t>> bounds(const ojson& s, const char* min_key,
                                                           const char* max_key,
                                                           const std::string& path) {
    const int64_t lo = s.contains(min_key) ? count(s, min_key, path) : 0;
    std::optional<int64_t> hi;
    if (s.contains(max_key))
      hi = std::min<int64_t>(count(s, max_key, path), limits::kMaxRepetition);
    if (lo > limits::kMaxRepetition) {
      fail(std::string("'") + min_key + "' above " + std::to_string(limits::kMaxRepetition) +
               " is not supported",
           path);
    }
    if (hi && *hi < lo) {
      fail(std::string("'") + max_key + "' is below '" + min_key + "'", path);
    }
    return {lo, hi};
  }

  std::string string_type(const ojson& s, const std::string& path) {
    if (s.contains("format")) {
      if (!s["format"].is_string()) fail("'format' must be a string", path);
      if (s.contains("minLength") || s.contains("maxLength")) {
        fail("'format' together with 'minLength'/'maxLength' is not supported", path);
      }
      try {
        return rule(s["format"].get<std::string>(),
                    json_format_gbnf(s["format"].get<std::string>()));
      } catch (const InvalidArgument& e) {
        fail(e.what(), path);
      }
    }
    const auto [lo, hi] = bounds(s, "minLength", "maxLength", path);
    return rule(lo == 0 && !hi ? "string"
                               : "string-" + std::to_string(lo) + "-" +
                                     (hi ? std::to_string(*hi) : std::string("inf")),
                json_string_gbnf(lo, hi));
  }

  std::string number_type(const ojson& s, const std::string& path, bool integer) {
    NumericBounds b;
    auto decimal = [&](const char* key) {
      const ojson& v = s[key];
      if (!v.is_number()) fail(std::string("'") + key + "' must be a number", path);
      std::optional<Decimal> d = parse_decimal(v.dump());
      if (!d) fail(std::string("'") + key + "' is out of the supported range (|x| < 1e64)", path);
      return *d;
    };
    if (s.contains("minimum")) b.min = decimal("minimum");
    if (s.contains("maximum")) b.max = decimal("maximum");
    // Draft 4 wrote exclusiveMinimum: true next to minimum; later drafts give the bound itself.
    auto exclusive = [&](const char* key, std::optional<Decimal>& bound, bool& flag, bool is_min) {
      if (!s.contains(key)) return;
      const ojson& v = s[key];
      if (v.is_boolean()) {
        if (v.get<bool>()) {
          if (!bound)
            fail(
                std::string("'") + key + "': true needs '" + (is_min ? "minimum" : "maximum") + "'",
                path);
          flag = true;
        }
        return;
      }
      const Decimal d = decimal(key);
      // The tighter of an inclusive and an exclusive bound wins.
      const int c = bound ? compare(d, *bound) : 0;
      if (!bound || (is_min ? c >= 0 : c <= 0)) {
        bound = d;
        flag = true;
      }
    };
    exclusive("exclusiveMinimum", b.min, b.min_exclusive, true);
    exclusive("exclusiveMaximum", b.max, b.max_exclusive, false);
    try {
      const std::string body = integer ? integer_gbnf(b) : number_gbnf(b);
      return rule(integer ? "integer" : "number", body);
    } catch (const InvalidArgument& e) {
      fail(e.what(), path);
    }
  }

  // The keys an extra property may have: JSON strings without escapes whose text is none of
  // `names` (so an extra property never repeats a declared one). One rule per node of the names'
  // trie (over code points): the key ends where no name ends, leaves the trie, or follows it.
  std::string key_not_in(const std::vector<std::string>& names, const std::string& path) {
    const std::optional<std::string> key = keys_other_than(
        names, [this] { return unique_name("key"); }, rules_,
        static_cast<size_t>(limits::kMaxRules) / 4);
    if (!key) fail("too many or too long property names beside additionalProperties", path);
    return *key;
  }

  std::string object_type(const ojson& s, const std::string& path, int depth) {
    std::vector<std::pair<std::string, const ojson*>> props;
    static const ojson kAny = true;
    if (s.contains("properties")) {
      const ojson& p = s["properties"];
      if (!p.is_object()) fail("'properties' must be an object", path);
      if (p.size() > limits::kMaxSchemaProperties) {
        fail("more than " + std::to_string(limits::kMaxSchemaProperties) + " properties", path);
      }
      for (const auto& [k, v] : p.items()) props.push_back({k, &v});
    }
    std::set<std::string> required;
    if (s.contains("required")) {
      const ojson& r = s["required"];
      if (!r.is_array()) fail("'required' must be an array of strings", path);
      for (const ojson& x : r) {
        if (!x.is_string()) fail("'required' must be an array of strings", path);
        required.insert(x.get<std::string>());
      }
    }
    // Extra properties: absent additionalProperties means none when properties are declared
    // (the output stays valid; the model does not invent keys), any when nothing is declared.
    const ojson* extra = nullptr;
    if (s.contains("additionalProperties")) {
      const ojson& a = s["additionalProperties"];
      if (!(a.is_boolean() && !a.get<bool>())) extra = &a;
    } else if (props.empty()) {
      extra = &kAny;
    }
    // Required names without a declared schema take the extra-property schema.
    for (const std::string& r : required) {
      const bool declared =
          std::any_of(props.begin(), props.end(), [&r](const auto& p) { return p.first == r; });
      if (declared) continue;
      if (!extra)
        fail("required property '" + r + "' is not allowed (additionalProperties is false)", path);
      props.push_back({r, extra});
    }
    const std::string id = std::to_string(++objects_);
    std::vector<std::string> kv;
    std::vector<std::string> names;
    for (const auto& [name, schema] : props) {
      const std::string value =
          visit(*schema, path + "/properties/" + escape_pointer_token(name), depth + 1);
      kv.push_back(gbnf_literal(json_quote(name) + kKeySeparator) + " " + value);
      names.push_back(name);
    }
    std::string rest_next, first_next;  // after property i (something written / nothing yet)
    if (extra) {
      const std::string value = visit(*extra, path + "/additionalProperties", depth + 1);
      const std::string key = key_not_in(names, path);
      const std::string pair =
          rule("obj" + id + "-extra", key + " " + gbnf_literal(kKeySeparator) + " " + value);
      rest_next =
          rule("obj" + id + "-more", "(" + gbnf_literal(kItemSeparator) + " " + pair + ")*");
      first_next = rule("obj" + id + "-extras", "(" + pair + " " + rest_next + ")?");
    }
    for (size_t i = kv.size(); i-- > 0;) {
      const bool req = required.count(names[i]) > 0;
      const std::string tail = rest_next.empty() ? "" : " " + rest_next;
      std::string rest = req ? gbnf_literal(kItemSeparator) + " " + kv[i] + tail
                             : "(" + gbnf_literal(kItemSeparator) + " " + kv[i] + ")?" + tail;
      std::string first = kv[i] + tail;
      if (!req) first = "(" + first + (first_next.empty() ? " | \"\")" : " | " + first_next + ")");
      rest_next = rule("obj" + id + "-after" + std::to_string(i), rest);
      first_next = rule("obj" + id + "-from" + std::to_string(i), first);
    }
    const std::string inner = first_next.empty() ? "" : " " + first_next;
    return rule("obj" + id, "\"{\"" + inner + " \"}\"");
  }

  std::string array_type(const ojson& s, const std::string& path, int depth) {
    if (s.contains("items") && s["items"].is_array()) {
      fail("'items' as an array (tuples) is not supported", path);
    }
    const auto [lo, hi] = bounds(s, "minItems", "maxItems", path);
    if (hi && *hi == 0) return "\"[]\"";
    const std::string item =
        s.contains("items") ? visit(s["items"], path + "/items", depth + 1) : any_value();
    const std::string sep = gbnf_literal(kItemSeparator);
    std::string more;
    const int64_t more_lo = std::max<int64_t>(lo - 1, 0);
    if (!hi) {
      more = more_lo == 0 ? "*" : "{" + std::to_string(more_lo) + ",}";
    } else {
      more = "{" + std::to_string(more_lo) + "," + std::to_string(*hi - 1) + "}";
    }
    const std::string elements = item + " (" + sep + " " + item + ")" + more;
    const std::string body =
        lo == 0 ? "\"[\" (" + elements + ")? \"]\"" : "\"[\" " + elements + " \"]\"";
    return rule("array", body);
  }

  const ojson& root_;
  std::vector<std::pair<std::string, std::string>> rules_;
  std::unordered_map<std::string, std::string> by_body_;
  std::unordered_map<std::string, std::string> by_ref_;
  std::set<std::string> names_;
  std::unordered_map<std::string, int> next_suffix_;
  std::string any_value_, any_object_;
  int objects_ = 0;
};

}  // namespace

std::string json_schema_gbnf(std::string_view schema_text) {
  ojson schema = ojson::parse(schema_text.begin(), schema_text.end(), nullptr,
                              /*allow_exceptions=*/false);
  if (schema.is_discarded()) throw InvalidArgument("json_schema: the schema is not valid JSON");
  return SchemaCompiler(schema).run();
}

std::string json_object_gbnf() {
  // {"type": "object"}: any object, its values any JSON.
  return SchemaCompiler(ojson::parse(R"({"type": "object"})")).run();
}

}  // namespace packinfer::grammar
