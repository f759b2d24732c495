// Tokenizer tests against llama.cpp (build 4748) reference data in ../shared/golden.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "packinfer/error.h"
#include "support/gguf_writer.h"
#include "support/test_support.h"
#include "tokenizer/byte_unicode.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace packinfer {
namespace {

using test::shared_dir;

// A loaded model file and its tokenizer, cached per path (the 49152-token vocabulary takes a
// moment to load and is used by many tests).
struct Loaded {
  std::unique_ptr<gguf::File> file;
  std::unique_ptr<Tokenizer> tok;
};

const Loaded& load(const std::string& path) {
  static std::map<std::string, Loaded> cache;
  auto it = cache.find(path);
  if (it == cache.end()) {
    Loaded l;
    l.file = gguf::File::open(path);
    l.tok = Tokenizer::from_gguf(*l.file);
    it = cache.emplace(path, std::move(l)).first;
  }
  return it->second;
}

const Tokenizer& tok_at(const std::string& path) { return *load(path).tok; }
std::string vocab_path(const std::string& name) {
  return shared_dir() + "/golden/tokenizer/ggml-vocab-" + name + ".gguf";
}
const Tokenizer& tiny() { return tok_at(test::synth_model("tiny", "f32")); }
const Tokenizer& stories() {
  return tok_at(shared_dir() + "/models/stories260K/stories260K-f32.gguf");
}

std::string ids_str(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    s += ' ';
    s += std::to_string(id);
  }
  return s;
}

// llama.cpp's test vectors: inputs separated by "\n__ggml_vocab_test__\n", one output line each.
struct Vector {
  std::string text;
  std::vector<int32_t> ids;
};

std::vector<Vector> read_vectors(const std::string& gguf_path) {
  const std::string inp = test::read_file(gguf_path + ".inp");
  const std::string out = test::read_file(gguf_path + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0; pos < inp.size();) {
    size_t m = inp.find(sep, pos);
    if (m == std::string::npos) m = inp.size();
    texts.push_back(inp.substr(pos, m - pos));
    pos = m + sep.size();
  }
  std::vector<Vector> v;
  std::istringstream lines(out);
  std::string line;
  for (const std::string& t : texts) {
    std::getline(lines, line);
    Vector vec{t, {}};
    std::istringstream ls(line);
    int32_t id;
    while (ls >> id) vec.ids.push_back(id);
    v.push_back(vec);
  }
  return v;
}

// Texts that llama.cpp's clean_up_tokenization_spaces would change on decoding.
bool cleaned_by_decode(const std::string& t) {
  for (const char* p : {" ?", " !", " .", " ,", " '"})
    if (t.find(p) != std::string::npos) return true;
  return false;
}

void check_vectors(const std::string& vocab, bool gpt2_clean_spaces) {
  const Tokenizer& tok = tok_at(vocab_path(vocab));
  const std::vector<Vector> vecs = read_vectors(vocab_path(vocab));
  ASSERT_EQ(vecs.size(), 46u);
  int pass = 0;
  for (const Vector& v : vecs) {
    const std::vector<int32_t> got = tok.encode(v.text, false, false);
    EXPECT_EQ(ids_str(got), ids_str(v.ids)) << "input: '" << v.text << "'";
    pass += got == v.ids;
    if (!gpt2_clean_spaces || !cleaned_by_decode(v.text)) {
      EXPECT_EQ(tok.decode(got, false), v.text) << "round trip of '" << v.text << "'";
    }
  }
  std::printf("[ %s ] %d/%zu vectors match llama.cpp\n", vocab.c_str(), pass, vecs.size());
}

TEST(TokenizerVectors, LlamaSpm) { check_vectors("llama-spm", false); }
TEST(TokenizerVectors, Gpt2) { check_vectors("gpt-2", true); }

