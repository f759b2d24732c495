#include "prompt_sets/prompt_lengths.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "packinfer/error.h"
#include "util/splitmix64.h"

namespace packinfer::prompt_sets {
namespace {

[[noreturn]] void bad_spec(const std::string& spec, const std::string& why) {
  throw InvalidArgument("bad prompt distribution '" + spec + "': " + why +
                        " (use fixed:N, uniform:A:B, loguniform:A:B or jsonl:FILE)");
}

int64_t parse_length(const std::string& spec, const std::string& s) {
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    bad_spec(spec, "'" + s + "' is not an integer");
  }
  if (used != s.size()) bad_spec(spec, "'" + s + "' is not an integer");
  if (v < 1 || v > (int64_t{1} << 22)) bad_spec(spec, "lengths must be in [1, 4194304]");
  return v;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

std::vector<int32_t> ids_from_json(const nlohmann::json& j, size_t line) {
  if (!j.is_array() || j.empty()) {
    throw InvalidArgument("jsonl line " + std::to_string(line) +
                          ": \"prompt_ids\" must be a non-empty list of integers");
  }
  std::vector<int32_t> ids;
  for (const auto& v : j) {
    if (!v.is_number_integer()) {
      throw InvalidArgument("jsonl line " + std::to_string(line) +
                            ": \"prompt_ids\" must hold integers only");
    }
    ids.push_back(v.get<int32_t>());
  }
  return ids;
}

// Chat content may be a string or OpenAI's list of parts; only text parts carry prompt tokens.
std::string content_text(const nlohmann::json& c) {
  if (c.is_string()) return c.get<std::string>();
  std::string out;
  if (c.is_array()) {
    for (const auto& part : c) {
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
          part["text"].is_string()) {
        out += part["text"].get<std::string>();
      }
    }
  }
  return out;
}

}  // namespace

PromptDistribution parse_prompt_distribution(const std::string& spec) {
  PromptDistribution d;
  size_t colon = spec.find(':');
  if (colon == std::string::npos) bad_spec(spec, "missing ':'");
  std::string kind = spec.substr(0, colon);
  std::string rest = spec.substr(colon + 1);
  if (kind == "jsonl") {
    if (rest.empty()) bad_spec(spec, "missing file name");
    d.kind = PromptDistribution::Kind::Jsonl;
    d.file = rest;
    return d;
  }
  std::vector<std::string> args = split(rest, ':');
  if (kind == "fixed") {
    if (args.size() != 1) bad_spec(spec, "fixed takes one length");
    d.kind = PromptDistribution::Kind::Fixed;
    d.lo = d.hi = parse_length(spec, args[0]);
    return d;
  }
  if (kind != "uniform" && kind != "loguniform") bad_spec(spec, "unknown kind '" + kind + "'");
  if (args.size() != 2) bad_spec(spec, kind + " takes two lengths A:B");
  d.kind =
      kind == "uniform" ? PromptDistribution::Kind::Uniform : PromptDistribution::Kind::LogUniform;
  d.lo = parse_length(spec, args[0]);
  d.hi = parse_length(spec, args[1]);
  if (d.lo > d.hi) bad_spec(spec, "A must not exceed B");
  return d;
}

std::string to_string(const PromptDistribution& d) {
  switch (d.kind) {
    case PromptDistribution::Kind::Fixed:
      return "fixed:" + std::to_string(d.lo);
    case PromptDistribution::Kind::Uniform:
      return "uniform:" + std::to_string(d.lo) + ":" + std::to_string(d.hi);
    case PromptDistribution::Kind::LogUniform:
      return "loguniform:" + std::to_string(d.lo) + ":" + std::to_string(d.hi);
    case PromptDistribution::Kind::Jsonl:
      return "jsonl:" + d.file;
  }
  return "?";
}

