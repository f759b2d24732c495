#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cstdint>

#include "packinfer/error.h"
#include "tokenizer/utf8.h"

namespace packinfer {
namespace {

// llama.cpp's whitespace is its own table (unicode_set_whitespace: U+0009..U+000D, U+0020,
// U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000), used both by
// its hand-written GPT-2/Llama-3 matchers and, through category collapsing, by its std::regex
// path. PCRE2's \s (even with UCP) leaves out U+0085, so the class is spelled out.
constexpr std::string_view kWs =
    "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"
    "\\x{202F}\\x{205F}\\x{3000}";

// Replaces the "\s" and "\S" of an expression (outside and inside brackets) by explicit classes.
std::string expand_ws(std::string_view re, std::string_view ws) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < re.size(); ++i) {
    const char c = re[i];
    if (c == '\\' && i + 1 < re.size()) {
      const char n = re[i + 1];
      ++i;
      if (n == 's') {
        out += in_class ? std::string(ws) : "[" + std::string(ws) + "]";
      } else if (n == 'S') {
        out += "[^" + std::string(ws) + "]";  // never used inside a class by our expressions
      } else {
        out += c;
        out += n;
      }
      continue;
    }
    if (c == '[') in_class = true;
    if (c == ']') in_class = false;
    out += c;
  }
  return out;
}

constexpr std::string_view kGpt2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
constexpr std::string_view kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr std::string_view kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

}  // namespace

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer(std::string_view pre) {
  std::vector<std::string_view> specs;
  if (pre.empty() || pre == "default") {
    // llama.cpp's fallback set for LLAMA_VOCAB_PRE_TYPE_DEFAULT (not the plain GPT-2 expression).
    specs = {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
  } else if (pre == "gpt-2" || pre == "phi-2" || pre == "roberta-bpe" || pre == "mpt" ||
             pre == "olmo" || pre == "jais") {
    specs = {kGpt2};
  } else if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3") {
    specs = {kLlama3};
    ignore_merges_ = true;
    default_add_bos_ = true;
  } else if (pre == "qwen2" || pre == "deepseek-r1-qwen") {
    specs = {kQwen2};
    clean_spaces_ = false;
  } else if (pre == "smollm" || pre == "starcoder" || pre == "refact" || pre == "codeshell") {
    // Every digit becomes its own piece first, then the GPT-2 expression runs on the rest.
    specs = {"\\p{N}", kGpt2};
    clean_spaces_ = pre != "smollm";
  } else {
    throw Error("unsupported tokenizer.ggml.pre '" + std::string(pre) +
                "' (supported: default, gpt-2, llama3/llama-bpe, qwen2, smollm, starcoder)");
  }
  for (std::string_view spec : specs) {
    const std::string re = expand_ws(spec, kWs);
    int err = 0;
    PCRE2_SIZE off = 0;
    auto r = std::make_unique<Regex>();
    r->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re.data()), re.size(),
                            PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
    if (r->code == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      throw Error("pre-tokenizer regex failed to compile at " + std::to_string(off) + ": " +
                  reinterpret_cast<const char*>(msg));
    }
    pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if absent
    regexes_.push_back(std::move(r));
  }
}

PreTokenizer::~PreTokenizer() = default;

std::vector<std::string> PreTokenizer::split(std::string_view text) const {
  const std::vector<uint32_t> cpts = utf8::decode_lenient(text);
  // PCRE2 needs valid UTF-8: code points llama.cpp lets through but UTF-8 forbids (surrogates,
  // values above U+10FFFF) are matched as U+FFFD, which has the same (symbol) category.
  std::string subject;
  std::vector<size_t> cpt_off(cpts.size() + 1);
  for (size_t i = 0; i < cpts.size(); ++i) {
    cpt_off[i] = subject.size();
    const uint32_t c = cpts[i];
    utf8::append(subject, (c >= 0xD800 && c <= 0xDFFF) ? utf8::kReplacement : c);
  }
  cpt_off[cpts.size()] = subject.size();
  auto to_cpt = [&](size_t byte) {
    return static_cast<size_t>(std::lower_bound(cpt_off.begin(), cpt_off.end(), byte) -
                               cpt_off.begin());
  };

  // Pieces as lengths in code points.
  std::vector<size_t> pieces;
  if (!cpts.empty()) pieces.push_back(cpts.size());
  pcre2_match_data* md = nullptr;
  for (const auto& re : regexes_) {
    if (md == nullptr) md = pcre2_match_data_create(1, nullptr);
    std::vector<size_t> next;
    size_t start = 0;
    for (size_t len : pieces) {
      const size_t b0 = cpt_off[start], b1 = cpt_off[start + len];
      const auto* subj = reinterpret_cast<PCRE2_SPTR>(subject.data() + b0);
      size_t pos = 0;       // bytes from b0
      size_t done = start;  // first code point not yet assigned to a piece
      while (pos < b1 - b0) {
        const int rc = pcre2_match(re->code, subj, b1 - b0, pos, PCRE2_NO_UTF_CHECK, md, nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
          // Resource limits only; stopping here would silently change the tokens.
          pcre2_match_data_free(md);
          PCRE2_UCHAR msg[256];
          pcre2_get_error_message(rc, msg, sizeof(msg));
          throw Error(std::string("pre-tokenizer regex failed: ") +
                      reinterpret_cast<const char*>(msg));
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const size_t ms = to_cpt(b0 + ov[0]), me = to_cpt(b0 + ov[1]);
        if (ms > done) next.push_back(ms - done);
        if (me > ms) next.push_back(me - ms);
        done = me;
        // An empty match cannot happen with these expressions; guard against looping anyway.
        pos = ov[1] > ov[0] ? ov[1] : cpt_off[std::min(me + 1, start + len)] - b0;
      }
      if (start + len > done) next.push_back(start + len - done);
      start += len;
    }
    pieces = std::move(next);
  }
  if (md != nullptr) pcre2_match_data_free(md);

  std::vector<std::string> words;
  words.reserve(pieces.size());
  size_t start = 0;
  for (size_t len : pieces) {
    std::string w;
    for (size_t i = start; i < start + len; ++i) utf8::append(w, cpts[i]);
    words.push_back(std::move(w));
    start += len;
  }
  return words;
}

}  // namespace packinfer
