// What one forward step costs by its shape, on a real model file: D decode rows (each a sequence
// with a short context), a prompt chunk of C tokens at position P, and both together in one step
// (what chunked prefill runs while streams decode). Each figure is the fastest of --reps runs, so
// the VM's periodic stalls drop out. Prints per prompt token: the chunk alone, and its marginal
// cost beside the decodes (mixed minus decode-only); and the decode rows' marginal cost in the
// mixed step (mixed minus chunk-only).
//
//   build/bench_step MODEL.gguf [--threads 2] [--decodes 8] [--chunks 16,32,512]
//                    [--positions 200,1500,3000] [--reps 15] [--kv-type f16|f32]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "batch/token_batch.h"
#include "kernels/system_info.h"
#include "kv/kv_cache.h"
#include "model/model.h"
#include "model/transformer.h"
#include "util/thread_pool.h"

namespace {

using namespace packinfer;

struct Args {
  std::string model;
  int threads = 2;
  int decodes = 8;
  std::vector<int> chunks = {16, 32, 512};
  std::vector<int> positions = {200, 1500, 3000};
  int reps = 15;
  KvType kv = KvType::F16;
};

std::vector<int> int_list(const std::string& s) {
  std::vector<int> out;
  size_t i = 0;
  while (i < s.size()) {
    const size_t j = std::min(s.find(',', i), s.size());
    out.push_back(std::stoi(s.substr(i, j - i)));
    i = j + 1;
  }
  return out;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(k + " needs a value");
      return argv[++i];
    };
    if (k == "--threads") {
      a.threads = std::stoi(next());
    } else if (k == "--decodes") {
      a.decodes = std::stoi(next());
    } else if (k == "--chunks") {
      a.chunks = int_list(next());
    } else if (k == "--positions") {
      a.positions = int_list(next());
    } else if (k == "--reps") {
      a.reps = std::stoi(next());
    } else if (k == "--kv-type") {
      const std::string v = next();
      if (v != "f16" && v != "f32") throw std::runtime_error("--kv-type: f16 or f32, not " + v);
      a.kv = v == "f16" ? KvType::F16 : KvType::F32;
    } else if (!k.empty() && k[0] == '-') {
      throw std::runtime_error("unknown option " + k);
    } else {
      a.model = k;
    }
  }
  if (a.model.empty()) throw std::runtime_error("usage: bench_step MODEL.gguf [options]");
  if (a.threads < 1 || a.decodes < 0 || a.reps < 1) throw std::runtime_error("bad option value");
  for (int c : a.chunks)
    if (c < 1) throw std::runtime_error("--chunks: every chunk needs at least one token");
  for (int p : a.positions)
    if (p < 0) throw std::runtime_error("--positions: positions are >= 0");
  return a;
}

// The decodes' contexts: this many positions each, as the scenario's streams have mid-way.
constexpr int kDecodeContext = 100;
constexpr int kBlockSize = 16;

class Stepper {
 public:
  Stepper(const Model& m, const Args& a, int max_pos)
      : pool_(a.threads),
        tf_(m.config(), m.weights(), pool_),
        kv_(KvShape{static_cast<int32_t>(m.config().n_layer),
                    static_cast<int32_t>(m.config().n_head_kv),
                    static_cast<int32_t>(m.config().head_dim)},
            static_cast<int32_t>((max_pos + kBlockSize) / kBlockSize +
                                 a.decodes * (kDecodeContext / kBlockSize + 1)),
            kBlockSize, KvFormat{a.kv, a.kv}) {
    int32_t next = 0;
    tables_.resize(static_cast<size_t>(a.decodes) + 1);
    for (int i = 0; i <= max_pos / kBlockSize; ++i) tables_[0].push_back(next++);
    for (int s = 1; s <= a.decodes; ++s) {
      for (int i = 0; i <= kDecodeContext / kBlockSize; ++i) tables_[s].push_back(next++);
    }
  }

  // Seconds of one forward of `decodes` decode rows plus a chunk of `chunk` tokens at `pos`.
  double run(int decodes, int chunk, int pos) {
    TokenBatch b;
    const std::vector<int32_t> one{7}, row0{0};
    const std::vector<int32_t> tokens(static_cast<size_t>(chunk), 5);
    const std::vector<int32_t> last{chunk - 1};
    for (int s = 1; s <= decodes; ++s) b.add(one, kDecodeContext, tables_[s], row0);
    if (chunk > 0) b.add(tokens, pos, tables_[0], last);
    const auto t0 = std::chrono::steady_clock::now();
    tf_.forward(b, kv_, logits_);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

 private:
  ThreadPool pool_;
  Transformer tf_;
  KvCache kv_;
  std::vector<std::vector<int32_t>> tables_;
  std::vector<float> logits_;
};

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    const auto model = Model::load(a.model);
    int max_pos = 0;
    for (int p : a.positions)
      for (int c : a.chunks) max_pos = std::max(max_pos, p + c);
    Stepper st(*model, a, max_pos);
    std::printf("bench_step: %s, %d threads, KV %s, %d decode rows at context %d, fastest of %d\n",
                a.model.c_str(), a.threads, a.kv == KvType::F16 ? "f16" : "f32", a.decodes,
                kDecodeContext, a.reps);
    std::printf("machine: %s\n\n", system_summary().c_str());
    std::printf(
        "| chunk | position | decodes only | chunk only | mixed | chunk ms/token alone |"
        " chunk ms/token beside decodes | decodes' ms in the mixed step |\n");
    std::printf("|---|---|---|---|---|---|---|---|\n");
    for (int p : a.positions) {
      for (int c : a.chunks) {
        double dec = 1e30, chunk = 1e30, mixed = 1e30;
        st.run(a.decodes, c, p);  // warm-up
        for (int r = 0; r < a.reps; ++r) {
          dec = a.decodes > 0 ? std::min(dec, st.run(a.decodes, 0, 0)) : 0.0;
          chunk = std::min(chunk, st.run(0, c, p));
          mixed = std::min(mixed, st.run(a.decodes, c, p));
        }
        std::printf("| %d | %d | %.2f ms | %.2f ms | %.2f ms | %.3f | %.3f | %.2f |\n", c, p,
                    dec * 1e3, chunk * 1e3, mixed * 1e3, chunk * 1e3 / c, (mixed - dec) * 1e3 / c,
                    (mixed - chunk) * 1e3);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_step: %s\n", e.what());
    return 1;
  }
  return 0;
}
