// GGUF reader: round trips through the test writer, every rejection rule, the real model files,
// and the fuzz corpus and regressions.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "gguf/gguf_describe.h"
#include "gguf/gguf_file.h"
#include "packinfer/error.h"
#include "support/gguf_writer.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace packinfer;
using namespace packinfer::test;
using gguf::File;
using gguf::ValueType;

namespace {

std::unique_ptr<File> parse(const std::vector<uint8_t>& b) { return File::parse(b, "test.gguf"); }

// Parsing must fail with an Error whose message contains `needle` (and the file name).
void expect_error(const std::vector<uint8_t>& b, const std::string& needle) {
  try {
    parse(b);
    ADD_FAILURE() << "parsed, expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    EXPECT_EQ(msg.rfind("test.gguf: ", 0), 0u) << msg;
  }
}

GgufWriter all_types_writer(uint32_t version) {
  GgufWriter w(version);
  w.add("general.architecture", gv::str("llama"))
      .add("u8", gv::u8(200))
      .add("i8", gv::i8(-100))
      .add("u16", gv::u16(60000))
      .add("i16", gv::i16(-30000))
      .add("u32", gv::u32(4000000000u))
      .add("i32", gv::i32(-2000000000))
      .add("u64", gv::u64(~uint64_t{0}))
      .add("i64", gv::i64(-(int64_t{1} << 62)))
      .add("f32", gv::f32(1.5f))
      .add("f64", gv::f64(-2.25))
      .add("bool", gv::boolean(true))
      .add("str", gv::str(std::string("raw \xff\xfe bytes", 11)))
      .add("empty", gv::array(ValueType::INT32, {}))
      .add("tokens", gv::strings({"a", "\xe2\x96", ""}))
      .add("nested", gv::array(ValueType::ARRAY, {gv::array(ValueType::UINT16, {gv::u16(1)}),
                                                  gv::array(ValueType::FLOAT32, {})}));
  w.add_f32("w", {2, 3}, {1, 2, 3, 4, 5, 6});
  w.add_tensor({"q", static_cast<uint32_t>(GgmlType::Q8_0), {64, 2}, {}, std::nullopt});
  w.add_tensor({"empty_t", 0, {0, 4}, {}, std::nullopt});
  return w;
}

// A small valid file used for the prefix and corruption tests.
std::vector<uint8_t> small_file() {
  GgufWriter w;
  w.add("general.architecture", gv::str("llama")).add("n", gv::u32(7));
  w.add("arr", gv::array(ValueType::ARRAY, {gv::strings({"x", "yz"})}));
  w.add_f32("t", {4}, {1, 2, 3, 4});
  return w.bytes();
}

std::vector<uint8_t> one_tensor(TensorSpec t) {
  GgufWriter w;
  w.add_tensor(std::move(t));
  return w.bytes();
}

}  // namespace

class GgufRoundTrip : public ::testing::TestWithParam<uint32_t> {};

