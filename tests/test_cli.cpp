// The packinfer executable end to end: normal use and bad input (clear error, non-zero exit,
// never a crash).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <utility>
#include <vector>

#include "kernels/isa_select.h"
#include "kernels/kernel_table.h"
#include "packinfer/engine.h"
#include "support/test_model.h"
#include "support/test_support.h"

namespace packinfer::test {
namespace {

std::string stories() { return shared_dir() + "/models/stories260K/stories260K-f32.gguf"; }

CommandResult cli(const std::string& args) {
  return run_command("'" + cli_path() + "' " + args + " 2>&1");
}

std::string temp_file(const std::string& name, const std::string& bytes) {
  std::string path = build_dir() + "/cli_test_" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// stories260K's shape, from ../shared/models/SOURCES.md (llama2.c's checkpoint): the reference
// the numbers below are derived from, not read back from packinfer.
constexpr int64_t kDim = 64, kFfn = 172, kLayers = 5, kHeads = 8, kKvHeads = 4, kVocab = 512,
                  kCtx = 512;
constexpr int64_t kHeadDim = kDim / kHeads, kKvDim = kKvHeads * kHeadDim;
// Weights of one layer's matrices: wq, wk, wv, wo, then the three FFN matrices.
constexpr int64_t kLayerMatrixParams = 2 * kDim * kDim + 2 * kDim * kKvDim + 3 * kDim * kFfn;

// llama2.c's known-good greedy story from BOS (see ../shared/models/SOURCES.md).
std::vector<int32_t> llama2c_story_ids() {
  std::istringstream in(
      read_file(shared_dir() + "/models/stories260K/expected_greedy_200.ids.txt"));
  std::vector<int32_t> ids;
  for (int32_t id; in >> id;) ids.push_back(id);
  return ids;
}

TEST(Cli, RunGeneratesGreedyStory) {
  CommandResult r = cli("run -m '" + stories() + "' -p 'Once upon a time' --temp 0 -n 20");
  ASSERT_EQ(r.status, 0) << r.out;
  // Independent reference: llama2.c's greedy story from BOS starts with the 4 tokens of "Once
  // upon a time", so greedy decoding after that prompt goes on with the story's next 20 ids
  // (llama.cpp's golden case stories260K-f32/short agrees). Only the detokenizer is packinfer's.
  std::vector<int32_t> story = llama2c_story_ids();
  ASSERT_EQ(story.size(), 200u);
  Engine engine({.model_path = stories()});
  ASSERT_EQ(engine.tokenize("Once upon a time"),  // BOS is 1
            (std::vector<int32_t>{1, story[0], story[1], story[2], story[3]}));
  const std::string expected =
      engine.detokenize(std::span<const int32_t>(story).subspan(4, 20), false);
  EXPECT_EQ(r.out, expected + "\n");
  // The same text, straight from llama2.c's printed story.
  const std::string printed =
      read_file(shared_dir() + "/models/stories260K/expected_greedy_200.txt");
  ASSERT_EQ(printed.rfind("Once upon a time", 0), 0u);
  EXPECT_EQ(printed.substr(16, expected.size()), expected);
  EXPECT_EQ(expected,
            ", there was a little girl named Lily. She loved to play outsid");  // 20 tokens
}

TEST(Cli, RunIsDeterministicForASeed) {
  std::string args = "run -m '" + stories() + "' -p 'Once upon a time' --temp 1 -s 42 -n 30";
  CommandResult a = cli(args), b = cli(args);
  ASSERT_EQ(a.status, 0) << a.out;
  EXPECT_EQ(a.out, b.out);
  // The command is Engine::generate with the flags' SamplingParams (run's defaults are the
  // struct's): the library call with the same seed gives the same text.
  Engine engine({.model_path = stories()});
  GenerationRequest req;
  req.prompt = "Once upon a time";
  req.sampling.temperature = 1;
  req.sampling.seed = 42;
  req.sampling.max_tokens = 30;
  GenerationResult g = engine.generate(req);
  EXPECT_EQ(g.output_ids.size(), 30u);
  EXPECT_EQ(a.out, g.text + "\n");
  // Sampled, not greedy: the seed changed the text (the greedy story goes on ", there was a
  // little girl named Lily").
  EXPECT_NE(a.out.rfind(", there was a little girl", 0), 0u) << a.out;
}

TEST(Cli, LogitsJsonHasEveryPosition) {
  CommandResult r = run_command("'" + cli_path() + "' logits -m '" + stories() +
                                "' -p 'Once upon a time' --top 5 --json");
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  // Reference: llama.cpp on the same prompt and file (golden case stories260K-f32/short), with
  // test_golden's tolerance for F32 models (2e-4 of the last position's logit range).
  const nlohmann::json gold = golden_case("stories260K-f32", "short");
  ASSERT_EQ(gold.at("prompt_text"), "Once upon a time");
  const auto& st = gold.at("last_logits_stats");
  const double tol = 2e-4 * std::max(1.0, st.at("max").get<double>() - st.at("min").get<double>());
  EXPECT_EQ(j.at("prompt_ids"), gold.at("prompt_ids"));  // BOS + 4 tokens
  ASSERT_EQ(j.at("top").size(), 5u);
  for (size_t pos = 0; pos < 5; ++pos) {
    const auto& ours = j.at("top")[pos];
    const auto& want = gold.at("top10_per_position")[pos];
    ASSERT_EQ(ours.size(), 5u);
    for (size_t k = 0; k < 5; ++k) {  // the k-th largest logit, whatever breaks a near-tie
      EXPECT_NEAR(ours[k][1].get<double>(), want[k][1].get<double>(), tol)
          << "position " << pos << " rank " << k;
    }
    if (want[0][1].get<double>() - want[1][1].get<double>() > 2 * tol) {
      EXPECT_EQ(ours[0][0], want[0][0]) << "position " << pos;
    }
  }
  const auto& last = j.at("last_logits");
  ASSERT_EQ(last.size(), static_cast<size_t>(kVocab));
  for (size_t i = 0; i < last.size(); ++i) {
    ASSERT_NEAR(last[i].get<double>(), gold.at("last_logits")[i].get<double>(), tol) << i;
  }
}

TEST(Cli, InfoDescribesModel) {
  CommandResult r = cli("info '" + stories() + "'");
  ASSERT_EQ(r.status, 0) << r.out;
  for (const std::string& line : std::vector<std::string>{
           "general.architecture: STRING = \"llama\"",
           "general.name: STRING = \"stories260K\"",
           "llama.block_count: UINT32 = " + std::to_string(kLayers),
           "llama.embedding_length: UINT32 = " + std::to_string(kDim),
           "llama.feed_forward_length: UINT32 = " + std::to_string(kFfn),
           "llama.attention.head_count: UINT32 = " + std::to_string(kHeads),
           "llama.attention.head_count_kv: UINT32 = " + std::to_string(kKvHeads),
           "llama.context_length: UINT32 = " + std::to_string(kCtx),
           "llama.vocab_size: UINT32 = " + std::to_string(kVocab),
           "tokenizer.ggml.model: STRING = \"llama\"",
           "tokenizer.ggml.tokens: STRING[" + std::to_string(kVocab) + "]",
           "tokenizer.ggml.bos_token_id: UINT32 = 1",
       }) {
    EXPECT_TRUE(contains(r.out, "\n  " + line + "\n") || contains(r.out, "\n  " + line + " "))
        << line << "\n"
        << r.out;
  }
  // 48 tensors, all F32 (SOURCES.md): token embedding, output norm and output matrix (stored
  // although tied to the embedding), and 9 per layer (4 attention and 3 FFN matrices, 2 norms).
  const int64_t params = 2 * kVocab * kDim + kDim + kLayers * (kLayerMatrixParams + 2 * kDim);
  EXPECT_TRUE(contains(r.out, "\ntensors: 48\n  F32: 48\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "\ntotal parameters: " + std::to_string(params) + "\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "\ntotal bytes: " + std::to_string(4 * params) + "\n")) << r.out;

  r = cli("info '" + stories() + "' --tensors");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "\n  blk.4.ffn_down.weight F32 [" + std::to_string(kFfn) + ", " +
                                  std::to_string(kDim) + "]\n"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "\n  blk.0.attn_k.weight F32 [" + std::to_string(kDim) + ", " +
                                  std::to_string(kKvDim) + "]\n"))
      << r.out;
}

// F16 weights are repacked into panels at load where the level has the panel tile (avx512 and
// up); bench says how much, and a model without F16 or Q8_0 matrices repacks nothing.
TEST(Cli, BenchReportsRepackedWeights) {
  const std::string f16 = shared_dir() + "/models/stories260K/stories260K-f16.gguf";
  for (const auto& [model, expect_panels] :
       {std::pair{stories(), false}, std::pair{f16, active_kernels().gemm_panel_f16 != nullptr}}) {
    CommandResult r =
        run_command("'" + cli_path() + "' bench -m '" + model + "' -p 8 -n 0 -r 1 -t 1 --json");
    ASSERT_EQ(r.status, 0) << r.out;
    const double mib = nlohmann::json::parse(r.out).at(0).at("panel_mib").get<double>();
    if (expect_panels) {
      EXPECT_GT(mib, 0.0) << model;
    } else {
      EXPECT_EQ(mib, 0.0) << model;
    }
  }
}

// A tied output matrix is the embedding table, read row by row by every lookup: it keeps its GGUF
// rows only, or a panel copy would sit in memory beside the pages the lookups fault back in.
TEST(Cli, TiedOutputMatrixIsNotRepacked) {
  if (active_kernels().gemm_panel_f16 == nullptr) {
    GTEST_SKIP() << "level " << isa_name(active_isa()) << " has no F16 panel tile (needs AVX-512)";
  }
  TestModel m(synth_model("tiny", "f16"), 1, 256);
  ASSERT_TRUE(m.model().weights().tied_output);
  EXPECT_EQ(m.model().weights().output.panels, nullptr);
  EXPECT_NE(m.model().weights().layers[0].wq.panels, nullptr);
}

TEST(Cli, BenchJson) {
  CommandResult r =
      run_command("'" + cli_path() + "' bench -m '" + stories() + "' -p 32 -n 8 -r 2 -t 1 --json");
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0].at("test"), "pp32");
  EXPECT_EQ(j[1].at("test"), "tg8");
  for (const auto& row : j) {
    EXPECT_EQ(row.at("model"), "stories260K");
    EXPECT_EQ(row.at("model_path"), stories());
    EXPECT_EQ(row.at("threads"), 1);
    EXPECT_EQ(row.at("kv_format"), "f16");
    EXPECT_EQ(row.at("kv_block_size"), 16);
    EXPECT_TRUE(row.at("matmul_act") == "f32" || row.at("matmul_act") == "int8") << row;
    const double lo = row.at("tokens_per_s_min"), mid = row.at("tokens_per_s_median"),
                 hi = row.at("tokens_per_s_max");
    EXPECT_GT(lo, 0) << row;
    EXPECT_LE(lo, mid) << row;
    EXPECT_LE(mid, hi) << row;
    EXPECT_GT(row.at("load_s").get<double>(), 0) << row;
    EXPECT_LT(row.at("load_s").get<double>(), 60) << row;
    // The weights (1.1 MiB, mmapped and read by every forward) are resident.
    EXPECT_GT(row.at("peak_rss_mib").get<double>(), 1.0) << row;
  }
  // The work rates follow from the measured speed and the model's shape (SOURCES.md):
  // pp32 does the layers' matmuls for 32 tokens, causal attention over 32 positions and one
  // LM-head row; tg streams every layer matrix and the output matrix once per token.
  const double pp_flops = 2.0 * kLayerMatrixParams * kLayers * 32 +
                          4.0 * kDim * kLayers * (32.0 * 33 / 2) + 2.0 * kVocab * kDim;
  EXPECT_NEAR(j[0].at("gflops_per_s").get<double>(),
              pp_flops / 32 * j[0].at("tokens_per_s_median").get<double>() / 1e9,
              1e-9 * j[0].at("gflops_per_s").get<double>());
  const double tg_bytes = 4.0 * (kLayerMatrixParams * kLayers + kVocab * kDim);
  EXPECT_NEAR(j[1].at("weight_gb_per_s").get<double>(),
              tg_bytes * j[1].at("tokens_per_s_median").get<double>() / 1e9,
              1e-9 * j[1].at("weight_gb_per_s").get<double>());
  EXPECT_FALSE(j[0].contains("weight_gb_per_s"));
  EXPECT_FALSE(j[1].contains("gflops_per_s"));
}

