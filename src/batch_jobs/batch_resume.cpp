#include "batch_jobs/batch_resume.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "packinfer/error.h"
#include "util/text_file.h"

namespace packinfer::batch_jobs {
namespace {

// The custom_id of a result line, or empty when the line is not one.
std::string custom_id_of(std::string_view line) {
  auto j = nlohmann::json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return {};
  auto id = j.find("custom_id");
  if (id == j.end() || !id->is_string()) return {};
  return id->get<std::string>();
}

}  // namespace

ResumeState scan_results(std::string_view content) {
  ResumeState st;
  size_t pos = 0;
  while (pos < content.size()) {
    size_t nl = content.find('\n', pos);
    const bool complete = nl != std::string_view::npos;
    std::string_view line = content.substr(pos, (complete ? nl : content.size()) - pos);
    std::string id = custom_id_of(line);
    if (!complete) {
      // Text after the last newline is what a kill mid-write leaves; keep it only if it is a
      // whole result that merely lacks its newline.
      if (!id.empty()) {
        st.answered[id]++;
        st.lines++;
        st.keep_bytes = content.size();
        st.add_newline = true;
      }
      break;
    }
    if (!id.empty()) {
      st.answered[id]++;
      st.lines++;
    } else if (line.find_first_not_of(" \t\r") != std::string_view::npos) {
      st.invalid_lines++;
    }
    pos = nl + 1;
    st.keep_bytes = pos;
  }
  return st;
}

ResumeState prepare_output(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) return {};
  if (fs::is_directory(path, ec)) throw Error("output '" + path + "' is a directory");
  const std::string content = read_text_file(path);
  ResumeState st = scan_results(content);
  if (st.keep_bytes < content.size()) {
    fs::resize_file(path, st.keep_bytes, ec);
    if (ec) throw Error("cannot truncate the partial last line of '" + path + "': " + ec.message());
  }
  if (st.add_newline) {
    std::ofstream f(path, std::ios::binary | std::ios::app);
    if (!(f << '\n')) throw Error("cannot write '" + path + "'");
  }
  return st;
}

}  // namespace packinfer::batch_jobs
