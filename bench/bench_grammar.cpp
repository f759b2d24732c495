// Issue #11 benchmark driver: structured output on the SmolLM2 vocabulary (49,152 tokens).
//  1. compile time of every test schema (cold caches: JSON schema -> GBNF -> automaton -> token
//     tables), single thread;
//  2. token-mask time per step, single thread, p50/p99/max over random walks through every test
//     schema (each step takes a random allowed token, as sampling at a high temperature would);
//  3. decode tokens/s of a SmolLM2-135M model without a schema, with one, and with one and the
//     mask computed on the helper thread during the forward (PACKINFER_GRAMMAR_OVERLAP=1).
//
//   build/bench_grammar [--vocab-model M.gguf] [--decode-model M.gguf] [--threads 2] [--walks 4]
//                       [--decode-tokens 256] [--no-decode]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../tests/support/test_schemas.h"
#include "gguf/gguf_file.h"
#include "grammar/grammar_cache.h"
#include "grammar/matcher.h"
#include "kernels/system_info.h"
#include "packinfer/engine.h"
#include "tokenizer/tokenizer.h"

namespace {

using namespace packinfer;
using Clock = std::chrono::steady_clock;

double us_since(Clock::time_point t) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

StructuredOutput schema_spec(const char* text) {
  StructuredOutput s;
  s.kind = StructuredOutput::Kind::JsonSchema;
  s.text = text;
  return s;
}

struct Args {
  std::string vocab_model;
  std::string decode_model = "/work/peers/models/smollm2-135m-q8_0.gguf";
  int threads = 2;
  int walks = 4;
  int decode_tokens = 256;
  bool decode = true;
};

void bench_masks(const Args& a) {
  auto file = gguf::File::open(a.vocab_model);
  auto tok = Tokenizer::from_gguf(*file);
  const auto t0 = Clock::now();
  auto vocab = grammar::Vocabulary::from_tokenizer(*tok);
  std::printf("vocabulary: %d tokens (%d in the trie, %d trie nodes), built in %.1f ms\n\n",
              vocab->size(), static_cast<int>(vocab->sorted_tokens().size()), vocab->n_nodes(),
              us_since(t0) / 1000);
  std::printf("%-28s %10s %8s %8s %9s %9s %9s\n", "schema", "compile ms", "nodes", "tables",
              "mask p50", "mask p99", "mask max");
  std::vector<double> all, compile_ms, accept_us;
  int64_t single = 0;  // steps where exactly one token was allowed (jump-forward takes it)
  std::mt19937_64 rng(1);
  for (const test::SchemaCase& c : test::test_schemas()) {
    grammar::clear_caches();
    const auto tc = Clock::now();
    auto g = grammar::compile_for(schema_spec(c.schema), vocab);
    const double ms = us_since(tc) / 1000;
    compile_ms.push_back(ms);
    std::vector<double> times;
    std::vector<uint64_t> mask(static_cast<size_t>(g->tables.n_words()));
    for (int w = 0; w < a.walks; ++w) {
      grammar::GrammarMatcher m(g);
      for (int step = 0; step < 96; ++step) {
        const auto t = Clock::now();
        m.fill_mask(mask.data());
        times.push_back(us_since(t));
        std::vector<int32_t> allowed;
        for (int32_t id = 0; id < vocab->size(); ++id) {
          if (mask[static_cast<size_t>(id >> 6)] >> (id & 63) & 1) allowed.push_back(id);
        }
        if (allowed.empty()) break;
        single += allowed.size() == 1 && !vocab->is_end_of_generation(allowed[0]);
        const int32_t pick = allowed[rng() % allowed.size()];
        if (vocab->is_end_of_generation(pick)) break;
        const auto ta = Clock::now();
        m.accept_token(pick);
        accept_us.push_back(us_since(ta));
        if (m.must_end()) break;
      }
    }
    all.insert(all.end(), times.begin(), times.end());
    std::printf("%-28s %10.1f %8zu %8d %8.1fus %8.1fus %8.1fus\n", c.name, ms,
                g->automaton->nodes.size(), g->tables.n_tables(), percentile(times, 0.5),
                percentile(times, 0.99), percentile(times, 1.0));
  }
  std::printf(
      "\nmask per token over %zu steps of %zu schemas: p50 %.1f us, p99 %.1f us, max %.1f us\n",
      all.size(), test::test_schemas().size(), percentile(all, 0.5), percentile(all, 0.99),
      percentile(all, 1.0));
  std::printf("accept per token: p50 %.1f us, p99 %.1f us\n", percentile(accept_us, 0.5),
              percentile(accept_us, 0.99));
  std::printf("steps with exactly one allowed token (taken without sampling): %.1f%%\n",
              100.0 * static_cast<double>(single) / static_cast<double>(all.size()));
  std::printf("compile per schema (cold): p50 %.1f ms, p99 %.1f ms, max %.1f ms\n\n",
              percentile(compile_ms, 0.5), percentile(compile_ms, 0.99),
              percentile(compile_ms, 1.0));
}

// Generates until `tokens` tokens came out, cycling over seeds; returns tokens/s of the decode
// (time after the first token).
struct DecodeRun {
  int64_t tokens = 0;
  double seconds = 0;
  int requests = 0;
};

DecodeRun decode(Engine& engine, const char* schema, int tokens) {
  DecodeRun r;
  for (uint64_t seed = 1; r.tokens < tokens; ++seed) {
    GenerationRequest req;
    req.prompt = "Write the record as JSON.";
    req.sampling.temperature = 1.0f;
    req.sampling.top_k = 0;
    req.sampling.top_p = 1.0f;
    req.sampling.min_p = 0.0f;
    req.sampling.seed = seed;
    req.sampling.max_tokens = 96;
    if (schema != nullptr) {
      req.sampling.structured = schema_spec(schema);
    } else {
      req.sampling.ignore_eos = true;
    }
    const GenerationResult g = engine.generate(req);
    // The first token comes with the prompt; the decode is every token after it.
    r.tokens += static_cast<int64_t>(g.output_ids.size()) - 1;
    r.seconds += g.generate_seconds;
    r.requests++;
  }
  return r;
}

void bench_decode(const Args& a) {
  const char* kSchema =
      R"({"type": "object", "properties": {"id": {"type": "string", "format": "uuid"}, "name": {"type": "string", "maxLength": 24}, "age": {"type": "integer", "minimum": 0, "maximum": 120}, "tags": {"type": "array", "items": {"type": "string", "maxLength": 10}, "maxItems": 4}, "address": {"type": "object", "properties": {"street": {"type": "string", "maxLength": 30}, "zip": {"type": "string", "minLength": 5, "maxLength": 5}}, "required": ["street", "zip"]}}, "required": ["id", "name", "age", "tags", "address"]})";
  std::printf("decode: %s, %d threads, temperature 1, >= %d tokens per configuration\n",
              a.decode_model.c_str(), a.threads, a.decode_tokens);
  struct Config {
    const char* name;
    const char* schema;
    bool overlap;
  };
  const Config configs[] = {
      {"no schema", nullptr, false},       {"schema", kSchema, false},
      {"schema + overlap", kSchema, true}, {"no schema (again)", nullptr, false},
      {"schema (again)", kSchema, false},  {"schema + overlap (again)", kSchema, true}};
  double base = 0;
  for (const Config& c : configs) {
    setenv("PACKINFER_GRAMMAR_OVERLAP", c.overlap ? "1" : "0", 1);
    Engine engine({.model_path = a.decode_model, .n_threads = a.threads, .n_ctx = 1024});
    decode(engine, c.schema, 16);  // warm-up (and the schema's compilation)
    const DecodeRun r = decode(engine, c.schema, a.decode_tokens);
    const double tps = static_cast<double>(r.tokens) / r.seconds;
    if (c.schema == nullptr) base = tps;
    std::printf("  %-26s %6.1f tokens/s (%lld tokens, %d requests)%s\n", c.name, tps,
                static_cast<long long>(r.tokens), r.requests,
                c.schema != nullptr && base > 0
                    ? (" = " + std::to_string(tps / base).substr(0, 4) + "x").c_str()
                    : "");
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  const char* shared = std::getenv("PACKINFER_SHARED");
  a.vocab_model = std::string(shared ? shared : "../shared") + "/models/synthetic/tiny-Q4_K_M.gguf";
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (k == "--vocab-model")
      a.vocab_model = next();
    else if (k == "--decode-model")
      a.decode_model = next();
    else if (k == "--threads")
      a.threads = std::stoi(next());
    else if (k == "--walks")
      a.walks = std::stoi(next());
    else if (k == "--decode-tokens")
      a.decode_tokens = std::stoi(next());
    else if (k == "--no-decode")
      a.decode = false;
    else {
      std::fprintf(stderr, "unknown argument %s\n", k.c_str());
      return 2;
    }
  }
  std::printf("%s; masks on 1 thread\n", system_summary(a.threads).c_str());
  bench_masks(a);
  if (a.decode) bench_decode(a);
  return 0;
}
