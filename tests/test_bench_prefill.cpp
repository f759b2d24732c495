// `packinfer bench prefill`: prompt-length distributions, JSONL prompts, the SVG writer and the
// command end to end.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <numeric>

#include "packinfer/error.h"
#include "prompt_sets/prompt_lengths.h"
#include "report/svg_plot.h"
#include "support/test_support.h"

namespace packinfer::test {
namespace {

using prompt_sets::parse_prompt_distribution;
using prompt_sets::PromptDistribution;
using prompt_sets::sample_prompt_lengths;

TEST(PromptLengths, ParsesEveryForm) {
  EXPECT_EQ(parse_prompt_distribution("fixed:128").kind, PromptDistribution::Kind::Fixed);
  auto u = parse_prompt_distribution("uniform:8:64");
  EXPECT_EQ(u.kind, PromptDistribution::Kind::Uniform);
  EXPECT_EQ(u.lo, 8);
  EXPECT_EQ(u.hi, 64);
  EXPECT_EQ(parse_prompt_distribution("loguniform:16:1024").kind,
            PromptDistribution::Kind::LogUniform);
  auto j = parse_prompt_distribution("jsonl:/tmp/a:b.jsonl");
  EXPECT_EQ(j.kind, PromptDistribution::Kind::Jsonl);
  EXPECT_EQ(j.file, "/tmp/a:b.jsonl");
  EXPECT_EQ(prompt_sets::to_string(u), "uniform:8:64");
  for (const char* bad : {"", "fixed", "fixed:0", "fixed:1:2", "uniform:9:8", "uniform:4",
                          "loguniform:0:10", "gauss:1:2", "uniform:a:b", "fixed:12x", "jsonl:"}) {
    EXPECT_THROW(parse_prompt_distribution(bad), InvalidArgument) << bad;
  }
}

TEST(PromptLengths, DeterministicForASeedAndNested) {
  auto d = parse_prompt_distribution("loguniform:16:1024");
  auto a = sample_prompt_lengths(d, 64, 7), b = sample_prompt_lengths(d, 64, 7);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, sample_prompt_lengths(d, 64, 8));
  auto prefix = sample_prompt_lengths(d, 16, 7);
  EXPECT_TRUE(std::equal(prefix.begin(), prefix.end(), a.begin()));
  EXPECT_EQ(prompt_sets::random_token_ids(50, 512, 3), prompt_sets::random_token_ids(50, 512, 3));
}

TEST(PromptLengths, RangesRespected) {
  for (const char* spec : {"uniform:8:64", "loguniform:16:1024", "loguniform:5:5", "fixed:33"}) {
    auto d = parse_prompt_distribution(spec);
    auto v = sample_prompt_lengths(d, 5000, 1);
    ASSERT_EQ(v.size(), 5000u);
    EXPECT_EQ(*std::min_element(v.begin(), v.end()), d.lo) << spec;  // ends are reached
    EXPECT_EQ(*std::max_element(v.begin(), v.end()), d.hi) << spec;
  }
  auto ids = prompt_sets::random_token_ids(10000, 300, 1);
  EXPECT_GE(*std::min_element(ids.begin(), ids.end()), 0);
  EXPECT_LT(*std::max_element(ids.begin(), ids.end()), 300);
}

TEST(PromptLengths, LogUniformIsSkewedToShortPrompts) {
  auto v = sample_prompt_lengths(parse_prompt_distribution("loguniform:16:1024"), 4001, 1);
  std::nth_element(v.begin(), v.begin() + 2000, v.end());
  // Log-uniform median is sqrt(16 * 1025) ~ 128, far below the arithmetic midpoint 520.
  EXPECT_GT(v[2000], 90);
  EXPECT_LT(v[2000], 180);
  auto u = sample_prompt_lengths(parse_prompt_distribution("uniform:16:1024"), 4001, 1);
  std::nth_element(u.begin(), u.begin() + 2000, u.end());
  EXPECT_GT(u[2000], 450);
  EXPECT_LT(u[2000], 590);
}

TEST(PromptLengths, ParsesJsonlFile) {
  std::string path = build_dir() + "/bench_prefill_prompts.jsonl";
  std::ofstream(path)
      << R"({"prompt": "Once upon a time"})"
      << "\n\n"
      << R"({"prompt_ids": [1, 2, 3]})"
      << "\n"
      << R"({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", )"
      << R"("body": {"model": "m", "messages": [{"role": "system", "content": "Be brief."}, )"
      << R"({"role": "user", "content": [{"type": "text", "text": "Hi"}]}]}})"
      << "\n"
      << R"({"body": {"prompt": "completion style"}})"
      << "\r\n";
  auto prompts = prompt_sets::parse_jsonl_prompts(read_file(path));
  ASSERT_EQ(prompts.size(), 4u);
  EXPECT_EQ(prompts[0].text, "Once upon a time");
  EXPECT_EQ(prompts[1].ids, (std::vector<int32_t>{1, 2, 3}));
  ASSERT_EQ(prompts[2].messages.size(), 2u);
  EXPECT_EQ(prompts[2].messages[0].role, "system");
  EXPECT_EQ(prompts[2].messages[1].content, "Hi");
  EXPECT_EQ(prompts[3].text, "completion style");

