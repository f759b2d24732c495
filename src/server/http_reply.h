#pragma once
// Writing JSON and OpenAI error bodies into a response (the server's only two shapes of
// non-streamed reply).
#include "http/http_message.h"
#include "openai/openai_response.h"

namespace packinfer::api {

inline void send_json(HttpResponse& res, const ojson& body, int status = 200) {
  res.status = status;
  res.content_type = "application/json";
  res.body = dump(body);
}

inline void send_error(HttpResponse& res, const RequestError& error) {
  send_json(res, error_json(error), error.status);
}

}  // namespace packinfer::api
