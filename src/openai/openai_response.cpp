#include "openai/openai_response.h"

#include <algorithm>
#include <cmath>

namespace packinfer::api {

ojson usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens) {
  return ojson{{"prompt_tokens", prompt_tokens},
               {"completion_tokens", completion_tokens},
               {"total_tokens", prompt_tokens + completion_tokens},
               {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}};
}

ojson usage_json(const std::vector<ChoiceResult>& choices, size_t per_prompt) {
  if (per_prompt == 0) per_prompt = std::max<size_t>(1, choices.size());
  int64_t prompt = 0, completion = 0, cached = 0;
  for (size_t i = 0; i < choices.size(); ++i) {
    const GenerationResult& g = *choices[i].generation;
    completion += static_cast<int64_t>(g.output_ids.size());
    if (i % per_prompt == 0) {
      prompt += static_cast<int64_t>(g.prompt_ids.size());
      cached += g.cached_tokens;
    }
  }
  return usage_json(prompt, completion, cached);
}

namespace {

ojson bytes_of(const std::string& s) {
  ojson bytes = ojson::array();
  for (unsigned char c : s) bytes.push_back(static_cast<int>(c));
  return bytes;
}

ojson chat_logprobs(const std::vector<TokenEvent>& tokens, const TokenTextFn& token_text) {
  ojson content = ojson::array();
  for (const TokenEvent& t : tokens) {
    const std::string text = token_text(t.id);
    ojson top = ojson::array();
    for (const auto& [id, lp] : t.top) {
      const std::string alt = token_text(id);
      top.push_back({{"token", alt}, {"logprob", lp}, {"bytes", bytes_of(alt)}});
    }
    content.push_back({{"token", text},
                       {"logprob", t.logprob},
                       {"bytes", bytes_of(text)},
                       {"top_logprobs", top}});
  }
  return ojson{{"content", content}};
}

ojson completion_logprobs(const std::vector<TokenEvent>& tokens, const TokenTextFn& token_text,
                          int64_t offset) {
  ojson out = {{"tokens", ojson::array()},
               {"token_logprobs", ojson::array()},
               {"top_logprobs", ojson::array()},
               {"text_offset", ojson::array()}};
  for (const TokenEvent& t : tokens) {
    out["tokens"].push_back(token_text(t.id));
    if (std::isnan(t.logprob)) {  // the first token of an echoed prompt
      out["token_logprobs"].push_back(nullptr);
      out["top_logprobs"].push_back(nullptr);
    } else {
      out["token_logprobs"].push_back(t.logprob);
      ojson top = ojson::object();
      for (const auto& [id, lp] : t.top) top[token_text(id)] = lp;
      out["top_logprobs"].push_back(top);
    }
    out["text_offset"].push_back(offset);
    // Offsets follow the text actually streamed (a token's text may be held back for UTF-8).
    offset += static_cast<int64_t>(t.text.size());
  }
  return out;
}

ojson base(const ResponseContext& ctx, bool chunk) {
  const bool chat = ctx.endpoint == Endpoint::ChatCompletions;
  return ojson{
      {"id", ctx.id},
      {"object", chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion"},
      {"created", ctx.created},
      {"model", ctx.model}};
}

}  // namespace

ojson logprobs_json(Endpoint endpoint, const std::vector<TokenEvent>& tokens,
                    const TokenTextFn& token_text, int64_t text_offset) {
  return endpoint == Endpoint::ChatCompletions
             ? chat_logprobs(tokens, token_text)
             : completion_logprobs(tokens, token_text, text_offset);
}

ojson completion_json(const ResponseContext& ctx, const std::vector<ChoiceResult>& choices,
                      const TokenTextFn& token_text, size_t per_prompt) {
  ojson body = base(ctx, /*chunk=*/false);
  ojson list = ojson::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const GenerationResult& g = *choices[i].generation;
    ojson choice = {{"index", i}};
    if (ctx.endpoint == Endpoint::ChatCompletions)
      choice["message"] = {{"role", "assistant"}, {"content", g.text}};
    else
      choice["text"] = choices[i].echo != nullptr ? *choices[i].echo + g.text : g.text;
    ojson lp = nullptr;
    if (choices[i].tokens != nullptr) {
      const int64_t offset =
          choices[i].echo != nullptr ? static_cast<int64_t>(choices[i].echo->size()) : 0;
      lp = logprobs_json(ctx.endpoint, *choices[i].tokens, token_text, offset);
      if (choices[i].prompt_tokens != nullptr && ctx.endpoint == Endpoint::Completions) {
        ojson all = completion_logprobs(*choices[i].prompt_tokens, token_text, 0);
        for (const char* key : {"tokens", "token_logprobs", "top_logprobs", "text_offset"})
          for (auto& v : lp[key]) all[key].push_back(std::move(v));
        lp = std::move(all);
      }
    }
    choice["logprobs"] = std::move(lp);
    choice["finish_reason"] = g.finish_reason;
    list.push_back(std::move(choice));
  }
  body["choices"] = std::move(list);
  body["usage"] = usage_json(choices, per_prompt);
  return body;
}

ojson stream_chunk(const ResponseContext& ctx, int32_t index, const std::string& text,
                   const std::optional<std::string>& finish_reason, bool first,
                   const ojson& logprobs) {
  ojson chunk = base(ctx, /*chunk=*/true);
  ojson choice = {{"index", index}};
  if (ctx.endpoint == Endpoint::ChatCompletions) {
    ojson delta = ojson::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || (first && !finish_reason)) delta["content"] = text;
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = text;
  }
  choice["logprobs"] = logprobs;
  choice["finish_reason"] = finish_reason ? ojson(*finish_reason) : ojson(nullptr);
  chunk["choices"] = ojson::array({std::move(choice)});
  return chunk;
}

ojson usage_chunk(const ResponseContext& ctx, const ojson& usage) {
  ojson chunk = base(ctx, /*chunk=*/true);
  chunk["choices"] = ojson::array();
  chunk["usage"] = usage;
  return chunk;
}

ojson error_json(const RequestError& error) {
  return ojson{{"error",
                {{"message", error.message},
                 {"type", error.status >= 500 ? "server_error" : "invalid_request_error"},
                 {"param", error.param.empty() ? ojson(nullptr) : ojson(error.param)},
                 {"code", error.code.empty() ? ojson(nullptr) : ojson(error.code)}}}};
}

std::string dump(const ojson& j) {
  return j.dump(-1, ' ', /*ensure_ascii=*/false, ojson::error_handler_t::replace);
}

}  // namespace packinfer::api
