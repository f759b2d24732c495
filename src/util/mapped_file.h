#pragma once
// Read-only memory map of a whole file. Weights are used straight from the map, except those
// repacked into panels at load (kernels/weight_panels.h), whose pages are then released.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace packinfer {

class MappedFile {
 public:
  MappedFile() = default;
  explicit MappedFile(const std::string& path);  // throws packinfer::Error naming the path
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }
  // Drops the resident pages wholly inside [p, p + n), a range of this map, from the process
  // (madvise DONTNEED). The map is private and never written, so a later read faults the file's
  // bytes back in: for ranges copied elsewhere and now rarely read. No-op outside the map.
  void release_pages(const void* p, size_t n) const;

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace packinfer
