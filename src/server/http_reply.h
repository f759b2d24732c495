#pragma once
// Writing JSON and OpenAI error bodies into an httplib response (the server's only two shapes
// of non-streamed reply).
#include <httplib.h>

#include "openai/openai_response.h"

namespace packinfer::api {

inline void send_json(httplib::Response& res, const ojson& body, int status = 200) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

inline void send_error(httplib::Response& res, const RequestError& error) {
  send_json(res, error_json(error), error.status);
}

}  // namespace packinfer::api
