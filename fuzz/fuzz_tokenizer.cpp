// libFuzzer target: arbitrary bytes through encode / decode / streaming detokenization of a
// SentencePiece and a byte-level BPE vocabulary. Vocabulary files come from
// $PACKINFER_SHARED/golden/tokenizer (default ../shared, i.e. run from the repository root).
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

struct Vocab {
  std::unique_ptr<packinfer::gguf::File> file;
  std::unique_ptr<packinfer::Tokenizer> tok;
};

const std::vector<Vocab>& vocabs() {
  static const std::vector<Vocab> v = [] {
    const char* env = std::getenv("PACKINFER_SHARED");
    const std::string dir = std::string(env ? env : "../shared") + "/golden/tokenizer/";
    std::vector<Vocab> out;
    for (const char* name : {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"}) {
      Vocab x;
      x.file = packinfer::gguf::File::open(dir + name);
      x.tok = packinfer::Tokenizer::from_gguf(*x.file);
      out.push_back(std::move(x));
    }
    return out;
  }();
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool parse_special = (data[0] & 1) != 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (!packinfer::utf8::is_valid(packinfer::utf8::sanitize(text))) std::abort();
  for (const Vocab& v : vocabs()) {
    const std::vector<int32_t> ids = v.tok->encode(text, true, parse_special);
    for (int32_t id : ids)
      if (id < 0 || id >= v.tok->vocab_size()) std::abort();
    (void)v.tok->decode(ids, true);
    packinfer::StreamingDetokenizer sd(*v.tok, true);
    std::string streamed;
    for (int32_t id : ids) streamed += sd.push(id);
    streamed += sd.flush();
    if (!packinfer::utf8::is_valid(streamed)) std::abort();
  }
  return 0;
}
