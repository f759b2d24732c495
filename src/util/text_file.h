#pragma once
// Reading a whole file named by the user (a prompt file, a JSONL job or prompt set, a results
// file to resume), with an error that names the path.
#include <string>

namespace packinfer {

// Reads a whole file. Throws packinfer::Error if it cannot be read.
std::string read_text_file(const std::string& path);

}  // namespace packinfer
