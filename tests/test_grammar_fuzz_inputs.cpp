// Every seed of fuzz/corpus/grammar and every input the grammar fuzzer once failed on goes
// through what fuzz/fuzz_grammar.cpp does with it: compile (or InvalidArgument), then a matcher
// fed the rest of the input with a mask at every step. Nothing else may be thrown.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "grammar/automaton_builder.h"
#include "grammar/gbnf_parser.h"
#include "grammar/matcher.h"
#include "grammar/structured_output.h"
#include "packinfer/error.h"
#include "support/grammar_helpers.h"
#include "support/test_support.h"

namespace packinfer {
namespace {

void run_input(const std::string& data) {
  if (data.empty()) return;
  static const auto vocab = test::byte_vocabulary({"{\"", "\": ", "\", \"", "true", "null"});
  const std::string all = data.substr(1);
  const size_t nul = all.find('\0');
  StructuredOutput spec;
  const int mode = static_cast<uint8_t>(data[0]) % 3;
  spec.kind = mode == 0   ? StructuredOutput::Kind::Grammar
              : mode == 1 ? StructuredOutput::Kind::JsonSchema
                          : StructuredOutput::Kind::JsonObject;
  if (spec.kind != StructuredOutput::Kind::JsonObject) spec.text = all.substr(0, nul);
  const std::string feed = nul == std::string::npos ? "" : all.substr(nul + 1);
  try {
    grammar::GrammarMatcher m(test::compile_gbnf(grammar::structured_output_gbnf(spec), vocab));
    std::vector<uint64_t> mask(static_cast<size_t>(m.mask_words()));
    m.fill_mask(mask.data());
    (void)m.forced_bytes(64);
    for (size_t i = 0; i < feed.size() && i < 256; ++i) {
      if (!m.accept_bytes(feed.substr(i, 1))) break;
      m.fill_mask(mask.data());
    }
  } catch (const InvalidArgument&) {
  }
}

TEST(GrammarFuzzInputs, CorpusAndRegressionsNeverFailOtherwise) {
  namespace fs = std::filesystem;
  int files = 0;
  for (const char* dir : {"fuzz/corpus/grammar", "fuzz/regressions/grammar"}) {
    const fs::path p = fs::path(PACKINFER_SOURCE_DIR) / dir;
    if (!fs::exists(p)) continue;
    for (const auto& e : fs::directory_iterator(p)) {
      if (!e.is_regular_file() || e.path().filename() == ".gitkeep") continue;
      EXPECT_NO_THROW(run_input(test::read_file(e.path().string()))) << e.path();
      ++files;
    }
  }
  EXPECT_GE(files, 7);
}

}  // namespace
}  // namespace packinfer
