#pragma once
// Human-readable summary of a GGUF file for `packinfer info`.
#include <string>

#include "gguf/gguf_file.h"

namespace packinfer::gguf {

// Version, alignment, every metadata key with its type and (abbreviated) value, then a tensor
// summary: count per type, total parameters and bytes. With all_metadata, also one line per
// tensor (name, type, shape). Long strings and arrays are abbreviated so a 50k-token vocabulary
// stays one line.
std::string describe_gguf(const File& file, bool all_metadata);

}  // namespace packinfer::gguf
