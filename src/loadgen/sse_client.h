#pragma once
// Client side of an OpenAI streaming request: an incremental server-sent-events parser (bytes
// arrive split at arbitrary boundaries) and one streaming POST that records when every token
// chunk arrived, the final usage, and how the request failed if it did.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace packinfer::loadgen {

// Feeds bytes in any split; calls `on_event` with the data of each complete event (its `data:`
// lines joined by '\n', per the SSE spec: an event ends at a blank line). Comment lines (':') and
// other fields (event:, id:, retry:) are ignored.
class SseParser {
 public:
  explicit SseParser(std::function<void(std::string_view data)> on_event)
      : on_event_(std::move(on_event)) {}
  void feed(std::string_view bytes);
  // End of stream: dispatches an event whose terminating blank line never came.
  void finish();

 private:
  void line(std::string_view l);
  std::function<void(std::string_view)> on_event_;
  std::string partial_;  // bytes of an unfinished line
  std::string data_;     // data of the event being built
  bool has_data_ = false;
};

struct StreamTarget {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;  // non-empty: sent as "Authorization: Bearer ..."
  double timeout_s = 600;
};

// What one streamed request did. Times are seconds since the request was sent.
struct StreamResult {
  bool ok = false;      // HTTP 200, no error event, ended with [DONE]
  int http_status = 0;  // 0: no response (connection refused or reset)
  std::string error;    // why it failed (first line of the server's message when there is one)
  std::vector<double> token_times;  // arrival of every chunk carrying an output token
  double e2e_s = 0;                 // until [DONE] (or the failure)
  int64_t prompt_tokens = -1;       // from usage; -1 when the server sent none
  int64_t completion_tokens = -1;
  int64_t cached_tokens = -1;  // usage.prompt_tokens_details.cached_tokens
};

// Applies one parsed event (a JSON chunk, "[DONE]" or an error object) to `r`; `t` is its arrival
// time. Returns false once the stream is over ([DONE] or an error). Exposed for tests.
bool apply_sse_event(std::string_view data, double t, StreamResult& r, bool& done);

// POSTs `body` (an OpenAI request with "stream": true) to `path` and reads the event stream.
// `on_token(index)` is called as each token chunk arrives (from the calling thread), e.g. to
// release a request that waits for other streams to be decoding. Never throws.
StreamResult stream_request(const StreamTarget& target, const std::string& path,
                            const std::string& body,
                            const std::function<void(size_t n_chunks)>& on_token = nullptr);

}  // namespace packinfer::loadgen