TEST(TokenizerVectors, SmolLM2) {
  const Tokenizer& tok = tiny();
  nlohmann::json j = test::read_json(shared_dir() + "/golden/tokenizer/smollm2.json");
  int pass = 0, n = 0;
  for (const auto& c : j.at("cases")) {
    const std::string text = c.at("text");
    const auto ids = c.at("ids").get<std::vector<int32_t>>();
    const auto ids_nps = c.at("ids_no_parse_special").get<std::vector<int32_t>>();
    const auto a = tok.encode(text, true, true);
    const auto b = tok.encode(text, true, false);
    EXPECT_EQ(ids_str(a), ids_str(ids)) << c.at("name") << ": '" << text << "'";
    EXPECT_EQ(ids_str(b), ids_str(ids_nps)) << c.at("name") << " (no parse_special)";
    pass += (a == ids) + (b == ids_nps);
    n += 2;
    // No clean-up of spaces for this vocabulary: decoding restores the text exactly (special
    // tokens rendered), unless the text is not valid UTF-8.
    if (utf8::is_valid(text)) {
      EXPECT_EQ(tok.decode(a, true), text) << c.at("name");
    }
    // pieces are the vocabulary strings of ids
    const auto pieces = c.at("pieces").get<std::vector<std::string>>();
    ASSERT_EQ(pieces.size(), ids.size());
    for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(tok.token_text(ids[i]), pieces[i]);
  }
  std::printf("[ smollm2 ] %d/%d id lists match llama.cpp\n", pass, n);
}

TEST(TokenizerGolden, PromptIdsOfEveryCase) {
  int pass = 0, n = 0;
  for (const std::string& model : test::golden_models()) {
    const Tokenizer& tok = tok_at(test::golden_model_path(model));
    for (const std::string& cs : test::golden_cases(model)) {
      nlohmann::json g = test::golden_case(model, cs);
      const std::string text = g.at("prompt_text");
      const auto want = g.at("prompt_ids").get<std::vector<int32_t>>();
      const auto got = tok.encode(text, true, true);
      EXPECT_EQ(ids_str(got), ids_str(want)) << model << "/" << cs;
      EXPECT_EQ(tok.add_bos(), g.at("add_bos").get<bool>()) << model;
      pass += got == want;
      ++n;
    }
  }
  std::printf("[ golden prompts ] %d/%d prompt_ids match llama.cpp\n", pass, n);
}

TEST(TokenizerGolden, GreedyTextIsDetokenizedLikeLlamaCpp) {
  // greedy_text_hex: llama_detokenize(remove_special=false, unparse_special=true)
  for (const std::string& model : {std::string("stories260K-f32"), std::string("tiny-f32")}) {
    const Tokenizer& tok = tok_at(test::golden_model_path(model));
    for (const std::string& cs : test::golden_cases(model)) {
      nlohmann::json g = test::golden_case(model, cs);
      const auto ids = g.at("greedy_ids").get<std::vector<int32_t>>();
      const std::string hex = g.at("greedy_text_hex");
      std::string bytes;
      for (size_t i = 0; i + 1 < hex.size(); i += 2)
        bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
      EXPECT_EQ(tok.decode(ids, true), bytes) << model << "/" << cs;
    }
  }
}

TEST(Tokenizer, MetadataOfTheSyntheticVocabulary) {
  const Tokenizer& tok = tiny();
  EXPECT_EQ(tok.vocab_size(), 49152);
  EXPECT_EQ(tok.model_name(), "gpt2");
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_FALSE(tok.add_bos());
  EXPECT_TRUE(tok.is_eog(0));  // <|endoftext|>
  EXPECT_TRUE(tok.is_eog(2));  // <|im_end|>
  EXPECT_FALSE(tok.is_eog(1));
  EXPECT_EQ(tok.find_token("<|im_start|>"), 1);
  EXPECT_EQ(tok.token_to_piece(1, false), "");
  EXPECT_EQ(tok.token_to_piece(1, true), "<|im_start|>");

  const Tokenizer& st = stories();
  EXPECT_EQ(st.model_name(), "llama");
  EXPECT_TRUE(st.add_bos());
  EXPECT_EQ(st.bos_id(), 1);
  EXPECT_TRUE(st.is_eog(2));
  EXPECT_EQ(st.encode("", true, true), std::vector<int32_t>{1});
  EXPECT_TRUE(st.encode("", false, true).empty());
}

