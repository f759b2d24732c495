#include "support/json_schema_validator.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>
#include <vector>

namespace packinfer::test {
namespace {

using json = nlohmann::ordered_json;

// --- exact decimal numbers ----------------------------------------------------------------------
// sign * 0.digits * 10^exp, digits without leading or trailing zeros (empty: zero).
struct Num {
  bool neg = false;
  std::string digits;
  long exp = 0;
};

std::optional<Num> parse_num(const std::string& t) {
  Num n;
  size_t i = 0;
  if (i < t.size() && t[i] == '-') n.neg = true, ++i;
  std::string all;
  long point = 0;
  bool seen_point = false, any = false;
  for (; i < t.size(); ++i) {
    const char c = t[i];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      all += c;
      any = true;
      if (!seen_point) ++point;
    } else if (c == '.' && !seen_point) {
      seen_point = true;
    } else {
      break;
    }
  }
  if (!any) return std::nullopt;
  long e = 0;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    bool eneg = false;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) eneg = t[i++] == '-';
    for (; i < t.size() && std::isdigit(static_cast<unsigned char>(t[i])); ++i)
      e = e * 10 + (t[i] - '0');
    if (eneg) e = -e;
  }
  const size_t first = all.find_first_not_of('0');
  if (first == std::string::npos) return Num{};  // zero (sign dropped)
  const size_t last = all.find_last_not_of('0');
  n.digits = all.substr(first, last - first + 1);
  n.exp = point - static_cast<long>(first) + e;
  return n;
}

int cmp_mag(const Num& a, const Num& b) {
  if (a.digits.empty() || b.digits.empty())
    return a.digits.empty() ? (b.digits.empty() ? 0 : -1) : 1;
  if (a.exp != b.exp) return a.exp < b.exp ? -1 : 1;
  const int c = a.digits.compare(b.digits);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

int cmp(const Num& a, const Num& b) {
  const bool an = a.neg && !a.digits.empty(), bn = b.neg && !b.digits.empty();
  if (an != bn) return an ? -1 : 1;
  const int m = cmp_mag(a, b);
  return an ? -m : m;
}

bool is_integral(const Num& n) {
  return n.digits.empty() || static_cast<long>(n.digits.size()) <= n.exp;
}

// The texts of a document's numbers in document order (ordered_json keeps that order, so a
// pre-order walk meets them in the same order).
struct NumberTexts : nlohmann::json_sax<json> {
  std::vector<std::string> texts;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t v) override { return add(std::to_string(v)); }
  bool number_unsigned(number_unsigned_t v) override { return add(std::to_string(v)); }
  bool number_float(number_float_t, const string_t& s) override { return add(s); }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }
  bool add(std::string s) {
    texts.push_back(std::move(s));
    return true;
  }
};

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool digits(const std::string& s, size_t at, size_t n) {
  if (at + n > s.size()) return false;
  for (size_t k = at; k < at + n; ++k) {
    if (!std::isdigit(static_cast<unsigned char>(s[k]))) return false;
  }
  return true;
}
int num_at(const std::string& s, size_t at, size_t n) { return std::stoi(s.substr(at, n)); }

bool valid_date(const std::string& s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 0, 4) || !digits(s, 5, 2) ||
      !digits(s, 8, 2))
    return false;
  const int y = num_at(s, 0, 4), m = num_at(s, 5, 2), d = num_at(s, 8, 2);
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1) return false;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= days[m - 1] + (m == 2 && leap ? 1 : 0);
}

bool valid_time(const std::string& s) {
  if (s.size() < 9 || !digits(s, 0, 2) || s[2] != ':' || !digits(s, 3, 2) || s[5] != ':' ||
      !digits(s, 6, 2))
    return false;
  if (num_at(s, 0, 2) > 23 || num_at(s, 3, 2) > 59 || num_at(s, 6, 2) > 60) return false;
  size_t i = 8;
  if (i < s.size() && s[i] == '.') {
    const size_t start = ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i == start) return false;
  }
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) return i + 1 == s.size();
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    return s.size() == i + 6 && digits(s, i + 1, 2) && s[i + 3] == ':' && digits(s, i + 4, 2) &&
           num_at(s, i + 1, 2) <= 23 && num_at(s, i + 4, 2) <= 59;
  }
  return false;
}