  auto picked = prompt_sets::pick_prompts(prompts, 10, 5);
  ASSERT_EQ(picked.size(), 10u);  // cycles through the 4 prompts
  auto again = prompt_sets::pick_prompts(prompts, 10, 5);
  for (size_t i = 0; i < picked.size(); ++i) EXPECT_EQ(picked[i].text, again[i].text);

  for (const char* bad : {"not json", "[1, 2]", R"({"other": 1})", R"({"prompt_ids": []})",
                          R"({"prompt_ids": [1, "x"]})", R"({"prompt": 5})"}) {
    EXPECT_THROW(prompt_sets::parse_jsonl_prompts(bad), InvalidArgument) << bad;
  }
  try {
    prompt_sets::parse_jsonl_prompts("{\"prompt\": \"ok\"}\n{\"oops\": 1}\n");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
}

// Minimal well-formedness check: every tag closes in order, attributes are quoted.
bool well_formed_xml(const std::string& s, std::string* why) {
  std::vector<std::string> stack;
  size_t i = 0;
  while ((i = s.find('<', i)) != std::string::npos) {
    size_t end = s.find('>', i);
    if (end == std::string::npos) return *why = "unclosed tag", false;
    std::string tag = s.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.empty()) return *why = "empty tag", false;
    if (tag[0] == '?' || tag[0] == '!') continue;
    if (std::count(tag.begin(), tag.end(), '"') % 2) return *why = "odd quotes: " + tag, false;
    if (tag[0] == '/') {
      if (stack.empty() || stack.back() != tag.substr(1)) return *why = "mismatched " + tag, false;
      stack.pop_back();
    } else if (tag.back() != '/') {
      stack.push_back(tag.substr(0, tag.find_first_of(" \n")));
    }
  }
  if (!stack.empty()) return *why = "unclosed <" + stack.back() + ">", false;
  // Text between tags must not hold raw '&' that is not an entity.
  for (size_t k = s.find('&'); k != std::string::npos; k = s.find('&', k + 1)) {
    if (s.compare(k, 5, "&amp;") && s.compare(k, 4, "&lt;") && s.compare(k, 4, "&gt;") &&
        s.compare(k, 6, "&quot;")) {
      return *why = "raw &", false;
    }
  }
  return true;
}

TEST(SvgPlot, LineAndBarChartsAreWellFormed) {
  report::PlotChart line;
  line.title = "Speedup <packed>";
  line.x_label = "batch size";
  line.y_label = "x";
  line.log2_x = true;
  line.reference_y = 1.0;
  line.series.push_back({"vs padded", {1, 2, 4, 8}, {1.0, 1.3, 1.7, 2.1}, ""});
  line.series.push_back({"vs single & co", {1, 2, 4, 8}, {1.0, 1.8, 3.0, 4.4}, ""});
  report::PlotChart bars;
  bars.title = "Memory";
  bars.x_label = "mode";
  bars.y_label = "MiB";
  bars.categories = {"packed", "padded", "single"};
  bars.series.push_back({"activation", {}, {1.5, 4.0, 0.5}, ""});
  bars.series.push_back({"RSS", {}, {100, 120, 90}, ""});
  std::string svg = report::render_svg({line, bars}, "title");
  std::string why;
  EXPECT_TRUE(well_formed_xml(svg, &why)) << why << "\n" << svg;
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  for (const char* name : {"vs padded", "vs single &amp; co", "activation", "RSS", "packed",
                           "Speedup &lt;packed&gt;", "batch size"}) {
    EXPECT_NE(svg.find(name), std::string::npos) << name;
  }
  EXPECT_EQ(std::count(svg.begin(), svg.end(), '\n') > 20, true);
}

TEST(SvgPlot, NiceTicksCoverTheRange) {
  auto t = report::nice_ticks(0, 4.3);
  ASSERT_GE(t.size(), 3u);
  EXPECT_LE(t.front(), 0);
  EXPECT_GE(t.back(), 4.3);
  EXPECT_EQ(report::nice_ticks(0, 100, 5), (std::vector<double>{0, 20, 40, 60, 80, 100}));
}

