// libFuzzer target for the GGUF reader: any input must parse or give a packinfer::Error; a crash,
// sanitizer report, hang or huge allocation is a bug. A parsed file is also described, which
// walks every value and tensor the parser accepted.
#include <cstddef>
#include <cstdint>
#include <span>

#include "gguf/gguf_describe.h"
#include "gguf/gguf_file.h"
#include "packinfer/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto file = packinfer::gguf::File::parse(std::span<const uint8_t>(data, size), "fuzz");
    (void)packinfer::gguf::describe_gguf(*file, true);
    for (const auto& t : file->tensors()) {
      // Touch the first and last byte of each tensor so ASan checks the bounds the parser set.
      if (t.nbytes > 0) {
        volatile uint8_t first = t.data[0];
        volatile uint8_t last = t.data[t.nbytes - 1];
        (void)first;
        (void)last;
      }
    }
  } catch (const packinfer::Error&) {
  }
  return 0;
}