bool valid_format(const std::string& format, const std::string& s) {
  if (format == "date") return valid_date(s);
  if (format == "time") return valid_time(s);
  if (format == "date-time") {
    const size_t t = s.find_first_of("Tt");
    return t == 10 && valid_date(s.substr(0, 10)) && valid_time(s.substr(11));
  }
  if (format == "uuid") {
    if (s.size() != 36) return false;
    for (size_t k = 0; k < 36; ++k) {
      const bool dash = k == 8 || k == 13 || k == 18 || k == 23;
      if (dash ? s[k] != '-' : !std::isxdigit(static_cast<unsigned char>(s[k]))) return false;
    }
    return true;
  }
  if (format == "ipv4") {
    int parts = 0;
    size_t i = 0;
    while (true) {
      const size_t start = i;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
      const size_t len = i - start;
      if (len == 0 || len > 3 || (len > 1 && s[start] == '0') ||
          std::stoi(s.substr(start, len)) > 255)
        return false;
      ++parts;
      if (i == s.size()) break;
      if (s[i] != '.') return false;
      ++i;
    }
    return parts == 4;
  }
  return false;  // an unknown format never validates: the test must not rely on one
}

class Validator {
 public:
  Validator(const json& root, const std::vector<std::string>& numbers)
      : root_(root), numbers_(numbers) {}

  // Validates `v` (whose numbers start at index *next in numbers_) against `s`.
  std::string check(const json& v, const json& s, const std::string& at) {
    const size_t mark = next_;
    std::string e = check_inner(v, s, at);
    next_ = mark + count_numbers(v);
    return e;
  }
  void set_next(size_t n) { next_ = n; }

 private:
  static size_t count_numbers(const json& v) {
    if (v.is_number()) return 1;
    size_t n = 0;
    if (v.is_structured()) {
      for (const auto& x : v) n += count_numbers(x);
    }
    return n;
  }

  const json& resolve(const std::string& ref) {
    if (ref == "#") return root_;
    return root_.at(json::json_pointer(ref.substr(1)));
  }

  bool type_ok(const json& v, const std::string& t, size_t base) {
    if (t == "null") return v.is_null();
    if (t == "boolean") return v.is_boolean();
    if (t == "string") return v.is_string();
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "number") return v.is_number();
    if (t == "integer") return v.is_number() && is_integral(*parse_num(numbers_.at(base)));
    return false;
  }

  // Every check of `v` itself starts from the index of its first number, `base`.
  std::string check_inner(const json& v, const json& s, const std::string& at) {
    const size_t base = next_;
    if (s.is_boolean()) return s.get<bool>() ? "" : at + ": schema false";
    if (s.contains("$ref")) {
      const std::string e = check(v, resolve(s["$ref"].get<std::string>()), at);
      next_ = base;
      if (!e.empty()) return e;
    }
    if (s.contains("type")) {
      const json& t = s["type"];
      bool ok = false;
      if (t.is_string()) ok = type_ok(v, t.get<std::string>(), base);
      for (const json& x : t.is_array() ? t : json::array())
        ok = ok || type_ok(v, x.get<std::string>(), base);
      if (!ok) return at + ": not of type " + t.dump();
    }
    if (s.contains("enum")) {
      const json& e = s["enum"];
      if (std::find(e.begin(), e.end(), v) == e.end()) return at + ": not in enum";
    }
    if (s.contains("const") && !(s["const"] == v)) return at + ": not the const";
    for (const char* key : {"anyOf", "oneOf", "allOf"}) {
      if (!s.contains(key)) continue;
      int matched = 0;
      std::string last;
      for (const json& sub : s[key]) {
        next_ = base;
        std::string e = check(v, sub, at);
        if (e.empty())
          ++matched;
        else
          last = e;
      }
      const size_t n = s[key].size();
      if (std::string(key) == "anyOf" && matched == 0)
        return at + ": no anyOf branch (" + last + ")";
      if (std::string(key) == "oneOf" && matched != 1)
        return at + ": " + std::to_string(matched) + " oneOf branches match";
      if (std::string(key) == "allOf" && matched != static_cast<int>(n))
        return at + ": allOf (" + last + ")";
      next_ = base;
    }
    if (v.is_string()) {
      const std::string& str = v.get_ref<const std::string&>();
      const size_t len = code_points(str);
      if (s.contains("minLength") && len < s["minLength"].get<size_t>())
        return at + ": shorter than minLength";
      if (s.contains("maxLength") && len > s["maxLength"].get<size_t>())
        return at + ": longer than maxLength";
      if (s.contains("format") && !valid_format(s["format"].get<std::string>(), str))
        return at + ": not a " + s["format"].get<std::string>();
      if (s.contains("pattern")) return at + ": pattern is not checked here";
    }
    if (v.is_number()) {
      const Num x = *parse_num(numbers_.at(base));
      auto bound = [&](const char* key) { return *parse_num(s[key].dump()); };
      auto flag = [&](const char* key) {
        return s.contains(key) && s[key].is_boolean() && s[key].get<bool>();
      };
      if (s.contains("minimum") && cmp(x, bound("minimum")) < (flag("exclusiveMinimum") ? 1 : 0))
        return at + ": below minimum";
      if (s.contains("maximum") && cmp(x, bound("maximum")) > (flag("exclusiveMaximum") ? -1 : 0))
        return at + ": above maximum";
      if (s.contains("exclusiveMinimum") && s["exclusiveMinimum"].is_number() &&
          cmp(x, bound("exclusiveMinimum")) <= 0)
        return at + ": not above exclusiveMinimum";
      if (s.contains("exclusiveMaximum") && s["exclusiveMaximum"].is_number() &&
          cmp(x, bound("exclusiveMaximum")) >= 0)
        return at + ": not below exclusiveMaximum";
      if (s.contains("multipleOf")) return at + ": multipleOf is not checked here";
    }
    if (v.is_array()) {
      if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>())
        return at + ": fewer than minItems";
      if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>())
        return at + ": more than maxItems";
      if (s.contains("items")) {
        size_t n = next_;
        for (size_t k = 0; k < v.size(); ++k) {
          next_ = n;
          std::string e = check(v[k], s["items"], at + "/" + std::to_string(k));
          if (!e.empty()) return e;
          n += count_numbers(v[k]);
        }
      }
    }
    if (v.is_object()) {
      for (const json& r : s.value("required", json::array())) {
        if (!v.contains(r.get<std::string>())) return at + ": missing required " + r.dump();
      }
      const json props = s.value("properties", json::object());
      size_t n = next_;
      for (const auto& [k, x] : v.items()) {
        next_ = n;
        const std::string here = at + "/" + k;
        if (props.contains(k)) {
          std::string e = check(x, props[k], here);
          if (!e.empty()) return e;
        } else if (s.contains("additionalProperties")) {
          std::string e = check(x, s["additionalProperties"], here);
          if (!e.empty()) return here + ": additional property not allowed (" + e + ")";
        }
        n += count_numbers(x);
      }
    }
    return "";
  }

  const json& root_;
  const std::vector<std::string>& numbers_;
  size_t next_ = 0;
};

