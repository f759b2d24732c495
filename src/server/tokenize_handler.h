#pragma once
// POST /tokenize and /detokenize, as llama-server has them:
//
//   /tokenize   {"content": "text", "add_special": false, "parse_special": true,
//                "with_pieces": false}          -> {"tokens": [ids]}
//                (with_pieces: [{"id": 1, "piece": "text"}, ...])
//   /detokenize {"tokens": [ids]}               -> {"content": "text"}
//
// Bad bodies (not JSON, a wrong type, an id outside the vocabulary, an unknown field) get an
// OpenAI-style 400 naming the field.
#include "http/http_message.h"
#include "packinfer/engine.h"

namespace packinfer::api {

void handle_tokenize(const Engine& engine, const HttpRequest& req, HttpResponse& res);
void handle_detokenize(const Engine& engine, const HttpRequest& req, HttpResponse& res);

}  // namespace packinfer::api
