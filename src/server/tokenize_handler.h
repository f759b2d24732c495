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
#include <httplib.h>

#include "packinfer/engine.h"

namespace packinfer::api {

void handle_tokenize(const Engine& engine, const httplib::Request& req, httplib::Response& res);
void handle_detokenize(const Engine& engine, const httplib::Request& req, httplib::Response& res);

}  // namespace packinfer::api