TEST(Tokenizer, StreamingDetokenizerNeverSplitsACharacter) {
  const Tokenizer& st = stories();
  nlohmann::json g = test::golden_case("stories260K-f32", "unicode");
  const auto ids = g.at("prompt_ids").get<std::vector<int32_t>>();
  StreamingDetokenizer sd(st, false);
  std::string all;
  int byte_tokens = 0;
  for (int32_t id : ids) {
    byte_tokens += st.token_type(id) == TokenType::BYTE;
    std::string part = sd.push(id);
    EXPECT_TRUE(utf8::is_valid(part)) << "token " << id;
    all += part;
  }
  all += sd.flush();
  EXPECT_GT(byte_tokens, 8);  // the emoji and the CJK characters are spelled in bytes
  // decode() drops the leading space SentencePiece adds from the first piece (as llama.cpp does:
  // only when that first token is not BOS); the stream keeps it.
  const std::string text = g.at("prompt_text");
  EXPECT_EQ(all, " " + text);
  EXPECT_EQ(st.decode(std::span(ids).subspan(1), false), text);
  EXPECT_EQ(st.decode(ids, false), " " + text);

  // An incomplete character at the end is replaced on flush.
  StreamingDetokenizer sd2(st, false);
  const int32_t f0 = st.find_token("<0xF0>"), x9f = st.find_token("<0x9F>");
  ASSERT_GE(f0, 0);
  EXPECT_EQ(sd2.push(f0), "");
  EXPECT_EQ(sd2.push(x9f), "");
  EXPECT_EQ(sd2.flush(), "\xEF\xBF\xBD");
  // An invalid byte is replaced at once.
  StreamingDetokenizer sd3(st, false);
  EXPECT_EQ(sd3.push(x9f), "\xEF\xBF\xBD");
  EXPECT_EQ(sd3.flush(), "");
}

TEST(Tokenizer, InvalidUtf8DoesNotCrash) {
  const std::vector<std::string> bad = {"\xff",
                                        "abc\x80\x80",
                                        "\xC3",
                                        "\xE2\x82",
                                        "\xF0\x9F\x98",
                                        "\xED\xA0\x80 x",
                                        "\xC0\x80",
                                        "\xF8\x88\x80\x80\x80",
                                        std::string("a\0b", 3),
                                        "<|im_start|\xff|>"};
  for (const std::string& path : {vocab_path("llama-spm"), vocab_path("gpt-2")}) {
    const Tokenizer& tok = tok_at(path);
    for (const std::string& s : bad) {
      std::vector<int32_t> ids;
      ASSERT_NO_THROW(ids = tok.encode(s, true, true)) << path;
      for (int32_t id : ids) EXPECT_TRUE(id >= 0 && id < tok.vocab_size());
      (void)tok.decode(ids, true);
    }
  }
  const Tokenizer& t = tiny();
  // llama.cpp turns each undecodable byte into U+FFFD before byte-level BPE.
  EXPECT_EQ(t.encode("a\xff", false, false), t.encode("a\xEF\xBF\xBD", false, false));
  // SentencePiece keeps the bytes (byte fallback).
  const Tokenizer& spm = tok_at(vocab_path("llama-spm"));
  EXPECT_EQ(spm.decode(spm.encode("a\xff", false, false), false), "a\xff");
}