TEST(BenchPrefillCli, JsonHasOneObjectPerMode) {
  std::string model = shared_dir() + "/models/stories260K/stories260K-f32.gguf";
  std::string svg = build_dir() + "/bench_prefill_test.svg";
  CommandResult r = run_command("'" + cli_path() + "' bench prefill -m '" + model +
                                "' --dist uniform:8:64 --batch 6 -r 1 -t 1 --json --svg '" + svg +
                                "' 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 3u);
  // The batch is the seeded distribution's: 6 prompts of exactly these lengths (random token ids).
  const std::vector<int64_t> lens =
      sample_prompt_lengths(parse_prompt_distribution("uniform:8:64"), 6, 1);
  int64_t total = 0, longest = 0, kv_blocks = 0, largest_kv_blocks = 0;
  for (int64_t n : lens) {
    total += n;
    longest = std::max(longest, n);
    kv_blocks += (n + 15) / 16;  // 16-position KV blocks of one prompt
    largest_kv_blocks = std::max(largest_kv_blocks, (n + 15) / 16);
  }
  const int64_t budget = 512;      // tokens per forward: the engine's default -b
  ASSERT_LE(6 * longest, budget);  // so packed and padded each need one forward
  // A KV block holds K and V in f32 for stories260K's 5 layers of 4 KV heads x 8 dims.
  // A 16-position block of the default f16 KV: K and V, 2 bytes each, 5 layers x 32 KV values.
  const double block_mib = 16.0 * 5 * 32 * 2 * 2 / (1024 * 1024);
  std::vector<std::string> modes;
  for (const auto& o : j) {
    modes.push_back(o.at("mode").get<std::string>());
    for (const char* key :
         {"batch_ttft_s", "prompt_tokens_per_s", "peak_rss_mib", "prompt_tokens"}) {
      ASSERT_TRUE(o.contains(key)) << key;
      EXPECT_GT(o.at(key).get<double>(), 0) << key;
    }
    for (const char* key : {"peak_activation_mib", "peak_kv_mib", "padding_tokens", "n_forwards",
                            "packing_efficiency"}) {
      EXPECT_TRUE(o.contains(key)) << key;
    }
    EXPECT_EQ(o.at("batch").get<int>(), 6);
    EXPECT_EQ(o.at("prompt_tokens"), j[0].at("prompt_tokens"));  // the same batch in every mode
    EXPECT_EQ(o.at("prompt_tokens"), total);
    EXPECT_EQ(o.at("dist"), "uniform:8:64");
    EXPECT_EQ(o.at("seed"), 1);
    EXPECT_EQ(o.at("threads"), 1);
    EXPECT_EQ(o.at("repetitions"), 1);
    EXPECT_EQ(o.at("max_batch_tokens"), budget);
    EXPECT_EQ(o.at("model"), "stories260K");
    EXPECT_EQ(o.at("batch_ttft_s_all"), nlohmann::json::array({o.at("batch_ttft_s")}));
    EXPECT_NEAR(o.at("prompt_tokens_per_s").get<double>(),
                total / o.at("batch_ttft_s").get<double>(),
                1e-9 * o.at("prompt_tokens_per_s").get<double>());
    EXPECT_GT(o.at("peak_activation_mib").get<double>(), 0);
  }
  EXPECT_EQ(modes, (std::vector<std::string>{"packed", "padded", "single"}));
  EXPECT_TRUE(j[0].contains("speedup_vs_padded"));
  EXPECT_TRUE(j[0].contains("speedup_vs_single"));
  // packed: every prompt in one forward, no padding, all their KV at once.
  EXPECT_EQ(j[0].at("padding_tokens"), 0);
  EXPECT_EQ(j[0].at("n_forwards"), 1);
  EXPECT_DOUBLE_EQ(j[0].at("packing_efficiency").get<double>(), double(total) / budget);
  EXPECT_DOUBLE_EQ(j[0].at("peak_kv_mib").get<double>(), kv_blocks * block_mib);
  // padded: one forward of 6 rows of the longest prompt; efficiency counts the padded slots.
  EXPECT_EQ(j[1].at("padding_tokens"), 6 * longest - total);
  EXPECT_EQ(j[1].at("n_forwards"), 1);
  EXPECT_DOUBLE_EQ(j[1].at("packing_efficiency").get<double>(), double(total) / (6 * longest));
  EXPECT_DOUBLE_EQ(j[1].at("peak_kv_mib").get<double>(), 6 * ((longest + 15) / 16) * block_mib);
  // single: one forward per prompt, the KV of one prompt at a time.
  EXPECT_EQ(j[2].at("padding_tokens"), 0);
  EXPECT_EQ(j[2].at("n_forwards"), 6);
  EXPECT_DOUBLE_EQ(j[2].at("packing_efficiency").get<double>(), double(total) / (6 * budget));
  EXPECT_DOUBLE_EQ(j[2].at("peak_kv_mib").get<double>(), largest_kv_blocks * block_mib);
  // Speedups are ratios of the measured batch TTFTs.
  const double packed_ttft = j[0].at("batch_ttft_s").get<double>();
  EXPECT_DOUBLE_EQ(j[0].at("speedup_vs_padded").get<double>(),
                   j[1].at("batch_ttft_s").get<double>() / packed_ttft);
  EXPECT_DOUBLE_EQ(j[0].at("speedup_vs_single").get<double>(),
                   j[2].at("batch_ttft_s").get<double>() / packed_ttft);
  std::string why;
  EXPECT_TRUE(well_formed_xml(read_file(svg), &why)) << why;
}

TEST(BenchPrefillCli, TableSweepAndErrors) {
  std::string model = shared_dir() + "/models/stories260K/stories260K-f32.gguf";
  std::string base = "'" + cli_path() + "' bench prefill -m '" + model + "' -t 1 -r 1 ";
  CommandResult r =
      run_command(base + "--dist fixed:16 --sweep-batch 1,2 --modes packed,single 2>&1");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("fixed:16"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("batch: 2 prompts, 32 prompt tokens"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("packed speedup"), std::string::npos) << r.out;
  // A sweep in JSON: one object per (batch size, mode); the SVG names every series.
  std::string svg = build_dir() + "/bench_prefill_sweep_test.svg";
  r = run_command(base + "--dist uniform:4:32 --sweep-batch 1,2,4 --json --svg '" + svg +
                  "' 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 9u);
  EXPECT_EQ(j[8].at("batch").get<int>(), 4);
  // Batch by batch, the modes in order; a smaller batch is a prefix of the larger one.
  const std::vector<int64_t> lens =
      sample_prompt_lengths(parse_prompt_distribution("uniform:4:32"), 4, 1);
  const std::vector<std::string> mode_names = {"packed", "padded", "single"};
  for (size_t k = 0; k < j.size(); ++k) {
    const int64_t batch = int64_t{1} << (k / 3);
    EXPECT_EQ(j[k].at("batch"), batch) << k;
    EXPECT_EQ(j[k].at("mode"), mode_names[k % 3]) << k;
    EXPECT_EQ(j[k].at("prompt_tokens"), std::accumulate(lens.begin(), lens.begin() + batch, 0))
        << k;
  }
  std::string chart = read_file(svg);
  for (const char* name : {"vs padded", "vs single", "packed", "padded", "single", "Peak RSS"}) {
    EXPECT_NE(chart.find(name), std::string::npos) << name;
  }
  // Too long for stories260K's 512 positions: a clear error, not a crash.
  r = run_command(base + "--dist fixed:600 --batch 2 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("does not fit the context"), std::string::npos) << r.out;
  r = run_command(base + "--modes packed,bogus 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("error: unknown prefill mode 'bogus' (use packed, padded or single)"),
            std::string::npos)
      << r.out;
  // The plain pp/tg bench still works beside the subcommand.
  r = run_command("'" + cli_path() + "' bench -m '" + model + "' -p 16 -n 4 -r 1 -t 1 --json");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.out).size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(r.out)[0].at("test"), "pp16");
  EXPECT_EQ(nlohmann::json::parse(r.out)[1].at("test"), "tg4");
}

// A mode that does not fit the KV budget is an out-of-memory cell (as in the Prepacking paper's
// tables), not the end of the run: padded rows of the longest prompt need more KV than the 32
// blocks allow, while packed and single prompts fit one by one.
TEST(BenchPrefillCli, OutOfMemoryModeIsReportedAndTheOthersRun) {
  std::string model = shared_dir() + "/models/stories260K/stories260K-f32.gguf";
  std::string base = "'" + cli_path() + "' bench prefill -m '" + model +
                     "' -t 1 -r 2 --dist loguniform:8:500 --batch 48 --kv-blocks 32 ";
  CommandResult r = run_command(base + "--json 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[0].at("mode"), "packed");
  EXPECT_EQ(j[0].at("status"), "ok");
  EXPECT_GT(j[0].at("batch_ttft_s").get<double>(), 0);
  EXPECT_FALSE(j[0].contains("speedup_vs_padded"));  // no ratio against an OOM cell
  EXPECT_TRUE(j[0].contains("speedup_vs_single"));
  EXPECT_EQ(j[1].at("mode"), "padded");
  EXPECT_EQ(j[1].at("status"), "out_of_memory");
  EXPECT_NE(j[1].at("error").get<std::string>().find("KV cache exhausted (512 positions)"),
            std::string::npos)
      << j[1];
  EXPECT_EQ(j[2].at("status"), "ok");
  EXPECT_GT(j[2].at("batch_ttft_s").get<double>(), 0);
  r = run_command(base + "2>&1");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("| padded | out of memory: KV cache exhausted"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("packed speedup: - vs padded"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace packinfer::test