TEST_P(GgufRoundTrip, AllValueTypes) {
  auto bytes = all_types_writer(GetParam()).bytes();
  auto f = parse(bytes);
  EXPECT_EQ(f->version(), GetParam());
  EXPECT_EQ(f->alignment(), 32u);
  ASSERT_EQ(f->metadata().size(), 16u);
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_int("u8"), 200);
  EXPECT_EQ(f->get_int("i8"), -100);
  EXPECT_EQ(f->get_int("u16"), 60000);
  EXPECT_EQ(f->get_int("i16"), -30000);
  EXPECT_EQ(f->get_int("u32"), 4000000000LL);
  EXPECT_EQ(f->get_int("i32"), -2000000000);
  EXPECT_EQ(std::get<uint64_t>(f->find("u64")->data), ~uint64_t{0});
  EXPECT_THROW(f->get_int("u64"), Error);  // does not fit int64
  EXPECT_EQ(f->get_int("i64"), -(int64_t{1} << 62));
  EXPECT_EQ(f->get_float("f32"), 1.5);
  EXPECT_EQ(f->find("f32")->type, ValueType::FLOAT32);
  EXPECT_EQ(f->get_float("f64"), -2.25);
  EXPECT_EQ(f->get_float("u8"), 200.0);
  EXPECT_EQ(f->get_bool("bool"), true);
  EXPECT_EQ(f->get_string("str"), std::string("raw \xff\xfe bytes", 11));
  const gguf::Array* empty = f->get_array("empty");
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->element_type, ValueType::INT32);
  EXPECT_TRUE(empty->items.empty());
  const gguf::Array* tokens = f->get_array("tokens");
  ASSERT_NE(tokens, nullptr);
  ASSERT_EQ(tokens->items.size(), 3u);
  EXPECT_EQ(*tokens->items[1].as_string(), "\xe2\x96");  // partial UTF-8 kept as bytes
  const gguf::Array* nested = f->get_array("nested");
  ASSERT_NE(nested, nullptr);
  ASSERT_EQ(nested->items.size(), 2u);
  EXPECT_EQ(nested->items[0].as_array()->element_type, ValueType::UINT16);
  EXPECT_EQ(nested->items[0].as_array()->items[0].as_int(), 1);
  EXPECT_EQ(nested->items[1].as_array()->element_type, ValueType::FLOAT32);

  ASSERT_EQ(f->tensors().size(), 3u);
  const gguf::TensorInfo* w = f->find_tensor("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->ne, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(w->n_elements(), 6);
  EXPECT_EQ(w->nbytes, 24u);
  float v[6];
  std::memcpy(v, w->data, sizeof v);
  EXPECT_EQ(v[5], 6.0f);
  const gguf::TensorInfo* q = f->find_tensor("q");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->ggml_type(), GgmlType::Q8_0);
  EXPECT_EQ(q->nbytes, 2u * 2 * 34);
  EXPECT_EQ(q->offset % 32, 0u);
  EXPECT_EQ(f->find_tensor("empty_t")->nbytes, 0u);
  EXPECT_EQ(f->find_tensor("missing"), nullptr);
  EXPECT_EQ(f->find("missing"), nullptr);
  EXPECT_EQ(f->get_int("missing"), std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(Versions, GgufRoundTrip, ::testing::Values(2u, 3u),
                         [](const auto& info) { return "v" + std::to_string(info.param); });

TEST(Gguf, OtherAlignments) {
  for (uint32_t a : {1u, 8u, 64u, 4096u}) {
    GgufWriter w;
    w.alignment(a).add("x", gv::u8(1));
    w.add_f32("a", {3}, {1, 2, 3});
    w.add_f32("b", {1}, {9});
    auto bytes = w.bytes();
    auto f = parse(bytes);
    EXPECT_EQ(f->alignment(), a);
    const auto* b = f->find_tensor("b");
    EXPECT_EQ(b->offset % a, 0u);
    EXPECT_EQ((b->data - bytes.data()) % a, 0);
    float x;
    std::memcpy(&x, b->data, 4);
    EXPECT_EQ(x, 9.0f);
  }
}

TEST(Gguf, NoTensorsNoDataSection) {
  GgufWriter w;
  w.add("tokenizer.ggml.tokens", gv::strings({"<s>", "</s>"}));
  auto bytes = w.bytes();
  auto f = parse(bytes);
  EXPECT_TRUE(f->tensors().empty());
  EXPECT_EQ(f->get_array("tokenizer.ggml.tokens")->items.size(), 2u);
}

TEST(Gguf, TypedGettersNameKeyAndType) {
  auto bytes = all_types_writer(3).bytes();
  auto f = parse(bytes);
  try {
    f->get_int("str");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'str' is STRING"), std::string::npos) << e.what();
  }
  try {
    f->get_string("u32");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'u32' is UINT32"), std::string::npos) << e.what();
  }
  EXPECT_THROW(f->get_bool("u8"), Error);
  EXPECT_THROW(f->get_float("tokens"), Error);
  EXPECT_THROW(f->get_array("f32"), Error);
}

TEST(Gguf, DescribeSummarizes) {
  auto bytes = all_types_writer(3).bytes();
  auto f = parse(bytes);
  std::string d = gguf::describe_gguf(*f, true);
  EXPECT_NE(d.find("GGUF version: 3"), std::string::npos) << d;
  EXPECT_NE(d.find("alignment: 32"), std::string::npos);
  EXPECT_NE(d.find("u32: UINT32 = 4000000000"), std::string::npos) << d;
  EXPECT_NE(d.find("tokens: STRING[3]"), std::string::npos) << d;
  EXPECT_NE(d.find("nested: ARRAY[2]"), std::string::npos) << d;
  EXPECT_NE(d.find("total parameters: 134"), std::string::npos) << d;
  EXPECT_NE(d.find("q Q8_0 [64, 2]"), std::string::npos) << d;
  EXPECT_EQ(gguf::describe_gguf(*f, false).find("q Q8_0 [64, 2]"), std::string::npos);
}

TEST(GgufErrors, EveryTruncationThrows) {
  auto full = small_file();
  ASSERT_NO_THROW(parse(full));
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> prefix(full.begin(), full.begin() + n);
    EXPECT_THROW(parse(prefix), Error) << "prefix of " << n << " bytes";
  }
}