// Every seed of fuzz_tokenizer and every input it once failed on: ids stay in the vocabulary and
// streamed detokenization stays valid UTF-8 (the properties the fuzzer checks).
TEST(TokenizerFuzz, CorpusAndRegressions) {
  namespace fs = std::filesystem;
  int files = 0;
  for (const char* dir : {"fuzz/corpus/tokenizer", "fuzz/regressions/tokenizer"}) {
    const fs::path p = fs::path(PACKINFER_SOURCE_DIR) / dir;
    if (!fs::exists(p)) continue;
    for (const auto& e : fs::directory_iterator(p)) {
      if (!e.is_regular_file() || e.path().filename().string().front() == '.') continue;
      std::ifstream in(e.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
      if (bytes.empty()) continue;
      const bool parse_special = (bytes[0] & 1) != 0;
      const std::string text = bytes.substr(1);
      for (const std::string& path : {vocab_path("llama-spm"), vocab_path("gpt-2")}) {
        const Tokenizer& tok = tok_at(path);
        std::vector<int32_t> ids;
        ASSERT_NO_THROW(ids = tok.encode(text, true, parse_special)) << e.path();
        for (int32_t id : ids) EXPECT_TRUE(id >= 0 && id < tok.vocab_size()) << e.path();
        StreamingDetokenizer sd(tok, true);
        std::string streamed;
        for (int32_t id : ids) streamed += sd.push(id);
        streamed += sd.flush();
        EXPECT_TRUE(utf8::is_valid(streamed)) << e.path();
      }
      ++files;
    }
  }
  EXPECT_GT(files, 0);
}

TEST(Tokenizer, UnknownPreTokenizerIsNamed) {
  try {
    PreTokenizer p("no-such-pre");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-pre"), std::string::npos);
  }
}

TEST(Utf8, Helpers) {
  EXPECT_TRUE(utf8::is_valid("h\xC3\xA9llo \xF0\x9F\xA6\x99"));
  EXPECT_FALSE(utf8::is_valid("\xC0\x80"));
  EXPECT_FALSE(utf8::is_valid("\xED\xA0\x80"));
  EXPECT_FALSE(utf8::is_valid("\xF4\x90\x80\x80"));
  EXPECT_EQ(utf8::complete_prefix_length("ab\xF0\x9F\xA6"), 2u);
  EXPECT_EQ(utf8::complete_prefix_length("ab\xF0\x9F\xA6\x99"), 6u);
  EXPECT_EQ(utf8::complete_prefix_length("ab\xFF"), 3u);
  EXPECT_EQ(utf8::sanitize("a\xF0\x9F\xA6z\xFF"), "a\xEF\xBF\xBDz\xEF\xBF\xBD");
  EXPECT_EQ(utf8::sanitize("\xE2\x82"), "\xEF\xBF\xBD");
}

TEST(ChatTemplate, SmolLM2TemplateFromTheModel) {
  const gguf::File& f = *load(test::synth_model("tiny", "f32")).file;
  const std::optional<std::string> jinja = f.get_string("tokenizer.chat_template");
  ASSERT_TRUE(jinja.has_value());
  const ChatTemplate t = ChatTemplate::detect(*jinja);
  EXPECT_EQ(ChatTemplate::from_gguf(f).name(), "smollm2");
  EXPECT_TRUE(ChatTemplate::from_gguf(*load(vocab_path("gpt-2")).file).is_fallback());
  EXPECT_EQ(t.name(), "smollm2");
  EXPECT_FALSE(t.is_fallback());
  EXPECT_EQ(t.default_system(), ChatTemplate::by_name("smollm2").default_system());

  nlohmann::json g = test::golden_case("tiny-f32", "chat");
  const std::string prompt = g.at("prompt_text");
  const std::string head = "<|im_start|>user\n";
  const size_t b = prompt.find(head) + head.size();
  const std::string question = prompt.substr(b, prompt.find("<|im_end|>", b) - b);
  const std::string got =
      t.render({{"system", "You are a helpful assistant."}, {"user", question}}, true);
  EXPECT_EQ(got, prompt);
  EXPECT_EQ(tiny().encode(got, true, true), g.at("prompt_ids").get<std::vector<int32_t>>());

  // Without a system message the template supplies its own.
  EXPECT_EQ(t.render({{"user", "Hi"}}, true),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
            "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(t.render({{"user", "Hi"}}, false).find("assistant\n"), std::string::npos);
}

TEST(ChatTemplate, KnownRenderings) {
  // The conversation and expected strings of llama.cpp's tests/test-chat-template.cpp.
  const std::vector<ChatMessage> chat = {{"system", "You are a helpful assistant"},
                                         {"user", "Hello"},
                                         {"assistant", "Hi there"},
                                         {"user", "Who are you"},
                                         {"assistant", "   I am an assistant   "},
                                         {"user", "Another question"}};
  auto render = [&](const char* name) { return ChatTemplate::by_name(name).render(chat, true); };
  EXPECT_EQ(render("chatml"),
            "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello"
            "<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are "
            "you<|im_end|>\n<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>"
            "user\nAnother question<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(render("llama3"),
            "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>"
            "assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_"
            "id|>\n\nWho are you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI am an "
            "assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_"
            "id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(render("llama2-sys"),
            "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>"
            "[INST] Who are you [/INST]   I am an assistant   </s>[INST] Another question [/INST]");
  EXPECT_EQ(render("llama2-sys-bos"),
            "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>"
            "<s>[INST] Who are you [/INST]   I am an assistant   </s><s>[INST] Another question "
            "[/INST]");
  EXPECT_EQ(render("llama2-sys-strip"),
            "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>"
            "[INST] Who are you [/INST]I am an assistant</s>[INST] Another question [/INST]");
  EXPECT_EQ(render("llama2"),
            "[INST] You are a helpful assistant\nHello [/INST]Hi there</s>[INST] Who are you "
            "[/INST]   I am an assistant   </s>[INST] Another question [/INST]");
  EXPECT_EQ(render("mistral"), render("llama2"));
  EXPECT_EQ(render("mistral-v1"),
            " [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are you "
            "[/INST]    I am an assistant   </s> [INST] Another question [/INST]");
  EXPECT_EQ(render("mistral-v3"),
            "[INST] You are a helpful assistant\n\nHello[/INST] Hi there</s>[INST] Who are "
            "you[/INST] I am an assistant</s>[INST] Another question[/INST]");
  EXPECT_EQ(render("mistral-v3-tekken"),
            "[INST]You are a helpful assistant\n\nHello[/INST]Hi there</s>[INST]Who are "
            "you[/INST]   I am an assistant   </s>[INST]Another question[/INST]");
  EXPECT_EQ(render("mistral-v7"),
            "[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT][INST] Hello[/INST] Hi "
            "there</s>[INST] Who are you[/INST]    I am an assistant   </s>[INST] Another "
            "question[/INST]");
  EXPECT_THROW(ChatTemplate::by_name("nope"), InvalidArgument);
}

TEST(ChatTemplate, Detection) {
  EXPECT_EQ(ChatTemplate::detect("{{ '<|im_start|>' + m['role'] }}").name(), "chatml");
  EXPECT_EQ(ChatTemplate::detect("{{'<|start_header_id|>' + r + '<|end_header_id|>'}}").name(),
            "llama3");
  EXPECT_EQ(ChatTemplate::detect("{{ '[INST] <<SYS>>' }}").name(), "llama2-sys");
  EXPECT_EQ(ChatTemplate::detect("{{ bos_token + '[INST] ' + content.strip() }}").name(),
            "llama2-sys-strip");
  EXPECT_EQ(ChatTemplate::detect("{{ '[INST] ' + x }}").name(), "llama2");
  const ChatTemplate u = ChatTemplate::detect("{{ something else }}");
  EXPECT_TRUE(u.is_fallback());
  EXPECT_EQ(u.name(), "chatml");
}

// The vocabulary's tables are a few bytes per token and merge: 49,152 tokens and 48,900 merges
// in under 2 MiB (a std::string per token and per merge and two hash maps took 4.5x that).
TEST(Tokenizer, TablesOfALargeVocabularyAreCompact) {
  const Loaded& l = load(test::synth_model("tiny", "f32"));
  ASSERT_EQ(l.tok->vocab_size(), 49152);
  EXPECT_LT(l.tok->table_bytes(), 2 << 20);
  EXPECT_GT(l.tok->table_bytes(), 49152 * 12);
}

}  // namespace
}  // namespace packinfer

