#pragma once
// Test-only GGUF writer: builds GGUF bytes in memory from key/values and tensors, so tests can make
// valid files of any shape and, by feeding it odd values, the malformed files the reader must
// reject. It writes exactly what it is given (duplicate keys, bad shapes, unknown types...).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"

namespace packinfer::test {

// Builders for metadata values.
namespace gv {
gguf::Value u8(uint8_t x);
gguf::Value i8(int8_t x);
gguf::Value u16(uint16_t x);
gguf::Value i16(int16_t x);
gguf::Value u32(uint32_t x);
gguf::Value i32(int32_t x);
gguf::Value u64(uint64_t x);
gguf::Value i64(int64_t x);
gguf::Value f32(float x);
gguf::Value f64(double x);
gguf::Value boolean(bool x);
gguf::Value str(std::string x);
gguf::Value array(gguf::ValueType element_type, std::vector<gguf::Value> items);
gguf::Value strings(const std::vector<std::string>& items);
}  // namespace gv

struct TensorSpec {
  std::string name;
  uint32_t type = 0;               // GgmlType number (may be unknown on purpose)
  std::vector<int64_t> ne;         // written as given, also negative or more than 4 dims
  std::vector<uint8_t> data;       // empty: zero bytes of the size the shape needs (if sane)
  std::optional<uint64_t> offset;  // override the offset the writer would choose
};

class GgufWriter {
 public:
  explicit GgufWriter(uint32_t version = 3) : version_(version) {}

  // Adds general.alignment (UINT32) and lays the data section out with it.
  GgufWriter& alignment(uint32_t a);
  GgufWriter& add(std::string key, gguf::Value value);
  GgufWriter& add_tensor(TensorSpec t);
  // Convenience: an F32 tensor holding `values`, shaped ne (product must match).
  GgufWriter& add_f32(std::string name, std::vector<int64_t> ne, const std::vector<float>& values);

  std::vector<uint8_t> bytes() const;

 private:
  uint32_t version_;
  uint32_t alignment_ = 32;
  std::vector<std::pair<std::string, gguf::Value>> kv_;
  std::vector<TensorSpec> tensors_;
};

// Low-level appenders, for hand-crafting headers the writer would not produce.
void put_u32(std::vector<uint8_t>& out, uint32_t v);
void put_u64(std::vector<uint8_t>& out, uint64_t v);
void put_string(std::vector<uint8_t>& out, const std::string& s);
void put_value(std::vector<uint8_t>& out, const gguf::Value& v);  // payload only, no type tag

}  // namespace packinfer::test