TEST(GgufErrors, BadMagicAndVersions) {
  auto b = small_file();
  b[0] = 'X';
  expect_error(b, "bad magic");
  for (uint32_t v : {0u, 1u, 4u}) {
    b = small_file();
    std::memcpy(&b[4], &v, 4);
    expect_error(b, "unsupported GGUF version " + std::to_string(v));
  }
  b = small_file();
  uint8_t be[4] = {0, 0, 0, 3};
  std::memcpy(&b[4], be, 4);
  expect_error(b, "big-endian");
}

TEST(GgufErrors, HugeCounts) {
  std::vector<uint8_t> h = {'G', 'G', 'U', 'F'};
  put_u32(h, 3);
  auto b = h;
  put_u64(b, ~uint64_t{0});  // n_tensors
  put_u64(b, 0);
  expect_error(b, "tensor count");
  b = h;
  put_u64(b, 0);
  put_u64(b, uint64_t{1} << 60);  // n_kv
  expect_error(b, "metadata count");

  b = h;
  put_u64(b, 0);
  put_u64(b, 1);
  put_string(b, "k");
  put_u32(b, static_cast<uint32_t>(ValueType::STRING));
  put_u64(b, ~uint64_t{0} - 3);  // string length
  b.resize(b.size() + 16, 'a');
  expect_error(b, "truncated");

  b = h;
  put_u64(b, 0);
  put_u64(b, 1);
  put_string(b, "k");
  put_u32(b, static_cast<uint32_t>(ValueType::ARRAY));
  put_u32(b, static_cast<uint32_t>(ValueType::UINT32));
  put_u64(b, uint64_t{1} << 61);  // array count
  b.resize(b.size() + 64, 0);
  expect_error(b, "larger than the rest of the file");
}

TEST(GgufErrors, TooManyMetadataValues) {
  // 2^24 + 1 one-byte values fit in the bytes but would take ~50x that in memory.
  std::vector<uint8_t> b = {'G', 'G', 'U', 'F'};
  put_u32(b, 3);
  put_u64(b, 0);
  put_u64(b, 1);
  put_string(b, "k");
  put_u32(b, static_cast<uint32_t>(ValueType::ARRAY));
  put_u32(b, static_cast<uint32_t>(ValueType::UINT8));
  put_u64(b, (uint64_t{1} << 24) + 1);
  b.resize(b.size() + (size_t{1} << 24) + 1, 0);
  expect_error(b, "exceeds the limit");
}