namespace packinfer {
namespace {

std::vector<std::string> split(std::string_view pre, std::string_view text) {
  return PreTokenizer(pre).split(text);
}
using Words = std::vector<std::string>;

TEST(PreTokenizer, Gpt2) {
  EXPECT_EQ(split("gpt-2", "Hello world's 123  x\n\n"),
            (Words{"Hello", " world", "'s", " 123", " ", " x", "\n\n"}));
  EXPECT_EQ(split("gpt-2", "I'M"), (Words{"I", "'", "M"}));  // contractions are lower case only
}

TEST(PreTokenizer, Llama3) {
  EXPECT_EQ(split("llama-bpe", "12345 I'M\n\n  ok"),
            (Words{"123", "45", " I", "'M", "\n\n", " ", " ok"}));
  EXPECT_TRUE(PreTokenizer("llama3").ignore_merges());
  EXPECT_TRUE(PreTokenizer("llama3").default_add_bos());
}

TEST(PreTokenizer, Qwen2AndSmolLM) {
  EXPECT_EQ(split("qwen2", "x12345"), (Words{"x", "1", "2", "3", "4", "5"}));
  EXPECT_EQ(split("smollm", "abc123 42"), (Words{"abc", "1", "2", "3", " ", "4", "2"}));
}

TEST(PreTokenizer, DefaultIsLlamaCppsFallbackSet) {
  EXPECT_EQ(split("default", "a+b 1234567"), (Words{"a", "+", "b", " ", "123", "456", "7"}));
}

TEST(PreTokenizer, InvalidBytesBecomeReplacementCharacters) {
  EXPECT_EQ(split("gpt-2", "ab\xff"), (Words{"ab", "\xEF\xBF\xBD"}));
}

TEST(PreTokenizer, LongInputsAreLinear) {
  // Long runs must neither hit PCRE2 limits nor silently stop splitting.
  const std::string spaces(1 << 20, ' ');
  EXPECT_EQ(split("gpt-2", spaces + "x"), (Words{std::string((1 << 20) - 1, ' '), " x"}));
  const std::string letters(1 << 20, 'a');
  EXPECT_EQ(split("llama3", letters + "!"), (Words{letters, "!"}));
}

}  // namespace
}  // namespace packinfer

