// Look-ups by key or tensor name, and the typed getters that report a wrong type as an Error.
#include <algorithm>
#include <string>

#include "gguf/gguf_file.h"
#include "packinfer/error.h"

namespace packinfer::gguf {

namespace {

[[noreturn]] void wrong_type(const File& f, std::string_view key, const Value& v,
                             const char* expected) {
  throw Error(f.name() + ": metadata key '" + std::string(key) + "' is " +
              std::string(value_type_name(v.type)) + ", expected " + expected);
}

}  // namespace

const Value* File::find(std::string_view key) const {
  for (const KeyValue& kv : kv_) {
    if (kv.key == key) return &kv.value;
  }
  return nullptr;
}

void File::drop_metadata(std::span<const std::string_view> keys) {
  std::erase_if(kv_, [&](const KeyValue& kv) {
    return std::find(keys.begin(), keys.end(), kv.key) != keys.end();
  });
}

std::optional<int64_t> File::get_int(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (auto i = v->as_int()) return i;
  if (std::holds_alternative<uint64_t>(v->data)) {
    throw Error(name_ + ": metadata key '" + std::string(key) + "' value " +
                std::to_string(std::get<uint64_t>(v->data)) + " does not fit in int64");
  }
  wrong_type(*this, key, *v, "an integer");
}

std::optional<double> File::get_float(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (auto d = v->as_float()) return d;
  wrong_type(*this, key, *v, "a number");
}

std::optional<bool> File::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (auto b = v->as_bool()) return b;
  wrong_type(*this, key, *v, "BOOL");
}

std::optional<std::string> File::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (const std::string* s = v->as_string()) return *s;
  wrong_type(*this, key, *v, "STRING");
}

const Array* File::get_array(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return nullptr;
  if (const Array* a = v->as_array()) return a;
  wrong_type(*this, key, *v, "ARRAY");
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  for (const TensorInfo& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace packinfer::gguf
