#include "cli/batch_results.h"

#include <cerrno>
#include <cstring>

#include "packinfer/error.h"

namespace packinfer::cli {
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
  json choice = {{"index", 0}, {"finish_reason", result.finish_reason}, {"logprobs", nullptr}};
  if (chat) {
    choice["message"] = {{"role", "assistant"}, {"content", result.text}};
  } else {
    choice["text"] = result.text;
  }
  const int64_t prompt_tokens = static_cast<int64_t>(result.prompt_ids.size());
  const int64_t completion_tokens = static_cast<int64_t>(result.output_ids.size());
  json body = {{"id", (chat ? "chatcmpl-" : "cmpl-") + line_suffix(req)},
               {"object", chat ? "chat.completion" : "text_completion"},
               {"created", ctx.created},
               {"model", req.model.empty() ? ctx.default_model : req.model},
               {"choices", json::array({choice})},
               {"usage",
                {{"prompt_tokens", prompt_tokens},
                 {"completion_tokens", completion_tokens},
                 {"total_tokens", prompt_tokens + completion_tokens}}}};
  return envelope(req, 200, std::move(body));
}

json error_line(const BatchRequest& req, const RequestError& error, int status_code) {
  const json param = error.param.empty() ? json(nullptr) : json(error.param);
  const json code = error.code.empty() ? json(nullptr) : json(error.code);
  json body = {{"error",
                {{"message", error.message},
                 {"type", status_code >= 500 ? "server_error" : "invalid_request_error"},
                 {"param", param},
                 {"code", code}}}};
  json line = envelope(req, status_code, std::move(body));
  line["error"] = {{"code", code}, {"message", error.message}};
  return line;
}

std::string dump_line(const json& line) {
  return line.dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace);
}

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

}  // namespace packinfer::cli