namespace packinfer {
namespace {

TEST(Tokenizer, LongTextRoundTrips) {
  std::string text;
  const std::string apache = test::read_file("/usr/share/common-licenses/Apache-2.0");
  for (int i = 0; i < 20; ++i) text += apache;
  for (const std::string& path : {vocab_path("llama-spm"), test::synth_model("tiny", "f32")}) {
    const Tokenizer& tok = tok_at(path);
    const auto ids = tok.encode(text, false, false);
    EXPECT_GT(ids.size(), text.size() / 8);
    EXPECT_EQ(tok.decode(ids, false), text) << path;
  }
}

}  // namespace
}  // namespace packinfer

namespace packinfer {
namespace {

TEST(Tokenizer, RandomBytesNeverCrash) {
  // Deterministic pseudo-random byte strings, biased towards UTF-8 lead/continuation bytes,
  // spaces, digits and pieces of special-token text.
  uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&] {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return state;
  };
  const std::vector<std::string> atoms = {" ",     "  ",   "\n",   "7",    "a",  "<|im_start|>",
                                          "<|im_", "\xF0", "\x9F", "\xC3", "'s", "\xE2\x96\x81"};
  const std::vector<const Tokenizer*> toks = {&tok_at(vocab_path("llama-spm")),
                                              &tok_at(vocab_path("gpt-2")), &tiny()};
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    const size_t len = next() % 24;
    for (size_t k = 0; k < len; ++k) {
      const uint64_t r = next();
      if (r % 3 == 0) {
        s += atoms[(r >> 8) % atoms.size()];
      } else {
        s += static_cast<char>(r >> 16);
      }
    }
    for (const Tokenizer* tok : toks) {
      std::vector<int32_t> ids;
      ASSERT_NO_THROW(ids = tok->encode(s, true, (i & 1) != 0));
      for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok->vocab_size());
      StreamingDetokenizer sd(*tok, true);
      std::string streamed;
      for (int32_t id : ids) streamed += sd.push(id);
      streamed += sd.flush();
      EXPECT_TRUE(utf8::is_valid(streamed));
    }
  }
}

}  // namespace
}  // namespace packinfer

namespace packinfer {
namespace {

TEST(PreTokenizer, WhitespaceIsLlamaCppsTable) {
  // U+0085 (NEL) is whitespace for llama.cpp, U+001C is not.
  EXPECT_EQ(split("gpt-2", "a\xC2\x85\xC2\x85 b"), (Words{"a", "\xC2\x85\xC2\x85", " b"}));
  EXPECT_EQ(split("gpt-2", "a \x1C"), (Words{"a", " \x1C"}));
}

}  // namespace
}  // namespace packinfer

namespace packinfer {
namespace {

TEST(Tokenizer, Gpt2DecodeCleansSpacesLikeLlamaCpp) {
  const Tokenizer& tok = tok_at(vocab_path("gpt-2"));
  auto rt = [&](const char* s) { return tok.decode(tok.encode(s, false, false), false); };
  EXPECT_EQ(rt("Hello , world . It 's we 're I 'd"), "Hello, world. It's we're I 'd");
  EXPECT_EQ(rt("a ' ' b"), "a'' b");
  // SmolLM2 does not clean up.
  EXPECT_EQ(tiny().decode(tiny().encode("Hello , world", false, false), false), "Hello , world");
}

}  // namespace
}  // namespace packinfer

