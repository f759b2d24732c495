#include "support/gguf_writer.h"

#include <cstring>
#include <limits>
#include <stdexcept>

namespace packinfer::test {

using gguf::Array;
using gguf::Value;
using gguf::ValueType;

namespace gv {
namespace {
Value make(ValueType t, decltype(Value::data) d) {
  Value v;
  v.type = t;
  v.data = std::move(d);
  return v;
}
}  // namespace
Value u8(uint8_t x) { return make(ValueType::UINT8, uint64_t{x}); }
Value i8(int8_t x) { return make(ValueType::INT8, int64_t{x}); }
Value u16(uint16_t x) { return make(ValueType::UINT16, uint64_t{x}); }
Value i16(int16_t x) { return make(ValueType::INT16, int64_t{x}); }
Value u32(uint32_t x) { return make(ValueType::UINT32, uint64_t{x}); }
Value i32(int32_t x) { return make(ValueType::INT32, int64_t{x}); }
Value u64(uint64_t x) { return make(ValueType::UINT64, x); }
Value i64(int64_t x) { return make(ValueType::INT64, x); }
Value f32(float x) { return make(ValueType::FLOAT32, double{x}); }
Value f64(double x) { return make(ValueType::FLOAT64, x); }
Value boolean(bool x) { return make(ValueType::BOOL, x); }
Value str(std::string x) { return make(ValueType::STRING, std::move(x)); }
Value array(ValueType element_type, std::vector<Value> items) {
  return make(ValueType::ARRAY, Array{element_type, std::move(items)});
}
Value strings(const std::vector<std::string>& items) {
  std::vector<Value> v;
  for (const auto& s : items) v.push_back(str(s));
  return array(ValueType::STRING, std::move(v));
}
}  // namespace gv

namespace {

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
  size_t n = out.size();
  out.resize(n + sizeof(T));
  std::memcpy(out.data() + n, &v, sizeof(T));
}

void pad_to(std::vector<uint8_t>& out, uint64_t alignment) {
  while (out.size() % alignment != 0) out.push_back(0);
}

// Bytes the shape needs, or nullopt when the shape is one the reader must reject anyway.
std::optional<uint64_t> natural_size(const TensorSpec& t) {
  auto traits = ggml_type_traits(t.type);
  if (!traits || t.ne.empty()) return std::nullopt;
  uint64_t n = 1;
  for (int64_t d : t.ne) {
    if (d < 0) return std::nullopt;
    if (d != 0 && n > (uint64_t{1} << 40) / static_cast<uint64_t>(d)) return std::nullopt;
    n *= static_cast<uint64_t>(d);
  }
  if (t.ne[0] % traits->block_size != 0) return std::nullopt;
  return n / traits->block_size * traits->type_size;
}

}  // namespace

void put_u32(std::vector<uint8_t>& out, uint32_t v) { put(out, v); }
void put_u64(std::vector<uint8_t>& out, uint64_t v) { put(out, v); }
void put_string(std::vector<uint8_t>& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

void put_value(std::vector<uint8_t>& out, const Value& v) {
  switch (v.type) {
    case ValueType::UINT8:
      put<uint8_t>(out, std::get<uint64_t>(v.data));
      break;
    case ValueType::INT8:
      put<int8_t>(out, std::get<int64_t>(v.data));
      break;
    case ValueType::UINT16:
      put<uint16_t>(out, std::get<uint64_t>(v.data));
      break;
    case ValueType::INT16:
      put<int16_t>(out, std::get<int64_t>(v.data));
      break;
    case ValueType::UINT32:
      put<uint32_t>(out, std::get<uint64_t>(v.data));
      break;
    case ValueType::INT32:
      put<int32_t>(out, std::get<int64_t>(v.data));
      break;
    case ValueType::UINT64:
      put<uint64_t>(out, std::get<uint64_t>(v.data));
      break;
    case ValueType::INT64:
      put<int64_t>(out, std::get<int64_t>(v.data));
      break;
    case ValueType::FLOAT32:
      put<float>(out, static_cast<float>(std::get<double>(v.data)));
      break;
    case ValueType::FLOAT64:
      put<double>(out, std::get<double>(v.data));
      break;
    case ValueType::BOOL:
      // A BOOL holding an integer writes that byte, so tests can make invalid bools.
      if (const auto* u = std::get_if<uint64_t>(&v.data)) {
        put<uint8_t>(out, static_cast<uint8_t>(*u));
      } else {
        put<uint8_t>(out, std::get<bool>(v.data) ? 1 : 0);
      }
      break;
    case ValueType::STRING:
      put_string(out, std::get<std::string>(v.data));
      break;
    case ValueType::ARRAY: {
      const Array& a = std::get<Array>(v.data);
      put<uint32_t>(out, static_cast<uint32_t>(a.element_type));
      put<uint64_t>(out, a.items.size());
      for (const Value& item : a.items) put_value(out, item);
      break;
    }
  }
}

GgufWriter& GgufWriter::alignment(uint32_t a) {
  alignment_ = a;
  return add("general.alignment", gv::u32(a));
}

GgufWriter& GgufWriter::add(std::string key, Value value) {
  kv_.emplace_back(std::move(key), std::move(value));
  return *this;
}

GgufWriter& GgufWriter::add_tensor(TensorSpec t) {
  tensors_.push_back(std::move(t));
  return *this;
}

GgufWriter& GgufWriter::add_f32(std::string name, std::vector<int64_t> ne,
                                const std::vector<float>& values) {
  TensorSpec t{std::move(name), 0, std::move(ne), {}, std::nullopt};
  t.data.resize(values.size() * sizeof(float));
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return add_tensor(std::move(t));
}

std::vector<uint8_t> GgufWriter::bytes() const {
  // Place the tensor data first, so the infos can carry the offsets.
  std::vector<uint8_t> data;
  std::vector<uint64_t> offsets;
  for (const TensorSpec& t : tensors_) {
    pad_to(data, alignment_);
    offsets.push_back(t.offset.value_or(data.size()));
    if (!t.data.empty()) {
      data.insert(data.end(), t.data.begin(), t.data.end());
    } else if (auto n = natural_size(t)) {
      data.resize(data.size() + *n, 0);
    }
  }

  std::vector<uint8_t> out = {'G', 'G', 'U', 'F'};
  put<uint32_t>(out, version_);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, kv_.size());
  for (const auto& [key, value] : kv_) {
    put_string(out, key);
    put<uint32_t>(out, static_cast<uint32_t>(value.type));
    put_value(out, value);
  }
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const TensorSpec& t = tensors_[i];
    put_string(out, t.name);
    put<uint32_t>(out, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) put<int64_t>(out, d);
    put<uint32_t>(out, t.type);
    put<uint64_t>(out, offsets[i]);
  }
  if (!tensors_.empty()) {
    pad_to(out, alignment_);
    out.insert(out.end(), data.begin(), data.end());
  }
  return out;
}

}  // namespace packinfer::test