// `text` against `schema`, a part of `root` (which its $refs point into).
std::string validate_at(const std::string& text, const json& root, const json& schema) {
  json v = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded()) return "not valid JSON";
  NumberTexts numbers;
  json::sax_parse(text, &numbers);
  Validator val(root, numbers.texts);
  return val.check(v, schema, "#");
}

// --- prefixes -----------------------------------------------------------------------------------
// A recursive-descent reader that stops at the end of the text. Complete values are validated
// with the Validator against the schema of their place; incomplete ones are followed inside when
// their schema is known.
class PrefixReader {
 public:
  PrefixReader(const std::string& s, const json& root) : s_(s), root_(root) {}

  std::string run() {
    const Result r = value(&root_, "#");
    if (r.status == Bad) return error_;
    if (r.status == Complete) {
      skip_ws();
      if (i_ != s_.size()) return "text after the value";
    }
    return "";
  }

 private:
  enum Status { Complete, Incomplete, Bad };
  struct Result {
    Status status;
    size_t begin = 0;
  };

  void skip_ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  Result bad(const std::string& e) {
    error_ = e;
    return {Bad};
  }

  // The schema that applies inside a value, when it is a single one; null when ambiguous.
  const json* unwrap(const json* s) {
    for (int k = 0; s != nullptr && k < 64; ++k) {
      if (s->is_boolean()) return s->get<bool>() ? nullptr : s;
      if (s->contains("$ref")) {
        const std::string ref = (*s)["$ref"].get<std::string>();
        s = ref == "#" ? &root_ : &root_.at(json::json_pointer(ref.substr(1)));
        continue;
      }
      if (s->contains("allOf") && (*s)["allOf"].size() == 1) {
        s = &(*s)["allOf"][0];
        continue;
      }
      if (s->contains("anyOf") || s->contains("oneOf")) return nullptr;
      return s;
    }
    return nullptr;
  }

  Result finish(Result r, const json* schema, const std::string& at) {
    if (r.status != Complete || schema == nullptr) return r;
    const std::string e = validate_at(s_.substr(r.begin, i_ - r.begin), root_, *schema);
    if (!e.empty()) return bad(at + ": " + e);
    return r;
  }

