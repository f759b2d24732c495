// The packinfer executable end to end: normal use and bad input (clear error, non-zero exit,
// never a crash).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

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

TEST(Cli, RunGeneratesGreedyStory) {
  CommandResult r = cli("run -m '" + stories() + "' -p 'Once upon a time' --temp 0 -n 20");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_GT(r.out.size(), 20u);
}

TEST(Cli, RunIsDeterministicForASeed) {
  std::string args = "run -m '" + stories() + "' -p 'Once upon a time' --temp 1 -s 42 -n 30";
  CommandResult a = cli(args), b = cli(args);
  ASSERT_EQ(a.status, 0) << a.out;
  EXPECT_EQ(a.out, b.out);
}

TEST(Cli, LogitsJsonHasEveryPosition) {
  CommandResult r = run_command("'" + cli_path() + "' logits -m '" + stories() +
                                "' -p 'Once upon a time' --top 5 --json");
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.at("prompt_ids").size(), 5u);  // BOS + 4 tokens
  ASSERT_EQ(j.at("top").size(), 5u);
  EXPECT_EQ(j.at("top")[0].size(), 5u);
  EXPECT_EQ(j.at("last_logits").size(), 512u);
}

TEST(Cli, InfoDescribesModel) {
  CommandResult r = cli("info '" + stories() + "'");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("llama"), std::string::npos);
  EXPECT_NE(r.out.find("F32"), std::string::npos);
}

TEST(Cli, BenchJson) {
  CommandResult r =
      run_command("'" + cli_path() + "' bench -m '" + stories() + "' -p 32 -n 8 -r 2 -t 1 --json");
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0].at("test"), "pp32");
  EXPECT_EQ(j[1].at("test"), "tg8");
  EXPECT_GT(j[0].at("tokens_per_s_median").get<double>(), 0);
}

TEST(Cli, MalformedGgufIsAClearError) {
  for (const std::string& bytes :
       {std::string("GGUF"), std::string("not a gguf file at all"),
        std::string("GGUF\x03\0\0\0\xff\xff\xff\xff\xff\xff\xff\x7f", 16)}) {
    std::string path = temp_file("bad.gguf", bytes);
    CommandResult r = cli("run -m '" + path + "' -p hi -n 1");
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("error:"), std::string::npos) << r.out;
  }
  CommandResult r = cli("run -m /nonexistent/model.gguf -p hi");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("/nonexistent/model.gguf"), std::string::npos) << r.out;
}

TEST(Cli, PromptLongerThanContextIsRejected) {
  std::string prompt;
  for (int i = 0; i < 200; ++i) prompt += "once upon a time ";
  std::string path = temp_file("long_prompt.txt", prompt);
  CommandResult r = cli("run -m '" + stories() + "' -f '" + path + "' -c 64 -n 4");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("context size is 64"), std::string::npos) << r.out;
}

TEST(Cli, KvBudgetTooSmallOrMalformedIsAClearError) {
  CommandResult r = cli("run -m '" + stories() + "' -p hi -n 2 --kv-mem 100K");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("fewer than one context"), std::string::npos) << r.out;
  r = cli("run -m '" + stories() + "' -p hi -n 2 --kv-blocks 3");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("KV budget of 3 blocks"), std::string::npos) << r.out;
  r = cli("run -m '" + stories() + "' -p hi -n 2 --kv-mem lots");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("invalid byte size"), std::string::npos) << r.out;
}

TEST(Cli, InvalidUtf8PromptIsReplacedNotFatal) {
  std::string path = temp_file("bad_utf8.txt", std::string("Once \xff\xfe upon \xc3 a time"));
  CommandResult r = cli("run -m '" + stories() + "' -f '" + path + "' --temp 0 -n 5");
  EXPECT_EQ(r.status, 0) << r.out;
}

TEST(Cli, AbsurdSamplingValuesAreRejected) {
  for (const char* flag : {"--temp -1", "--top-p 1.5", "--top-k -3", "--min-p 2",
                           "--repeat-penalty 0", "--presence-penalty 5"}) {
    CommandResult r = cli("run -m '" + stories() + "' -p hi -n 2 " + flag);
    EXPECT_NE(r.status, 0) << flag << ": " << r.out;
    EXPECT_NE(r.out.find("error"), std::string::npos) << flag << ": " << r.out;
  }
}

}  // namespace
}  // namespace packinfer::test
