#pragma once
// Per-thread, 64-byte aligned scratch memory that grows on demand and is kept between calls: the
// pool's threads are persistent, so kernels called hundreds of times per token do not allocate.
#include <cstddef>
#include <new>

namespace packinfer {

class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { release(); }

  // At least n floats; contents are unspecified.
  float* floats(size_t n) {
    if (n > size_) {
      release();
      data_ = static_cast<float*>(::operator new (n * sizeof(float), std::align_val_t{64}));
      size_ = n;
    }
    return data_;
  }

 private:
  void release() {
    if (data_ != nullptr) ::operator delete (data_, std::align_val_t{64});
    data_ = nullptr;
    size_ = 0;
  }
  float* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace packinfer