TEST(GgufErrors, DeepNestingAndUnknownTypes) {
  gguf::Value v = gguf::Value{};
  v = gv::array(ValueType::UINT8, {});
  for (int i = 0; i < 20; ++i) v = gv::array(ValueType::ARRAY, {v});
  GgufWriter w;
  w.add("deep", v);
  expect_error(w.bytes(), "nested deeper");

  std::vector<uint8_t> b = {'G', 'G', 'U', 'F'};
  put_u32(b, 3);
  put_u64(b, 0);
  put_u64(b, 1);
  put_string(b, "k");
  put_u32(b, 13);
  put_u64(b, 0);
  expect_error(b, "unknown value type 13");

  gguf::Value bad_bool = gv::u8(2);
  bad_bool.type = ValueType::BOOL;
  GgufWriter w2;
  w2.add("b", bad_bool);
  expect_error(w2.bytes(), "neither 0 nor 1");
}

TEST(GgufErrors, TensorShapes) {
  expect_error(one_tensor({"t", 0, {1, 1, 1, 1, 1}, {}, std::nullopt}), "5 dimensions");
  expect_error(one_tensor({"t", 0, {}, {}, std::nullopt}), "0 dimensions");
  expect_error(one_tensor({"t", 0, {4, -1}, {}, std::nullopt}), "dimension 1 is negative");
  expect_error(one_tensor({"t", 0, {int64_t{1} << 32, int64_t{1} << 32}, {}, std::nullopt}),
               "element count overflows");
  expect_error(one_tensor({"t", 0, {int64_t{1} << 40, int64_t{1} << 40, 0}, {}, std::nullopt}),
               "element count overflows");
  // Found by the fuzzer: a first dimension near 2^62 overflowed the byte size computation.
  expect_error(one_tensor({"t", 0, {int64_t{1} << 62}, {}, std::nullopt}), "byte size overflows");
  expect_error(one_tensor({"t", 99, {4}, {}, std::nullopt}), "unknown tensor type 99");
  expect_error(one_tensor({"t", static_cast<uint32_t>(GgmlType::Q4_K), {128}, {}, std::nullopt}),
               "not a multiple of the Q4_K block size 256");
}

TEST(GgufErrors, TensorPlacement) {
  GgufWriter w;
  w.add_f32("a", {4}, {1, 2, 3, 4});
  w.add_tensor({"b", 0, {4}, {}, 8});  // offset 8 with alignment 32
  expect_error(w.bytes(), "offset 8 is not a multiple of the alignment 32");

  GgufWriter w2;
  w2.add_tensor({"a", 0, {4}, {}, 1024});
  expect_error(w2.bytes(), "extends past the end");

  GgufWriter w3;
  w3.add_tensor({"a", 0, {4}, {}, ~uint64_t{0} - 31});  // offset + nbytes wraps around
  expect_error(w3.bytes(), "extends past the end");

  auto b = small_file();
  b.resize(b.size() - 1);
  expect_error(b, "extends past the end");
}

TEST(GgufErrors, DuplicatesAndNames) {
  GgufWriter w;
  w.add("k", gv::u8(1)).add("k", gv::u8(2));
  expect_error(w.bytes(), "duplicate metadata key 'k'");

  GgufWriter w2;
  w2.add_f32("t", {1}, {1}).add_f32("t", {1}, {2});
  expect_error(w2.bytes(), "duplicate tensor name 't'");

  GgufWriter w3;
  w3.add("bad\xc3", gv::u8(1));
  expect_error(w3.bytes(), "metadata key is not valid UTF-8");
  GgufWriter w3b;
  w3b.add("\xc0\xaf", gv::u8(1));  // overlong '/'
  expect_error(w3b.bytes(), "not valid UTF-8");
  GgufWriter w3c;
  w3c.add("caf\xc3\xa9.\xf0\x9f\x98\x80", gv::u8(1));  // valid 2- and 4-byte sequences
  EXPECT_NO_THROW(parse(w3c.bytes()));
  EXPECT_EQ(parse(w3c.bytes())->get_int("caf\xc3\xa9.\xf0\x9f\x98\x80"), 1);  // key kept as is

  GgufWriter w4;
  w4.add("", gv::u8(1));
  expect_error(w4.bytes(), "empty metadata key");

  GgufWriter w5;
  w5.add_f32("\xed\xa0\x80", {1}, {1});  // a surrogate
  expect_error(w5.bytes(), "tensor name is not valid UTF-8");
}