namespace packinfer {
namespace {

// A small hand-made byte-level BPE vocabulary: the 256 byte tokens plus a few specials.
struct MiniVocab {
  std::vector<uint8_t> bytes;
  std::unique_ptr<gguf::File> file;
};

MiniVocab mini_vocab(const std::string& pre, const std::vector<std::string>& extra, bool with_ids,
                     const std::vector<std::string>& merges = {"h i"}) {
  std::vector<std::string> toks;
  for (int b = 0; b < 256; ++b) toks.push_back(byte_unicode::encode_byte(static_cast<uint8_t>(b)));
  std::vector<gguf::Value> types(256, test::gv::i32(1));
  for (const std::string& e : extra) {
    toks.push_back(e);
    types.push_back(test::gv::i32(1));  // NORMAL: llama.cpp's text rules must promote them
  }
  test::GgufWriter w;
  w.add("tokenizer.ggml.model", test::gv::str("gpt2"));
  if (!pre.empty()) w.add("tokenizer.ggml.pre", test::gv::str(pre));
  w.add("tokenizer.ggml.tokens", test::gv::strings(toks));
  w.add("tokenizer.ggml.token_type", test::gv::array(gguf::ValueType::INT32, types));
  w.add("tokenizer.ggml.merges", test::gv::strings(merges));
  if (with_ids) w.add("tokenizer.ggml.eos_token_id", test::gv::u32(256));
  MiniVocab v;
  v.bytes = w.bytes();
  v.file = gguf::File::parse(v.bytes, "mini");
  return v;
}

TEST(Tokenizer, LlamaCppVocabularyRules) {
  MiniVocab v =
      mini_vocab("gpt-2", {"<|im_end|>", "<|fim_pad|>", "<|file_sep|>", "<PRE>", "hi"}, false);
  auto tok = Tokenizer::from_gguf(*v.file);
  EXPECT_EQ(tok->bos_id(), 11);  // llama.cpp's defaults for gpt2 vocabularies without the keys
  EXPECT_EQ(tok->eos_id(), 11);
  EXPECT_FALSE(tok->add_bos());
  const int32_t im_end = tok->find_token("<|im_end|>"), pad = tok->find_token("<|fim_pad|>");
  const int32_t sep = tok->find_token("<|file_sep|>"), pre = tok->find_token("<PRE>");
  EXPECT_EQ(tok->eot_id(), im_end);
  EXPECT_TRUE(tok->is_eog(im_end) && tok->is_eog(pad) && tok->is_eog(sep) && tok->is_eog(11));
  EXPECT_FALSE(tok->is_eog(pre));
  // Promoted to CONTROL: parsed as special and hidden from output.
  for (int32_t id : {im_end, pad, sep, pre}) EXPECT_EQ(tok->token_type(id), TokenType::CONTROL);
  EXPECT_EQ(tok->encode("a<PRE>", false, true), (std::vector<int32_t>{'a', pre}));
  EXPECT_EQ(tok->encode("<PRE>", false, true), std::vector<int32_t>{pre});
  EXPECT_EQ(tok->decode(std::vector<int32_t>{pre}, false), "");
  EXPECT_EQ(tok->decode(std::vector<int32_t>{pre}, true), "<PRE>");
  // The one merge applies.
  EXPECT_EQ(tok->encode("hi", false, false), std::vector<int32_t>{tok->find_token("hi")});
}

// llama.cpp's BPE rules on the compact tables (merges keyed by token ids): of tokens with the same
// text the last id is found; merges apply lowest rank first and a repeated merge keeps its first
// rank; a merge whose part is no token (here "yz") still applies.
TEST(Tokenizer, BpeMergeRulesOnCompactTables) {
  MiniVocab v = mini_vocab("gpt-2", {"hi", "hi", "ab", "bc", "abc", "xyz"}, false,
                           {"b c", "a b", "ab c", "y z", "x yz", "b c"});
  auto tok = Tokenizer::from_gguf(*v.file);
  EXPECT_EQ(tok->find_token("hi"), 257);
  EXPECT_EQ(tok->find_token("nope"), -1);
  EXPECT_EQ(tok->token_text(256), "hi");
  // No merge joins h and i here: bytes. "abc": "b c" (rank 0) first, and "a bc" is no merge.
  EXPECT_EQ(tok->encode("hi", false, false), (std::vector<int32_t>{'h', 'i'}));
  EXPECT_EQ(tok->encode("abc", false, false), (std::vector<int32_t>{'a', 259}));
  EXPECT_EQ(tok->encode("ab", false, false), std::vector<int32_t>{258});
  EXPECT_EQ(tok->encode("xyz", false, false), std::vector<int32_t>{261});
  EXPECT_THROW(tok->token_text(262), std::out_of_range);
  EXPECT_THROW(tok->token_text(-1), std::out_of_range);
}

TEST(Tokenizer, UnsupportedVocabulariesAreNamed) {
  MiniVocab v = mini_vocab("tekken-x", {}, true);
  try {
    Tokenizer::from_gguf(*v.file);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tekken-x"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace packinfer
