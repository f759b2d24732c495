#include "cli/cli_common.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "kv/redis_store.h"

namespace fs = std::filesystem;

namespace packinfer::cli {

void add_model_options(CLI::App& app, ModelOptions& o) {
  app.add_option("-m,--model", o.model,
                 "GGUF model file (default: $PACKINFER_MODEL or stories260K)");
  app.add_option("-t,--threads", o.threads, "threads (default: all cores)")
      ->check(CLI::Range(0, 1024));
  app.add_option("-c,--ctx-size", o.ctx_size,
                 "max positions per sequence (default: model's, <= 8192)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 22));
  app.add_option("-b,--batch-size", o.batch_size, "max tokens per forward pass")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  app.add_option("--kv-mem", o.kv_mem,
                 "KV cache budget, e.g. 2G (default: 4 full contexts; reserved virtually, "
                 "committed as used)");
  app.add_option("--kv-blocks", o.kv_blocks,
                 "KV cache budget as a number of blocks (wins over --kv-mem)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  app.add_option(
         "--kv-block-size", o.kv_block_size,
         "positions per KV block (default 16, 32 with q8_0 or KIVI keys); prefixes are shared in "
         "whole blocks, so a smaller size lets shorter shared prompt prefixes be reused")
      ->check(CLI::Range(1, 1024));
  app.add_flag("--batch-invariant", o.batch_invariant,
               "batch-invariant kernels: a token's logits do not depend on what shares its forward "
               "pass, so seeded sampling is reproducible under any load (slower prefill)");
  app.add_option("--matmul-act", o.matmul_act,
                 "how activations meet quantized weights: f32 (default, exact) or int8 (quantized "
                 "per row as in llama.cpp; lossy, measure it with packinfer kld); default "
                 "$PACKINFER_MATMUL_ACT")
      ->check(CLI::IsMember({"f32", "int8"}));
  app.add_option("--kv-type", o.kv_type,
                 "KV cache format: f32, f16 (default), bf16, q8_0, q4_0, kivi4, kivi2");
  app.add_option("--kv-type-k", o.kv_type_k, "format of the keys (default: --kv-type)");
  app.add_option("--kv-type-v", o.kv_type_v, "format of the values (default: --kv-type)");
  app.add_flag("--kv-rotate", o.kv_rotate,
               "store Hadamard-rotated keys and values (tames outlier channels at low bits)");
  app.add_option("--kv-disk", o.kv_disk,
                 "keep cached prompt prefixes on disk in DIR too (read back on a hit, also after "
                 "a restart)");
  app.add_option("--kv-disk-size", o.kv_disk_size, "disk tier budget, e.g. 20G (default 10G)");
  app.add_option("--kv-store", o.kv_store,
                 "share cached prompt prefixes through a KV store: redis://HOST:PORT[/DB] (blocks "
                 "are published in the background and fetched on a local prefix miss)");
  app.add_option("--kv-store-timeout-ms", o.kv_store_timeout_ms,
                 "longest wait for the KV store in a prefix lookup (default 250)")
      ->check(CLI::Range(1, 60000));
}

int64_t parse_bytes(const std::string& text) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    throw InvalidArgument("invalid byte size '" + text + "' (use e.g. 512M or 2G)");
  }
  std::string suffix = text.substr(used);
  double mult = 1;
  if (suffix == "K" || suffix == "k" || suffix == "KiB")
    mult = 1024.0;
  else if (suffix == "M" || suffix == "m" || suffix == "MiB")
    mult = 1024.0 * 1024;
  else if (suffix == "G" || suffix == "g" || suffix == "GiB")
    mult = 1024.0 * 1024 * 1024;
  else if (!suffix.empty())
    throw InvalidArgument("invalid byte size '" + text + "' (use e.g. 512M or 2G)");
  double bytes = v * mult;
  if (!(bytes >= 1) || bytes > 1e15)
    throw InvalidArgument("byte size '" + text + "' is out of range");
  return static_cast<int64_t>(bytes);
}

std::string resolve_model_path(const std::string& given) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("PACKINFER_MODEL"); env != nullptr && *env != '\0') return env;
  const fs::path rel = "shared/models/stories260K/stories260K-f32.gguf";
  std::vector<fs::path> candidates = {fs::path("..") / rel};
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    // <repo>/build/packinfer -> <repo>/../shared
    candidates.push_back(exe.parent_path().parent_path().parent_path() / rel);
  }
  for (const fs::path& p : candidates) {
    if (fs::exists(p, ec)) return fs::weakly_canonical(p, ec).string();
  }
  throw Error("no model given: pass -m MODEL.gguf or set PACKINFER_MODEL");
}

EngineOptions engine_options(const ModelOptions& o) {
  EngineOptions e;
  e.model_path = resolve_model_path(o.model);
  e.n_threads = o.threads;
  e.n_ctx = o.ctx_size;
  e.max_batch_tokens = o.batch_size;
  if (!o.kv_mem.empty()) e.kv_mem_bytes = parse_bytes(o.kv_mem);
  e.kv_blocks = o.kv_blocks;
  e.kv_block_size = o.kv_block_size;
  e.kv_type = o.kv_type;
  e.kv_type_k = o.kv_type_k;
  e.kv_type_v = o.kv_type_v;
  e.kv_rotate = o.kv_rotate;
  e.batch_invariant = o.batch_invariant;
  e.matmul_act = o.matmul_act;
  if (!o.kv_disk_size.empty() && o.kv_disk.empty()) {
    throw InvalidArgument("--kv-disk-size needs --kv-disk DIR");
  }
  e.kv_disk_dir = o.kv_disk;
  if (!o.kv_disk_size.empty()) e.kv_disk_bytes = parse_bytes(o.kv_disk_size);
  if (!o.kv_store.empty()) parse_kv_store_url(o.kv_store);  // a bad URL fails before the load
  e.kv_store_url = o.kv_store;
  e.kv_store_timeout_ms = o.kv_store_timeout_ms;
  return e;
}

void add_sampling_options(CLI::App& app, SamplingParams& p) {
  app.add_option("--temp,--temperature", p.temperature, "sampling temperature (0 = greedy)");
  app.add_option("--top-k", p.top_k, "top-k (0 = off)");
  app.add_option("--top-p", p.top_p, "top-p / nucleus (1 = off)");
  app.add_option("--min-p", p.min_p, "min-p (0 = off)");
  app.add_option("--repeat-penalty", p.repetition_penalty, "repetition penalty (1 = off)");
  app.add_option("--repeat-last-n", p.repetition_window,
                 "tokens the penalties look back (-1 = all)");
  app.add_option("--presence-penalty", p.presence_penalty, "presence penalty (-2..2)");
  app.add_option("--frequency-penalty", p.frequency_penalty, "frequency penalty (-2..2)");
  app.add_option_function<uint64_t>(
      "-s,--seed", [&p](const uint64_t& s) { p.seed = s; }, "random seed (same seed, same text)");
  app.add_option("-n,--max-tokens", p.max_tokens,
                 "tokens to generate (-1 = until the context is full)");
  app.add_option("--stop", p.stop, "stop string (repeatable)");
  app.add_option("--stop-token", p.stop_token_ids, "stop token id (repeatable)");
  app.add_flag("--ignore-eos", p.ignore_eos, "keep generating past end-of-generation tokens");
}

void write_report_file(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary);
  f << content;
  if (!f.flush()) throw Error("cannot write '" + path + "'");
  std::fprintf(stderr, "wrote %s\n", path.c_str());
}

}  // namespace packinfer::cli