TEST(GgufErrors, BadAlignment) {
  for (uint32_t a : {0u, 3u, 48u}) {
    GgufWriter w;
    w.add("general.alignment", gv::u32(a));
    expect_error(w.bytes(), "not a non-zero power of two");
  }
  GgufWriter w;
  w.add("general.alignment", gv::u64(32));
  expect_error(w.bytes(), "general.alignment must be UINT32");
}

TEST(GgufErrors, OpenNamesThePath) {
  try {
    File::open("/nonexistent/x.gguf");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/x.gguf"), std::string::npos);
  }
  try {
    File::open(shared_dir() + "/models/stories260K/stories260K.bin");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(
        std::string(e.what()).rfind(shared_dir() + "/models/stories260K/stories260K.bin: ", 0), 0u)
        << e.what();
  }
}

TEST(GgufReal, Stories260K) {
  auto f = File::open(shared_dir() + "/models/stories260K/stories260K-f32.gguf");
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->tensors().size(), 48u);
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_int("llama.block_count"), 5);
  EXPECT_EQ(f->get_int("llama.embedding_length"), 64);
  EXPECT_EQ(f->get_int("llama.feed_forward_length"), 172);
  EXPECT_EQ(f->get_int("llama.attention.head_count"), 8);
  EXPECT_EQ(f->get_int("llama.attention.head_count_kv"), 4);
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(f->get_array("tokenizer.ggml.tokens")->items.size(), 512u);
  EXPECT_EQ(f->get_int("tokenizer.ggml.bos_token_id"), 1);
  const auto* emb = f->find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->ne, (std::vector<int64_t>{64, 512}));
  EXPECT_EQ(emb->ggml_type(), GgmlType::F32);
  for (const auto& t : f->tensors()) {
    EXPECT_EQ(t.ggml_type(), GgmlType::F32);
    EXPECT_EQ(t.nbytes, static_cast<uint64_t>(t.n_elements()) * 4);
  }
  EXPECT_NE(gguf::describe_gguf(*f, true).find("tokenizer.ggml.tokens: STRING[512]"),
            std::string::npos);
}

