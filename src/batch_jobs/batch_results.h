#pragma once
// `packinfer batch` output: one OpenAI Batch API output line per input line,
//   {"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}
// with an OpenAI text_completion / chat.completion body, or an error body for a failed request.
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "batch_jobs/batch_requests.h"
#include "packinfer/engine.h"

namespace packinfer::batch_jobs {

// Values shared by every line of one job.
struct ResultContext {
  std::string default_model;  // reported when a request names no model
  int64_t created = 0;        // Unix time the job started ("created" of every response body)
};

nlohmann::ordered_json success_line(const BatchRequest& req, const GenerationResult& result,
                                    const ResultContext& ctx);
// status 400 for a bad request, 500 when the engine failed on a valid one.
nlohmann::ordered_json error_line(const BatchRequest& req, const RequestError& error,
                                  int status_code = 400);

// Serialises without a trailing newline. Invalid UTF-8 (impossible from the engine's streaming
// detokenizer, but cheap to guard) is replaced rather than aborting the job.
std::string dump_line(const nlohmann::ordered_json& line);

// Appends lines to the output file, flushing each, so a killed job keeps every finished result
// and at worst leaves one partial last line (which resume removes).
class ResultWriter {
 public:
  explicit ResultWriter(const std::string& path);  // throws packinfer::Error if not writable
  ~ResultWriter();
  ResultWriter(const ResultWriter&) = delete;
  ResultWriter& operator=(const ResultWriter&) = delete;
  void write(const nlohmann::ordered_json& line);  // throws packinfer::Error on a write failure

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace packinfer::batch_jobs
