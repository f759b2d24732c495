#include "loadgen/sse_client.h"

#include <nlohmann/json.hpp>

#include "http/http_client.h"

namespace packinfer::loadgen {

void SseParser::feed(std::string_view bytes) {
  // Lines end at "\n", "\r\n" or a lone "\r"; a "\r" at the end of a chunk may be the first half
  // of "\r\n", so the line is only cut when the next byte is seen.
  for (char c : bytes) {
    if (!partial_.empty() && partial_.back() == '\r') {
      partial_.pop_back();
      line(partial_);
      partial_.clear();
      if (c == '\n') continue;
    }
    if (c == '\n') {
      line(partial_);
      partial_.clear();
    } else {
      partial_ += c;
    }
  }
}

void SseParser::finish() {
  if (!partial_.empty()) {
    if (partial_.back() == '\r') partial_.pop_back();
    line(partial_);
    partial_.clear();
  }
  line("");
}

void SseParser::line(std::string_view l) {
  if (l.empty()) {
    if (has_data_) on_event_(data_);
    data_.clear();
    has_data_ = false;
    return;
  }
  if (l.substr(0, 5) != "data:") return;  // comments and other fields carry nothing we use
  l.remove_prefix(5);
  if (!l.empty() && l.front() == ' ') l.remove_prefix(1);
  if (has_data_) data_ += '\n';
  data_ += l;
  has_data_ = true;
}

namespace {

int64_t int_or(const nlohmann::json& j, const char* key, int64_t fallback) {
  return j.is_object() && j.contains(key) && j[key].is_number_integer() ? j[key].get<int64_t>()
                                                                        : fallback;
}

// The human part of an OpenAI error body ({"error": {"message": ...}}), else the raw text.
std::string error_message(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error")) {
    const auto& e = j["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string()) {
      return e["message"].get<std::string>();
    }
    if (e.is_string()) return e.get<std::string>();
  }
  return body.substr(0, body.find('\n')).substr(0, 200);
}

}  // namespace

bool apply_sse_event(std::string_view data, double t, StreamResult& r, bool& done) {
  if (data == "[DONE]") {
    done = true;
    return false;
  }
  nlohmann::json j = nlohmann::json::parse(data, nullptr, false);
  if (!j.is_object()) {
    r.error = "unparseable event: " + std::string(data.substr(0, 100));
    return false;
  }
  if (j.contains("error")) {
    r.error = error_message(std::string(data));
    return false;
  }
  if (j.contains("choices") && j["choices"].is_array()) {
    for (const auto& c : j["choices"]) {
      // Completions stream "text", chat "delta.content". A token can render as empty text
      // (a special token, half a UTF-8 character) and still is a token that arrived; but the
      // closing chunk (finish_reason set, no text) and chat's role-only first delta are not.
      const nlohmann::json* text = nullptr;
      if (c.contains("text") && c["text"].is_string()) text = &c["text"];
      if (c.contains("delta") && c["delta"].is_object() && c["delta"].contains("content") &&
          c["delta"]["content"].is_string()) {
        text = &c["delta"]["content"];
      }
      if (text == nullptr) continue;
      bool closing = c.contains("finish_reason") && !c["finish_reason"].is_null();
      if (!text->get_ref<const std::string&>().empty() || !closing) r.token_times.push_back(t);
    }
  }
  if (j.contains("usage") && j["usage"].is_object()) {
    const auto& u = j["usage"];
    r.prompt_tokens = int_or(u, "prompt_tokens", r.prompt_tokens);
    r.completion_tokens = int_or(u, "completion_tokens", r.completion_tokens);
    if (u.contains("prompt_tokens_details")) {
      r.cached_tokens = int_or(u["prompt_tokens_details"], "cached_tokens", r.cached_tokens);
    }
  }
  return true;
}

StreamResult stream_request(const StreamTarget& target, const std::string& path,
                            const std::string& body, const std::function<void(size_t)>& on_token) {
  using Clock = std::chrono::steady_clock;
  StreamResult r;
  api::HttpRequest req;
  req.method = "POST";
  req.target = path;
  req.body = body;
  req.headers = {{"Content-Type", "application/json"}, {"Accept", "text/event-stream"}};
  if (!target.api_key.empty())
    req.headers.emplace_back("Authorization", "Bearer " + target.api_key);
  api::HttpClientOptions options;
  options.connect_timeout = std::chrono::seconds(10);
  options.read_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::duration<double>(target.timeout_s));

  const Clock::time_point t0 = Clock::now();
  auto now = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  bool done = false, stop = false;
  std::string error_body;
  SseParser parser([&](std::string_view data) {
    if (stop) return;
    size_t before = r.token_times.size();
    double t = now();
    stop = !apply_sse_event(data, t, r, done);
    if (done) r.e2e_s = t;  // the end of the request, not of the connection after it
    if (on_token && r.token_times.size() > before) on_token(r.token_times.size());
  });
  const api::HttpClientResult res = api::http_fetch(
      target.host, target.port, req, options,
      [&](const api::HttpClientResult& head) {
        r.http_status = head.status;
        return true;
      },
      [&](std::string_view data) {
        if (r.http_status != 200) {
          error_body.append(data);  // an error reply is one JSON body, not a stream
        } else {
          parser.feed(data);
        }
        return true;  // keep reading after [DONE] too, so the connection ends cleanly
      });
  if (r.http_status == 200 && !stop) parser.finish();
  if (!done) r.e2e_s = now();
  if (r.http_status == 0) {
    r.error = "no response: " + res.error;
  } else if (r.http_status != 200) {
    r.error = "HTTP " + std::to_string(r.http_status) + ": " + error_message(error_body);
  } else if (r.error.empty() && !done) {
    r.error = res.ok ? "stream ended without [DONE]" : "stream broken before [DONE]: " + res.error;
  }
  r.ok = r.error.empty() && done;
  return r;
}

}  // namespace packinfer::loadgen
