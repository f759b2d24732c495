// Tokenizer load time and encoding speed: one text (the Apache-2.0 license 20 times over, or a
// file given) tokenized with each GGUF vocabulary given, best of 5, single thread.
//
//   build/bench_tokenizer [--text FILE] VOCAB.gguf...
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "kernels/system_info.h"
#include "tokenizer/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  using namespace packinfer;
  std::string text_path;
  std::vector<std::string> vocabs;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--text" && i + 1 < argc) {
      text_path = argv[++i];
    } else if (a.rfind("--", 0) == 0) {
      std::fprintf(stderr,
                   "unknown option %s\nusage: bench_tokenizer [--text FILE] VOCAB.gguf...\n",
                   a.c_str());
      return 2;
    } else {
      vocabs.push_back(a);
    }
  }
  if (vocabs.empty()) {
    std::fprintf(stderr, "usage: bench_tokenizer [--text FILE] VOCAB.gguf...\n");
    return 2;
  }
  std::string text;
  if (text_path.empty()) {
    const std::string apache = read_file("/usr/share/common-licenses/Apache-2.0");
    for (int i = 0; i < 20; ++i) text += apache;
    text_path = "Apache-2.0 x 20";
  } else {
    text = read_file(text_path);
  }
  std::printf("# tokenizer: %s (%zu bytes), best of 5, 1 thread\n# %s\n", text_path.c_str(),
              text.size(), system_summary(1).c_str());
  std::printf(
      "| vocabulary | model | tokens in vocabulary | load ms | tables KiB | tokens | encode ms "
      "| Mtok/s |\n|---|---|---|---|---|---|---|---|\n");
  for (const std::string& path : vocabs) {
    const auto file = gguf::File::open(path);
    const Clock::time_point t0 = Clock::now();
    const auto tok = Tokenizer::from_gguf(*file);
    const double load_ms = ms_since(t0);
    double best = 1e300;
    size_t n = 0;
    for (int r = 0; r < 5; ++r) {
      const Clock::time_point t = Clock::now();
      n = tok->encode(text, false, false).size();
      best = std::min(best, ms_since(t));
    }
    std::printf("| %s | %s | %d | %.1f | %.0f | %zu | %.1f | %.2f |\n",
                path.substr(path.rfind('/') + 1).c_str(), tok->model_name().c_str(),
                tok->vocab_size(), load_ms, tok->table_bytes() / 1024.0, n, best,
                static_cast<double>(n) / best / 1e3);
  }
  return 0;
}
