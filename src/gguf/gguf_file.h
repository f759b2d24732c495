#pragma once
// GGUF (v2 and v3) reader over a memory map. Parsing is strict: every count, length, offset and
// shape is checked against the bytes that are really there before anything is allocated, so a
// truncated or hostile file gives a packinfer::Error naming the problem, never a crash, a hang or
// a giant allocation. Tensor data is never copied: TensorInfo::data points into the map.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gguf/ggml_types.h"
#include "util/mapped_file.h"

namespace packinfer::gguf {

enum class ValueType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

std::string_view value_type_name(ValueType t);

struct Value;
// Arrays keep their element type (also for empty arrays) and may nest.
struct Array {
  ValueType element_type = ValueType::UINT8;
  std::vector<Value> items;
};

struct Value {
  ValueType type = ValueType::UINT8;
  // Integers of every width are widened (uint64 into uint64_t, signed into int64_t).
  std::variant<uint64_t, int64_t, double, bool, std::string, Array> data;

  // Numeric accessors accept any integer type (range-checked) or float as documented.
  std::optional<int64_t> as_int() const;   // any integer type that fits int64
  std::optional<double> as_float() const;  // FLOAT32/64 and integers
  std::optional<bool> as_bool() const;     // BOOL
  const std::string* as_string() const;    // STRING
  const Array* as_array() const;           // ARRAY
};

struct KeyValue {
  std::string key;
  Value value;
};

struct TensorInfo {
  std::string name;
  std::vector<int64_t> ne;  // dimensions, ne[0] is the innermost (contiguous) one
  uint32_t type = 0;        // GgmlType number
  uint64_t offset = 0;      // relative to the start of the data section
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;  // points into the mapped file

  int64_t n_elements() const;
  GgmlType ggml_type() const { return static_cast<GgmlType>(type); }
};

class File {
 public:
  // Maps and parses a file. Throws packinfer::Error whose message starts with the path.
  static std::unique_ptr<File> open(const std::string& path);
  // Parses bytes owned by the caller (they must outlive the File). Used by the fuzzer and tests.
  static std::unique_ptr<File> parse(std::span<const uint8_t> bytes, std::string name = "<memory>");

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const std::string& name() const { return name_; }
  std::span<const uint8_t> bytes() const { return bytes_; }
  // Lets the OS drop the pages of a tensor's bytes that were copied elsewhere (a file opened with
  // open(); bytes given to parse() belong to the caller and are left alone).
  void release_pages(const uint8_t* p, uint64_t n) const { map_.release_pages(p, n); }

  const std::vector<KeyValue>& metadata() const { return kv_; }
  // Removes these keys' parsed values (e.g. a tokenizer's vocabulary, once copied into its own
  // tables); find() no longer finds them.
  void drop_metadata(std::span<const std::string_view> keys);
  const Value* find(std::string_view key) const;
  // Typed look-ups: nullopt when the key is missing; throw packinfer::Error when it is present
  // with the wrong type (a model file that says something odd should be reported, not guessed).
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  const Array* get_array(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;

 private:
  File() = default;
  std::string name_;
  MappedFile map_;
  std::span<const uint8_t> bytes_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::vector<KeyValue> kv_;
  std::vector<TensorInfo> tensors_;
  friend class Parser;
};

}  // namespace packinfer::gguf