  Result value(const json* schema, const std::string& at) {
    skip_ws();
    if (i_ == s_.size()) return {Incomplete};
    const size_t begin = i_;
    const char c = s_[i_];
    Result r;
    if (c == '{')
      r = object(unwrap(schema), at);
    else if (c == '[')
      r = array(unwrap(schema), at);
    else if (c == '"')
      r = string_value(unwrap(schema), at);
    else if (c == '-' || std::isdigit(static_cast<unsigned char>(c)))
      r = number();
    else
      r = literal();
    r.begin = begin;
    return finish(r, schema, at);
  }

  Result literal() {
    for (const char* word : {"true", "false", "null"}) {
      const std::string w = word;
      const size_t n = std::min(w.size(), s_.size() - i_);
      if (s_.compare(i_, n, w, 0, n) == 0) {
        i_ += n;
        return {n == w.size() ? Complete : Incomplete};
      }
    }
    return bad("not a JSON value at byte " + std::to_string(i_));
  }

  Result number() {
    const size_t start = i_;
    while (i_ < s_.size() && std::strchr("0123456789+-.eE", s_[i_]) != nullptr) ++i_;
    if (i_ == s_.size()) return {Incomplete};  // more digits may follow
    const std::string t = s_.substr(start, i_ - start);
    if (json::accept(t)) return {Complete};
    return bad("bad number '" + t + "'");
  }

  Result string_value(const json* schema, const std::string& at) {
    const size_t start = i_++;
    size_t chars = 0;
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == '"') {
        ++i_;
        if (!json::accept(s_.substr(start, i_ - start))) return bad(at + ": bad string");
        return {Complete};
      }
      if (c == '\\') {
        if (i_ + 1 >= s_.size()) return {Incomplete};
        i_ += s_[i_ + 1] == 'u' ? std::min<size_t>(6, s_.size() - i_) : 2;
      } else {
        if (static_cast<unsigned char>(c) < 0x20)
          return bad(at + ": control character in a string");
        ++i_;
      }
      if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++chars;
    }
    if (schema != nullptr && schema->contains("maxLength") &&
        chars > (*schema)["maxLength"].get<size_t>())
      return bad(at + ": partial string already longer than maxLength");
    return {Incomplete};
  }

  Result object(const json* schema, const std::string& at) {
    ++i_;
    for (bool first = true;; first = false) {
      skip_ws();
      if (i_ == s_.size()) return {Incomplete};
      if (s_[i_] == '}') {
        ++i_;
        return {Complete};
      }
      if (!first) {
        if (s_[i_] != ',') return bad(at + ": expected ','");
        ++i_;
        skip_ws();
        if (i_ == s_.size()) return {Incomplete};
      }
      if (s_[i_] != '"') return bad(at + ": expected a key");
      const size_t key_start = i_;
      const Result k = string_value(nullptr, at);
      if (k.status != Complete) return k;
      const std::string key = json::parse(s_.substr(key_start, i_ - key_start)).get<std::string>();
      const json* sub = nullptr;
      if (schema != nullptr && schema->is_object()) {
        const json props = schema->value("properties", json::object());
        if (props.contains(key)) {
          sub = &(*schema)["properties"][key];
        } else if (schema->contains("additionalProperties")) {
          const json& ap = (*schema)["additionalProperties"];
          if (ap.is_boolean() && !ap.get<bool>())
            return bad(at + ": key '" + key + "' not allowed");
          sub = &ap;
        }
      }
      skip_ws();
      if (i_ == s_.size()) return {Incomplete};
      if (s_[i_] != ':') return bad(at + ": expected ':'");
      ++i_;
      const Result v = value(sub, at + "/" + key);
      if (v.status != Complete) return v;
    }
  }

  Result array(const json* schema, const std::string& at) {
    ++i_;
    const json* items =
        schema != nullptr && schema->contains("items") ? &(*schema)["items"] : nullptr;
    for (size_t n = 0;; ++n) {
      skip_ws();
      if (i_ == s_.size()) return {Incomplete};
      if (s_[i_] == ']') {
        ++i_;
        return {Complete};
      }
      if (n > 0) {
        if (s_[i_] != ',') return bad(at + ": expected ','");
        ++i_;
      }
      if (schema != nullptr && schema->contains("maxItems") &&
          n + 1 > (*schema)["maxItems"].get<size_t>())
        return bad(at + ": more items than maxItems");
      const Result v = value(items, at + "/" + std::to_string(n));
      if (v.status != Complete) return v;
    }
  }

  const std::string& s_;
  const json& root_;
  size_t i_ = 0;
  std::string error_;
};

}  // namespace

std::string validate_json_text(const std::string& text, const json& schema) {
  return validate_at(text, schema, schema);
}

std::string validate_json_prefix(const std::string& text, const json& schema) {
  return PrefixReader(text, schema).run();
}

}  // namespace packinfer::test
