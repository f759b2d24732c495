#include "gguf/gguf_file.h"

#include <cstring>
#include <limits>
#include <unordered_set>
#include <utility>

#include "gguf/utf8.h"
#include "packinfer/error.h"

namespace packinfer::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
constexpr int kMaxArrayDepth = 16;       // real files nest at most 2 levels; bounds recursion
constexpr int kMaxDims = 4;
// A parsed value takes ~50 bytes of memory however small its encoding (1 byte for a UINT8), so
// the total count is capped too: a hostile file must not turn N bytes into 50*N of allocations.
// The largest real vocabularies hold well under 2M values (tokens, scores, types, merges).
constexpr uint64_t kMaxMetadataValues = uint64_t{1} << 24;

// Smallest number of bytes one value of a type can take in the file. An array claiming N
// elements needs at least N times this, which is checked before anything is reserved.
uint64_t min_value_size(ValueType t) {
  switch (t) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::BOOL:
      return 1;
    case ValueType::UINT16:
    case ValueType::INT16:
      return 2;
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::FLOAT32:
      return 4;
    case ValueType::UINT64:
    case ValueType::INT64:
    case ValueType::FLOAT64:
    case ValueType::STRING:
      return 8;  // the length prefix
    case ValueType::ARRAY:
      return 4 + 8;  // element type + count
  }
  return 1;
}

bool known_value_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::FLOAT64); }

// Smallest encodings of a key/value pair and of a tensor info, used to bound n_kv and n_tensors
// by the bytes left before the vectors holding them are reserved. They allow empty names and no
// dimensions, so such entries get their own clearer message when they are read.
constexpr uint64_t kMinKvSize = 8 + 4 + 1;              // key length, value type, a uint8
constexpr uint64_t kMinTensorInfoSize = 8 + 4 + 4 + 8;  // name length, n_dims, type, offset

}  // namespace

// Reads the file front to back; every read is bounds-checked against the bytes left.
class Parser {
 public:
  explicit Parser(File& f) : f_(f), bytes_(f.bytes_) {}

  void run() {
    read_header();
    read_metadata();
    read_tensor_infos();
    place_tensors();
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(f_.name_ + ": " + what + " (at byte " + std::to_string(pos_) + ")");
  }

  uint64_t remaining() const { return bytes_.size() - pos_; }