std::vector<int64_t> sample_prompt_lengths(const PromptDistribution& d, int64_t n, uint64_t seed) {
  if (d.kind == PromptDistribution::Kind::Jsonl) {
    throw InvalidArgument("jsonl prompts have no synthetic lengths");
  }
  SplitMix64 rng{seed};
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(std::max<int64_t>(n, 0)));
  const uint64_t span = static_cast<uint64_t>(d.hi - d.lo + 1);
  for (int64_t i = 0; i < n; ++i) {
    int64_t len = d.lo;
    if (d.kind == PromptDistribution::Kind::Uniform) {
      len = d.lo + static_cast<int64_t>(rng.below(span));
    } else if (d.kind == PromptDistribution::Kind::LogUniform) {
      // Uniform in log space over [lo, hi + 1), floored: every integer gets a share proportional
      // to log((k + 1) / k), so short prompts dominate as in real traffic.
      double a = std::log(static_cast<double>(d.lo)), b = std::log(static_cast<double>(d.hi) + 1);
      double x = std::exp(a + (b - a) * rng.uniform01());
      len = std::clamp(static_cast<int64_t>(std::floor(x)), d.lo, d.hi);
    }
    out.push_back(len);
  }
  return out;
}

std::vector<int32_t> random_token_ids(int64_t n, int32_t n_vocab, uint64_t seed) {
  if (n_vocab < 1) throw InvalidArgument("vocabulary is empty");
  SplitMix64 rng{seed};
  std::vector<int32_t> ids(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (auto& id : ids) id = static_cast<int32_t>(rng.below(static_cast<uint64_t>(n_vocab)));
  return ids;
}

std::vector<JsonlPrompt> parse_jsonl_prompts(std::string_view content) {
  std::vector<JsonlPrompt> out;
  size_t line_no = 0, start = 0;
  while (start < content.size()) {
    size_t end = content.find('\n', start);
    if (end == std::string_view::npos) end = content.size();
    std::string_view line = content.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    auto fail = [&](const std::string& why) -> JsonlPrompt {
      throw InvalidArgument("jsonl line " + std::to_string(line_no) + ": " + why);
    };
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) fail("not a JSON object");
    // An OpenAI batch line wraps the request in "body".
    const nlohmann::json& req = j.contains("body") && j["body"].is_object() ? j["body"] : j;
    JsonlPrompt p;
    if (req.contains("prompt_ids")) {
      p.ids = ids_from_json(req["prompt_ids"], line_no);
    } else if (req.contains("prompt")) {
      const auto& pr = req["prompt"];
      if (pr.is_string()) {
        p.text = pr.get<std::string>();
      } else if (pr.is_array() && !pr.empty() && pr[0].is_number_integer()) {
        p.ids = ids_from_json(pr, line_no);  // OpenAI allows a prompt of token ids
      } else {
        fail("\"prompt\" must be a string or a list of token ids");
      }
      if (p.text.empty() && p.ids.empty()) fail("empty prompt");
    } else if (req.contains("messages") && req["messages"].is_array()) {
      for (const auto& m : req["messages"]) {
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
          fail("each message needs a \"role\"");
        }
        p.messages.push_back(
            {m["role"].get<std::string>(), content_text(m.value("content", nlohmann::json()))});
      }
      if (p.messages.empty()) fail("empty \"messages\"");
    } else {
      fail("needs \"prompt\", \"prompt_ids\" or \"messages\" (directly or in \"body\")");
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<JsonlPrompt> pick_prompts(const std::vector<JsonlPrompt>& prompts, int64_t n,
                                      uint64_t seed) {
  if (prompts.empty()) throw InvalidArgument("the jsonl file has no prompts");
  std::vector<size_t> order(prompts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  SplitMix64 rng{seed};
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  std::vector<JsonlPrompt> out;
  for (int64_t i = 0; i < n; ++i)
    out.push_back(prompts[order[static_cast<size_t>(i) % order.size()]]);
  return out;
}

}  // namespace packinfer::prompt_sets
