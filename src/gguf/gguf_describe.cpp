#include "gguf/gguf_describe.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <string_view>

namespace packinfer::gguf {

namespace {

constexpr size_t kMaxStringChars = 60;
constexpr size_t kMaxArrayItems = 5;

// Strings are raw bytes (vocabularies hold partial UTF-8 tokens); escape control bytes and
// quotes so the summary stays one line per key and printable.
std::string escape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string quote(const std::string& s) {
  size_t n = std::min(s.size(), kMaxStringChars);
  std::string out = "\"";
  out += escape(std::string_view(s).substr(0, n));
  out += '"';
  if (s.size() > n) out += fmt::format("...({} bytes)", s.size());
  return out;
}

std::string format_value(const Value& v);

std::string format_array(const Array& a) {
  std::string out = fmt::format("{}[{}]", value_type_name(a.element_type), a.items.size());
  if (a.items.empty()) return out;
  out += " [";
  size_t n = std::min(a.items.size(), kMaxArrayItems);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += ", ";
    out += format_value(a.items[i]);
  }
  if (a.items.size() > n) out += ", ...";
  out += "]";
  return out;
}

std::string format_value(const Value& v) {
  // FLOAT32 is stored widened to double; print it as the float it was (1e-05, not 9.99...e-06).
  if (v.type == ValueType::FLOAT32) {
    if (const auto* d = std::get_if<double>(&v.data)) {
      return fmt::format("{}", static_cast<float>(*d));
    }
  }
  return std::visit(
      [&](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return quote(x);
        } else if constexpr (std::is_same_v<T, Array>) {
          return format_array(x);
        } else if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else {
          return fmt::format("{}", x);
        }
      },
      v.data);
}

std::string format_shape(const std::vector<int64_t>& ne) {
  std::string out = "[";
  for (size_t i = 0; i < ne.size(); ++i) out += (i ? ", " : "") + std::to_string(ne[i]);
  return out + "]";
}

}  // namespace

std::string describe_gguf(const File& file, bool all_metadata) {
  std::string out = fmt::format("file: {}\nGGUF version: {}\nalignment: {}\n", file.name(),
                                file.version(), file.alignment());
  out += fmt::format("metadata: {} keys\n", file.metadata().size());
  for (const KeyValue& kv : file.metadata()) {
    // Arrays print their element type inside format_array; other values show the type here.
    if (kv.value.type == ValueType::ARRAY) {
      out += fmt::format("  {}: {}\n", escape(kv.key), format_value(kv.value));
    } else {
      out += fmt::format("  {}: {} = {}\n", escape(kv.key), value_type_name(kv.value.type),
                         format_value(kv.value));
    }
  }

  std::map<std::string, size_t> per_type;
  // Unsigned sums cannot overflow for parsed files: every non-empty tensor's bytes lie inside the
  // file, which bounds its element count too.
  uint64_t params = 0;
  uint64_t bytes = 0;
  for (const TensorInfo& t : file.tensors()) {
    ++per_type[ggml_type_name(t.type)];
    params += static_cast<uint64_t>(t.n_elements());
    bytes += t.nbytes;
  }
  out += fmt::format("tensors: {}\n", file.tensors().size());
  for (const auto& [type, count] : per_type) out += fmt::format("  {}: {}\n", type, count);
  out += fmt::format("total parameters: {}\ntotal bytes: {}\n", params, bytes);
  if (all_metadata) {
    for (const TensorInfo& t : file.tensors()) {
      out +=
          fmt::format("  {} {} {}\n", escape(t.name), ggml_type_name(t.type), format_shape(t.ne));
    }
  }
  return out;
}

}  // namespace packinfer::gguf
