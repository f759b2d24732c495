#include "server/sse.h"

namespace packinfer::api {

std::string sse_event(std::string_view payload) {
  std::string out = "data: ";
  for (char c : payload) {
    if (c == '\n')
      out += "\ndata: ";
    else if (c != '\r')
      out += c;
  }
  out += "\n\n";
  return out;
}

std::vector<std::string> sse_payloads(std::string_view stream) {
  std::vector<std::string> out;
  std::string data;
  bool have_data = false;
  size_t pos = 0;
  while (pos < stream.size()) {
    size_t nl = stream.find('\n', pos);
    if (nl == std::string_view::npos) break;  // incomplete line: the event is not finished
    std::string_view line = stream.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {  // blank line: dispatch
      if (have_data) out.push_back(data);
      data.clear();
      have_data = false;
    } else if (line.starts_with("data:")) {
      std::string_view v = line.substr(5);
      if (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      if (have_data) data += '\n';
      data += v;
      have_data = true;
    }  // comments (":...") and other fields are not used by this API
  }
  return out;
}

}  // namespace packinfer::api
