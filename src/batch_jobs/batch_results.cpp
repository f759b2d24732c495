#include "batch_jobs/batch_results.h"

#include <cerrno>
#include <cstring>

#include "packinfer/error.h"
#include "openai/openai_response.h"

namespace packinfer::batch_jobs {
namespace {

using json = nlohmann::ordered_json;

// Ids derive from the input line number: unique within a job and stable across resumed runs.
std::string line_suffix(const BatchRequest& req) { return std::to_string(req.line); }

json envelope(const BatchRequest& req, int status_code, json body) {
  return json{{"id", "batch_req_" + line_suffix(req)},
              {"custom_id", req.custom_id},
              {"response",
               {{"status_code", status_code},
                {"request_id", "req_" + line_suffix(req)},
                {"body", std::move(body)}}},
              {"error", nullptr}};
}

}  // namespace

json success_line(const BatchRequest& req, const GenerationResult& result,
                  const ResultContext& ctx) {
  const bool chat = req.endpoint == Endpoint::ChatCompletions;
  const api::ResponseContext rc{req.endpoint, (chat ? "chatcmpl-" : "cmpl-") + line_suffix(req),
                                req.model.empty() ? ctx.default_model : req.model, ctx.created};
  return envelope(req, 200, api::completion_json(rc, {{&result, nullptr}}));
}

json error_line(const BatchRequest& req, const RequestError& error, int status_code) {
  RequestError e = error;
  e.status = status_code;  // the line's status, not the HTTP server's (404 for a bad model)
  json body = api::error_json(e);
  json line = envelope(req, status_code, body);
  line["error"] = {{"code", body["error"]["code"]}, {"message", error.message}};
  return line;
}

std::string dump_line(const json& line) { return api::dump(line); }
ResultWriter::ResultWriter(const std::string& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "ab");
  if (file_ == nullptr) {
    throw Error("cannot write '" + path + "': " + std::strerror(errno));
  }
}

ResultWriter::~ResultWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void ResultWriter::write(const json& line) {
  std::string text = dump_line(line);
  text += '\n';
  // One fwrite per line, then flush: the only partial line a kill can leave is the last one.
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0) {
    throw Error("cannot write '" + path_ + "': " + std::strerror(errno));
  }
}

}  // namespace packinfer::batch_jobs
