#include "eval/kld_eval.h"

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

namespace packinfer::eval {
namespace {

constexpr char kMagic[] = "packinfer-kld-base v1\n";
constexpr size_t kMagicLen = sizeof(kMagic) - 1;

}  // namespace

EngineOptions exact_options(EngineOptions options) {
  // Every lossy option of EngineOptions at its exact value.
  options.kv_type = "f32";
  options.kv_type_k.clear();
  options.kv_type_v.clear();
  options.kv_rotate = false;
  options.matmul_act = "f32";
  return options;
}

std::string model_fingerprint(const ModelInfo& i) {
  return i.name + "|" + i.arch + "|vocab=" + std::to_string(i.n_vocab) +
         "|layers=" + std::to_string(i.n_layer) + "|embd=" + std::to_string(i.n_embd) +
         "|params=" + std::to_string(i.n_params) + "|weights=" + std::to_string(i.weight_bytes);
}

std::vector<int32_t> chunk_tokens(const Engine& engine, const std::string& text,
                                  const KldOptions& o, int64_t* n_chunks) {
  const int64_t n_ctx = engine.model_info().n_ctx;
  if (o.chunk < 4 || o.chunk > n_ctx) {
    throw InvalidArgument("--chunk " + std::to_string(o.chunk) + " must be in [4, " +
                          std::to_string(n_ctx) + "] (the context size)");
  }
  std::vector<int32_t> all = engine.tokenize(text, /*add_special=*/true, /*parse_special=*/false);
  int64_t n = static_cast<int64_t>(all.size()) / o.chunk;
  if (o.max_chunks > 0) n = std::min(n, o.max_chunks);
  if (n < 1) {
    throw InvalidArgument("the text has " + std::to_string(all.size()) +
                          " tokens, fewer than one chunk of " + std::to_string(o.chunk));
  }
  all.resize(static_cast<size_t>(n * o.chunk));
  // Every chunk starts like a fresh prompt (llama-perplexity puts BOS first).
  const std::vector<int32_t> bos = engine.tokenize("", true, false);
  if (!bos.empty()) {
    for (int64_t c = 0; c < n; ++c) all[static_cast<size_t>(c * o.chunk)] = bos.front();
  }
  *n_chunks = n;
  return all;
}

KldBase compute_base(Engine& engine, const std::vector<int32_t>& tokens, int64_t chunk,
                     int64_t n_chunks) {
  KldBase b;
  b.model_fingerprint = model_fingerprint(engine.model_info());
  b.n_vocab = engine.model_info().n_vocab;
  b.chunk = chunk;
  b.n_chunks = n_chunks;
  b.tokens = tokens;
  b.logprobs.reserve(static_cast<size_t>(n_chunks * b.scored_per_chunk() * b.n_vocab));
  for (int64_t c = 0; c < n_chunks; ++c) {
    std::span<const int32_t> ids(tokens.data() + c * chunk, static_cast<size_t>(chunk));
    engine.prompt_logits(ids, [&](int64_t pos, std::span<const float> logits) {
      if (pos < b.first_scored() || pos >= chunk - 1) return;
      const std::vector<float> lp = log_softmax(logits);
      b.logprobs.insert(b.logprobs.end(), lp.begin(), lp.end());
    });
  }
  return b;
}

KldReport compare(Engine& engine, const KldBase& b) {
  if (model_fingerprint(engine.model_info()) != b.model_fingerprint) {
    throw InvalidArgument("the base was computed with another model (" + b.model_fingerprint + ")");
  }
  KldReport report;
  std::vector<PositionScore> all;
  const size_t vocab = static_cast<size_t>(b.n_vocab);
  for (int64_t c = 0; c < b.n_chunks; ++c) {
    std::span<const int32_t> ids(b.tokens.data() + c * b.chunk, static_cast<size_t>(b.chunk));
    std::vector<PositionScore> scores;
    engine.prompt_logits(ids, [&](int64_t pos, std::span<const float> logits) {
      if (pos < b.first_scored() || pos >= b.chunk - 1) return;
      const size_t row = static_cast<size_t>(c * b.scored_per_chunk() + (pos - b.first_scored()));
      std::span<const float> base(b.logprobs.data() + row * vocab, vocab);
      scores.push_back(score_position(base, logits, ids[static_cast<size_t>(pos + 1)]));
    });
    report.chunks.push_back(summarize(scores));
    all.insert(all.end(), scores.begin(), scores.end());
  }
  report.overall = summarize(all);
  return report;
}

void save_base(const KldBase& b, const std::string& path) {
  nlohmann::json h = {{"model", b.model_fingerprint},
                      {"n_vocab", b.n_vocab},
                      {"chunk", b.chunk},
                      {"n_chunks", b.n_chunks},
                      {"tokens", b.tokens},
                      {"logprob_rows", b.logprobs.size() / b.n_vocab}};
  const std::string header = h.dump();
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  const uint64_t header_len = header.size();
  f.write(kMagic, static_cast<std::streamsize>(kMagicLen));
  f.write(reinterpret_cast<const char*>(&header_len), sizeof(header_len));
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(reinterpret_cast<const char*>(b.logprobs.data()),
          static_cast<std::streamsize>(b.logprobs.size() * sizeof(float)));
  if (!f.flush()) throw Error("cannot write the KL-divergence base to '" + path + "'");
}

KldBase load_base(const std::string& path, const Engine& engine) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read the KL-divergence base '" + path + "'");
  auto bad = [&](const std::string& why) {
    return Error("'" + path + "' is not a usable packinfer KL-divergence base: " + why);
  };
  char magic[kMagicLen];
  uint64_t header_len = 0;
  if (!f.read(magic, kMagicLen) || std::memcmp(magic, kMagic, kMagicLen) != 0)
    throw bad("wrong magic (save one with `packinfer kld --save-base FILE`)");
  if (!f.read(reinterpret_cast<char*>(&header_len), sizeof(header_len)) || header_len > (1u << 30))
    throw bad("truncated header");
  std::string header(header_len, '\0');
  if (!f.read(header.data(), static_cast<std::streamsize>(header_len)))
    throw bad("truncated header");
  KldBase b;
  try {
    const nlohmann::json h = nlohmann::json::parse(header);
    b.model_fingerprint = h.at("model").get<std::string>();
    b.n_vocab = h.at("n_vocab").get<int32_t>();
    b.chunk = h.at("chunk").get<int64_t>();
    b.n_chunks = h.at("n_chunks").get<int64_t>();
    b.tokens = h.at("tokens").get<std::vector<int32_t>>();
  } catch (const std::exception& e) {
    throw bad(std::string("bad header: ") + e.what());
  }
  if (b.model_fingerprint != model_fingerprint(engine.model_info()))
    throw bad("it belongs to another model (" + b.model_fingerprint + ")");
  if (b.n_vocab != engine.model_info().n_vocab || b.chunk < 4 || b.n_chunks < 1 ||
      static_cast<int64_t>(b.tokens.size()) != b.chunk * b.n_chunks)
    throw bad("inconsistent header");
  for (int32_t t : b.tokens) {
    if (t < 0 || t >= b.n_vocab) throw bad("token id out of range");
  }
  const size_t n = static_cast<size_t>(b.n_chunks * b.scored_per_chunk() * b.n_vocab);
  b.logprobs.resize(n);
  if (!f.read(reinterpret_cast<char*>(b.logprobs.data()),
              static_cast<std::streamsize>(n * sizeof(float))))
    throw bad("truncated log-probabilities");
  if (f.peek() != std::char_traits<char>::eof()) throw bad("trailing bytes");
  return b;
}

}  // namespace packinfer::eval
