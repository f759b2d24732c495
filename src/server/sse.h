#pragma once
// Server-sent events framing (text/event-stream) as the OpenAI streaming API uses it: every
// event is one `data: <json>` line followed by a blank line, and the stream ends with
// `data: [DONE]`.
#include <string>
#include <string_view>
#include <vector>

namespace packinfer::api {

inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

// One event. `payload` must not contain a newline (compact JSON never does); a newline would end
// the field early, so any that slips through starts a continuation `data:` line instead.
std::string sse_event(std::string_view payload);

// The data payloads of a complete or partial stream, in order ("[DONE]" included); a trailing
// incomplete event is left out. Multi-line data fields are joined with '\n' (the SSE rule).
std::vector<std::string> sse_payloads(std::string_view stream);

}  // namespace packinfer::api
