#pragma once
// Options shared by the packinfer subcommands: which model, threads, context, sampling flags.
#include <CLI/CLI.hpp>
#include <string>

#include "packinfer/engine.h"

namespace packinfer::cli {

struct ModelOptions {
  std::string model;  // empty: $PACKINFER_MODEL, then the default stories260K model
  int32_t threads = 0;
  int64_t ctx_size = 0;
  int64_t batch_size = 512;
  std::string kv_mem;     // KV cache budget: bytes, or with a K/M/G suffix; empty = engine default
  int64_t kv_blocks = 0;  // KV cache budget as a block count; 0 = use kv_mem
  int32_t kv_block_size = 0;  // 0 = automatic; also the prefix-cache granularity
  std::string kv_type = "f16", kv_type_k, kv_type_v;
  bool kv_rotate = false;
  bool batch_invariant = false;
  std::string matmul_act;
  std::string kv_disk;       // disk tier directory; empty = off
  std::string kv_disk_size;  // its budget (bytes or K/M/G); empty = the engine's default
  std::string kv_store;      // shared KV store URL (redis://HOST:PORT[/DB]); empty = off
  int32_t kv_store_timeout_ms = 250;
};

void add_model_options(CLI::App& app, ModelOptions& o);
// The model path to use: -m, else $PACKINFER_MODEL, else ../shared/models/stories260K/... found
// from the working directory or from the executable's location. Throws if none exists.
std::string resolve_model_path(const std::string& given);
EngineOptions engine_options(const ModelOptions& o);

// "1048576", "512M", "2G" -> bytes. Throws packinfer::InvalidArgument for anything else.
int64_t parse_bytes(const std::string& text);

void add_sampling_options(CLI::App& app, SamplingParams& p);

// Writes a report (e.g. an SVG) and says so on stderr. Throws packinfer::Error.
void write_report_file(const std::string& path, const std::string& content);

}  // namespace packinfer::cli