TEST(Cli, MalformedGgufIsAClearError) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {std::string("GGUF"), "truncated file: version needs 4 bytes but only 0 remain"},
      {std::string("not a gguf file at all"), "not a GGUF file (bad magic)"},
      // A tensor count of 2^63 - 1 and nothing after it.
      {std::string("GGUF\x03\0\0\0\xff\xff\xff\xff\xff\xff\xff\x7f", 16),
       "truncated file: metadata count needs 8 bytes but only 0 remain"},
  };
  for (const auto& [bytes, why] : cases) {
    std::string path = temp_file("bad.gguf", bytes);
    CommandResult r = cli("run -m '" + path + "' -p hi -n 1");
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_TRUE(contains(r.out, "error: " + path + ": " + why)) << r.out;
  }
  CommandResult r = cli("run -m /nonexistent/model.gguf -p hi");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "error: cannot open '/nonexistent/model.gguf': No such file or directory\n");
}

TEST(Cli, PromptLongerThanContextIsRejected) {
  std::string prompt;
  for (int i = 0; i < 200; ++i) prompt += "once upon a time ";
  std::string path = temp_file("long_prompt.txt", prompt);
  CommandResult r = cli("run -m '" + stories() + "' -f '" + path + "' -c 64 -n 4");
  EXPECT_EQ(r.status, 1) << r.out;
  // The message names both lengths.
  const size_t n_prompt = Engine({.model_path = stories()}).tokenize(prompt).size();
  EXPECT_TRUE(contains(r.out, "error: prompt has " + std::to_string(n_prompt) +
                                  " tokens but the context size is 64"))
      << r.out;
}