  void need(uint64_t n, const char* what) const {
    if (n > remaining()) {
      fail("truncated file: " + std::string(what) + " needs " + std::to_string(n) +
           " bytes but only " + std::to_string(remaining()) + " remain");
    }
  }

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));  // GGUF is little-endian, like our hosts
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(const char* what) {
    uint64_t len = read<uint64_t>(what);
    need(len, what);  // before allocating: a hostile length cannot cause a giant allocation
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return s;
  }

  // Keys and tensor names are identifiers: non-empty, valid UTF-8.
  std::string read_name(const char* what) {
    std::string s = read_string(what);
    if (s.empty()) fail(std::string("empty ") + what);
    if (!is_valid_utf8(s)) fail(std::string(what) + " is not valid UTF-8");
    return s;
  }

  void read_header() {
    uint32_t magic = read<uint32_t>("magic");
    if (magic != kMagic) fail("not a GGUF file (bad magic)");
    uint32_t version = read<uint32_t>("version");
    // A big-endian file has its small version number in the high bytes when read little-endian.
    if (version > 0xffff && (version & 0xffff) == 0) {
      fail("big-endian GGUF files are not supported");
    }
    if (version != 2 && version != 3) {
      fail("unsupported GGUF version " + std::to_string(version) + " (only 2 and 3 are supported)");
    }
    f_.version_ = version;
    n_tensors_ = read<uint64_t>("tensor count");
    n_kv_ = read<uint64_t>("metadata count");
    if (n_kv_ > remaining() / kMinKvSize) {
      fail("metadata count " + std::to_string(n_kv_) + " is larger than the file can hold");
    }
    if (n_tensors_ > remaining() / kMinTensorInfoSize) {
      fail("tensor count " + std::to_string(n_tensors_) + " is larger than the file can hold");
    }
  }

  Value read_value(ValueType type, int depth) {
    if (++n_values_ > kMaxMetadataValues) {
      fail("more than " + std::to_string(kMaxMetadataValues) + " metadata values");
    }
    Value v;
    v.type = type;
    switch (type) {
      case ValueType::UINT8:
        v.data = uint64_t{read<uint8_t>("uint8 value")};
        break;
      case ValueType::INT8:
        v.data = int64_t{read<int8_t>("int8 value")};
        break;
      case ValueType::UINT16:
        v.data = uint64_t{read<uint16_t>("uint16 value")};
        break;
      case ValueType::INT16:
        v.data = int64_t{read<int16_t>("int16 value")};
        break;
      case ValueType::UINT32:
        v.data = uint64_t{read<uint32_t>("uint32 value")};
        break;
      case ValueType::INT32:
        v.data = int64_t{read<int32_t>("int32 value")};
        break;
      case ValueType::UINT64:
        v.data = read<uint64_t>("uint64 value");
        break;
      case ValueType::INT64:
        v.data = read<int64_t>("int64 value");
        break;
      case ValueType::FLOAT32:
        v.data = double{read<float>("float32 value")};
        break;
      case ValueType::FLOAT64:
        v.data = read<double>("float64 value");
        break;
      case ValueType::BOOL: {
        uint8_t b = read<uint8_t>("bool value");
        if (b > 1) fail("bool value " + std::to_string(b) + " is neither 0 nor 1");
        v.data = b == 1;
        break;
      }
      case ValueType::STRING:
        v.data = read_string("string value");
        break;
      case ValueType::ARRAY:
        v.data = read_array(depth + 1);
        break;
    }
    return v;
  }

  Array read_array(int depth) {
    if (depth > kMaxArrayDepth) {
      fail("arrays nested deeper than " + std::to_string(kMaxArrayDepth) + " levels");
    }
    uint32_t et = read<uint32_t>("array element type");
    if (!known_value_type(et)) fail("unknown array element type " + std::to_string(et));
    Array a;
    a.element_type = static_cast<ValueType>(et);
    uint64_t n = read<uint64_t>("array length");
    if (n > remaining() / min_value_size(a.element_type)) {
      fail("array of " + std::to_string(n) + " " + std::string(value_type_name(a.element_type)) +
           " elements is larger than the rest of the file");
    }
    if (n > kMaxMetadataValues - n_values_) {
      fail("array of " + std::to_string(n) + " elements exceeds the limit of " +
           std::to_string(kMaxMetadataValues) + " metadata values");
    }
    a.items.reserve(n);
    for (uint64_t i = 0; i < n; ++i) a.items.push_back(read_value(a.element_type, depth));
    return a;
  }

  void read_metadata() {
    f_.kv_.reserve(n_kv_);
    std::unordered_set<std::string> seen;
    for (uint64_t i = 0; i < n_kv_; ++i) {
      std::string key = read_name("metadata key");
      if (!seen.insert(key).second) fail("duplicate metadata key '" + key + "'");
      uint32_t t = read<uint32_t>("metadata value type");
      if (!known_value_type(t)) {
        fail("metadata key '" + key + "' has unknown value type " + std::to_string(t));
      }
      Value v = read_value(static_cast<ValueType>(t), 0);
      if (key == "general.alignment") set_alignment(v);
      f_.kv_.push_back({std::move(key), std::move(v)});
    }
  }

  void set_alignment(const Value& v) {
    if (v.type != ValueType::UINT32) {
      fail("general.alignment must be UINT32, not " + std::string(value_type_name(v.type)));
    }
    uint64_t a = std::get<uint64_t>(v.data);
    if (a == 0 || (a & (a - 1)) != 0) {
      fail("general.alignment " + std::to_string(a) + " is not a non-zero power of two");
    }
    f_.alignment_ = a;
  }

  void read_tensor_infos() {
    f_.tensors_.reserve(n_tensors_);
    std::unordered_set<std::string> seen;
    for (uint64_t i = 0; i < n_tensors_; ++i) {
      TensorInfo t;
      t.name = read_name("tensor name");
      if (!seen.insert(t.name).second) fail("duplicate tensor name '" + t.name + "'");
      const std::string where = "tensor '" + t.name + "': ";
      uint32_t n_dims = read<uint32_t>("tensor dimension count");
      if (n_dims < 1 || n_dims > kMaxDims) {
        fail(where + "has " + std::to_string(n_dims) + " dimensions (1 to 4 are allowed)");
      }
      uint64_t n_elements = 1;
      bool overflow = false;
      for (uint32_t d = 0; d < n_dims; ++d) {
        uint64_t dim = read<uint64_t>("tensor dimension");
        if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          fail(where + "dimension " + std::to_string(d) + " is negative");
        }
        t.ne.push_back(static_cast<int64_t>(dim));
        if (dim != 0 &&
            n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / dim) {
          overflow = true;
        }
        n_elements *= dim;
      }
      // A zero dimension makes the product 0 even if the others overflowed; still reject those.
      if (overflow) fail(where + "element count overflows");
      t.type = read<uint32_t>("tensor type");
      auto traits = ggml_type_traits(t.type);
      if (!traits) fail(where + "unknown tensor type " + std::to_string(t.type));
      if (t.ne[0] % traits->block_size != 0) {
        fail(where + "first dimension " + std::to_string(t.ne[0]) + " is not a multiple of the " +
             std::string(traits->name) + " block size " + std::to_string(traits->block_size));
      }
      // Sized in unsigned arithmetic with explicit checks (ggml_row_size works in int64 and
      // would overflow for a huge first dimension).
      const uint64_t blocks = n_elements / static_cast<uint64_t>(traits->block_size);
      const uint64_t type_size = static_cast<uint64_t>(traits->type_size);
      if (blocks > std::numeric_limits<uint64_t>::max() / type_size) {
        fail(where + "byte size overflows");
      }
      t.nbytes = blocks * type_size;
      t.offset = read<uint64_t>("tensor offset");
      if (t.offset % f_.alignment_ != 0) {
        fail(where + "offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
             std::to_string(f_.alignment_));
      }
      f_.tensors_.push_back(std::move(t));
    }
  }

  // The data section starts at the first aligned position after the tensor infos; offsets are
  // relative to it.
  void place_tensors() {
    uint64_t a = f_.alignment_;
    uint64_t size = bytes_.size();
    uint64_t pad = (a - pos_ % a) % a;
    if (f_.tensors_.empty()) return;  // vocab-only files may end without a data section
    if (pad > remaining()) fail("truncated file: no data section after the tensor infos");
    uint64_t data_start = pos_ + pad;
    uint64_t data_size = size - data_start;
    for (TensorInfo& t : f_.tensors_) {
      if (t.offset > data_size || t.nbytes > data_size - t.offset) {
        throw Error(f_.name_ + ": tensor '" + t.name + "' (offset " + std::to_string(t.offset) +
                    ", " + std::to_string(t.nbytes) + " bytes) extends past the end of the file");
      }
      t.data = bytes_.data() + data_start + t.offset;
    }
  }

  File& f_;
  std::span<const uint8_t> bytes_;
  uint64_t pos_ = 0;
  uint64_t n_tensors_ = 0;
  uint64_t n_kv_ = 0;
  uint64_t n_values_ = 0;  // metadata values read so far, nested ones included
};

std::unique_ptr<File> File::open(const std::string& path) {
  std::unique_ptr<File> f(new File());
  f->name_ = path;
  f->map_ = MappedFile(path);
  f->bytes_ = f->map_.bytes();
  Parser(*f).run();
  return f;
}

std::unique_ptr<File> File::parse(std::span<const uint8_t> bytes, std::string name) {
  std::unique_ptr<File> f(new File());
  f->name_ = std::move(name);
  f->bytes_ = bytes;
  Parser(*f).run();
  return f;
}

}  // namespace packinfer::gguf
