#include "util/text_file.h"

#include <fstream>
#include <sstream>

#include "packinfer/error.h"

namespace packinfer {

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read '" + path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace packinfer