// A loaded model drops the vocabulary arrays its tokenizer has copied; other keys stay.
TEST(GgufReal, DropMetadataRemovesOnlyTheNamedKeys) {
  auto f = File::open(shared_dir() + "/models/stories260K/stories260K-f32.gguf");
  const size_t before = f->metadata().size();
  const std::string_view keys[] = {"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "no.such.key"};
  f->drop_metadata(keys);
  EXPECT_EQ(f->metadata().size(), before - 2);
  EXPECT_EQ(f->find("tokenizer.ggml.tokens"), nullptr);
  EXPECT_EQ(f->get_array("tokenizer.ggml.scores"), nullptr);
  EXPECT_NE(f->get_array("tokenizer.ggml.token_type"), nullptr);
  EXPECT_EQ(f->get_int("llama.block_count"), 5);
  EXPECT_EQ(f->tensors().size(), 48u);
}

TEST(GgufReal, TinyQ4KM) {
  auto f = File::open(shared_dir() + "/models/synthetic/tiny-Q4_K_M.gguf");
  std::map<GgmlType, int> count;
  for (const auto& t : f->tensors()) ++count[t.ggml_type()];
  EXPECT_EQ(count[GgmlType::F32], 9);
  EXPECT_EQ(count[GgmlType::Q4_K], 24);
  EXPECT_EQ(count[GgmlType::Q6_K], 4);
  EXPECT_EQ(count[GgmlType::Q2_K], 1);
  EXPECT_EQ(f->get_string("general.name"), "synth-tiny-Q4_K_M");
}

TEST(GgufReal, VocabOnly) {
  auto spm = File::open(shared_dir() + "/golden/tokenizer/ggml-vocab-llama-spm.gguf");
  EXPECT_TRUE(spm->tensors().empty());
  EXPECT_EQ(spm->get_array("tokenizer.ggml.tokens")->items.size(), 32000u);
  auto gpt2 = File::open(shared_dir() + "/golden/tokenizer/ggml-vocab-gpt-2.gguf");
  EXPECT_EQ(gpt2->get_array("tokenizer.ggml.tokens")->items.size(), 50257u);
  EXPECT_EQ(gpt2->get_string("tokenizer.ggml.model"), "gpt2");
}

// Every seed and every input the fuzzer once crashed on must give success or an Error.
TEST(GgufFuzz, CorpusAndRegressions) {
  int files = 0;
  for (const char* dir : {"fuzz/corpus/gguf", "fuzz/regressions/gguf"}) {
    fs::path p = fs::path(PACKINFER_SOURCE_DIR) / dir;
    if (!fs::exists(p)) continue;
    for (const auto& e : fs::directory_iterator(p)) {
      if (!e.is_regular_file()) continue;
      std::string s = read_file(e.path().string());
      std::vector<uint8_t> b(s.begin(), s.end());
      try {
        auto f = File::parse(b, e.path().string());
        gguf::describe_gguf(*f, true);
      } catch (const Error&) {
      }
      ++files;
    }
  }
  EXPECT_GT(files, 0);
}

// Writes the seed corpus: PACKINFER_WRITE_GGUF_CORPUS=fuzz/corpus/gguf ./test_gguf
// --gtest_filter=GgufFuzz.WriteSeedCorpus. Skipped otherwise; the seeds are committed.
TEST(GgufFuzz, WriteSeedCorpus) {
  const char* dir = std::getenv("PACKINFER_WRITE_GGUF_CORPUS");
  if (dir == nullptr) GTEST_SKIP() << "set PACKINFER_WRITE_GGUF_CORPUS to write the seeds";
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::vector<uint8_t>& b) {
    ASSERT_LT(b.size(), 8192u);
    ASSERT_NO_THROW(parse(b));
    std::ofstream(fs::path(dir) / name, std::ios::binary)
        .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  };
  write("all_types_v3.gguf", all_types_writer(3).bytes());
  write("all_types_v2.gguf", all_types_writer(2).bytes());
  write("small.gguf", small_file());
  GgufWriter vocab;
  vocab.alignment(16)
      .add("tokenizer.ggml.model", gv::str("llama"))
      .add("tokenizer.ggml.tokens",
           gv::strings({"<unk>", "<s>", "</s>", "<0x00>", "\xe2\x96\x81t"}))
      .add("tokenizer.ggml.scores",
           gv::array(ValueType::FLOAT32,
                     {gv::f32(0), gv::f32(0), gv::f32(0), gv::f32(-1), gv::f32(-2)}));
  write("vocab.gguf", vocab.bytes());
  GgufWriter quant;
  quant.add("general.architecture", gv::str("llama")).add("llama.block_count", gv::u32(1));
  quant.add_tensor({"q4k", static_cast<uint32_t>(GgmlType::Q4_K), {256, 2}, {}, std::nullopt});
  quant.add_tensor({"f16", static_cast<uint32_t>(GgmlType::F16), {8, 2, 2, 1}, {}, std::nullopt});
  quant.add_tensor({"q4_0", static_cast<uint32_t>(GgmlType::Q4_0), {32}, {}, std::nullopt});
  write("quant.gguf", quant.bytes());
}