TEST(Cli, KvBudgetTooSmallOrMalformedIsAClearError) {
  // One 16-position block holds K and V in the default f16 for every layer: 16 * 5 * 32 * 2 * 2
  // = 10240 bytes, so 100K is 10 blocks = 160 positions.
  const int64_t block_bytes = 16 * kLayers * kKvDim * 2 * 2;
  const int64_t blocks = 100 * 1024 / block_bytes;
  CommandResult r = cli("run -m '" + stories() + "' -p hi -n 2 --kv-mem 100K");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_TRUE(contains(r.out, "KV budget of " + std::to_string(blocks) + " blocks (0 MiB) holds " +
                                  std::to_string(16 * blocks) + " positions, fewer than one " +
                                  "context of " + std::to_string(kCtx)))
      << r.out;
  r = cli("run -m '" + stories() + "' -p hi -n 2 --kv-blocks 3");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_TRUE(contains(r.out, "KV budget of 3 blocks (0 MiB) holds 48 positions, fewer than one " +
                                  std::string("context of 512")))
      << r.out;
  r = cli("run -m '" + stories() + "' -p hi -n 2 --kv-mem lots");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_EQ(r.out, "error: invalid byte size 'lots' (use e.g. 512M or 2G)\n");
}

TEST(Cli, InvalidUtf8PromptIsReplacedNotFatal) {
  std::string path = temp_file("bad_utf8.txt", std::string("Once \xff\xfe upon \xc3 a time"));
  CommandResult r = cli("run -m '" + stories() + "' -f '" + path + "' --temp 0 -n 5");
  EXPECT_EQ(r.status, 0) << r.out;
  // Each invalid sequence (0xFF, 0xFE, and 0xC3 missing its continuation byte) became U+FFFD:
  // the run is exactly the one of the repaired prompt.
  const std::string fffd = "\xEF\xBF\xBD";
  std::string repaired =
      temp_file("repaired_utf8.txt", "Once " + fffd + fffd + " upon " + fffd + " a time");
  CommandResult want = cli("run -m '" + stories() + "' -f '" + repaired + "' --temp 0 -n 5");
  ASSERT_EQ(want.status, 0) << want.out;
  EXPECT_EQ(r.out, want.out);
  // packinfer's own greedy text for that prompt (the comparison above is the cross-check).
  EXPECT_EQ(r.out, ". Every day\n");
}

TEST(Cli, AbsurdSamplingValuesAreRejected) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--temp -1", "'temperature': must be a finite number in [0, 100]"},
      {"--top-p 1.5", "'top_p': must be in (0, 1]"},
      {"--top-k -3", "'top_k': must be >= 0"},
      {"--min-p 2", "'min_p': must be in [0, 1]"},
      {"--repeat-penalty 0", "'repetition_penalty': must be a finite number in (0, 10]"},
      {"--presence-penalty 5", "'presence_penalty': must be in [-2, 2]"},
  };
  for (const auto& [flag, why] : cases) {
    CommandResult r = cli("run -m '" + stories() + "' -p hi -n 2 " + flag);
    EXPECT_EQ(r.status, 1) << flag << ": " << r.out;
    EXPECT_TRUE(contains(r.out, "error: invalid sampling parameter " + why))
        << flag << ": " << r.out;
  }
}

}  // namespace
}  // namespace packinfer::test
