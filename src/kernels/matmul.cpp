#include "kernels/matmul.h"

#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "kernels/kernel_table.h"
#include "kernels/matmul_internal.h"
#include "packinfer/error.h"

namespace packinfer {
namespace {

const TypeKernels* kernels_or_throw(const KernelTable& kt, GgmlType t) {
  const TypeKernels* k = kt.type(t);
  if (k == nullptr)
    throw Error("no kernel for tensor type " + ggml_type_name(static_cast<uint32_t>(t)));
  return k;
}

// "f32" or "int8", else nullopt: the names of PACKINFER_MATMUL_ACT and --matmul-act.
std::optional<MatmulActivations> activations_named(std::string_view v) {
  if (v == "f32") return MatmulActivations::F32;
  if (v == "int8") return MatmulActivations::Int8;
  return std::nullopt;
}

MatmulActivations parse_activations(const char* env) {
  const std::string v = env == nullptr ? "" : env;
  if (v.empty()) return MatmulActivations::F32;
  if (const auto a = activations_named(v)) return *a;
  throw Error("PACKINFER_MATMUL_ACT=\"" + v + "\" is not one of: f32, int8");
}

// int8 activations only where this level has both the int8 dots (decode) and the int8 GEMM
// (prefill) for the type: a row's result must not depend on how many rows share the product,
// or a prompt prefilled in chunks, packed with others or alone would get different logits.
bool int8_path(const KernelTable& kt, const TypeKernels* tk, MatmulActivations act) {
  return act == MatmulActivations::Int8 && tk->dot_act != nullptr && kt.gemm_i8 != nullptr &&
         tk->pack_i8 != nullptr;
}

// Whether a product runs on the panel GEMM: weights repacked at load, on a level with the tile.
// It is batch-invariant and the fastest path at every M, so both orders take it (int8
// activations, when asked for, keep their own path).
bool panel_path(const KernelTable& kt, const WeightMatrix& w) {
  if (w.panels == nullptr) return false;
  return (w.type == GgmlType::F16 && kt.gemm_panel_f16 != nullptr) ||
         (w.type == GgmlType::Q8_0 && kt.gemm_panel_q8_0 != nullptr);
}

// Whether a product with f32 activations runs on the dot-product tiles (else the blocked GEMM).
bool row_dots_path(const KernelTable& kt, GgmlType t, int64_t M, MatmulOrder order) {
  return order == MatmulOrder::BatchInvariant || M <= gemm::row_dots_max_m(kt, t);
}

}  // namespace

MatmulActivations default_matmul_activations() {
  static const MatmulActivations a = parse_activations(std::getenv("PACKINFER_MATMUL_ACT"));
  return a;
}

MatmulActivations parse_matmul_activations(std::string_view name) {
  if (name.empty()) return default_matmul_activations();
  if (const auto a = activations_named(name)) return *a;
  throw InvalidArgument("unknown matmul activations '" + std::string(name) + "' (use f32 or int8)");
}

const char* matmul_activations_name(MatmulActivations act) {
  if (act == MatmulActivations::Default) act = default_matmul_activations();
  return act == MatmulActivations::Int8 ? "int8" : "f32";
}

bool runs_on_panels(const KernelTable& kt, const WeightMatrix& w, MatmulActivations act) {
  if (act == MatmulActivations::Default) act = default_matmul_activations();
  const TypeKernels* tk = kt.type(w.type);
  return panel_path(kt, w) && !(tk != nullptr && int8_path(kt, tk, act));
}

void matmul_with(const KernelTable& kt, const WeightMatrix& w, const float* x, int64_t ldx,
                 int64_t M, float* y, int64_t ldy, ThreadPool& pool, MatmulActivations act,
                 MatmulOrder order) {
  const TypeKernels* tk = kernels_or_throw(kt, w.type);
  if (M < 0 || ldx < w.cols || ldy < w.rows) throw Error("matmul: bad shape or leading dimension");
  if (M == 0 || w.rows == 0) return;
  if (w.cols == 0) {
    for (int64_t m = 0; m < M; ++m)
      std::memset(y + m * ldy, 0, static_cast<size_t>(w.rows) * sizeof(float));
    return;
  }
  if (act == MatmulActivations::Default) act = default_matmul_activations();
  const bool int8 = int8_path(kt, tk, act);
  if (panel_path(kt, w) && !int8) {
    const gemm::PanelTarget one{&w, y, ldy};
    gemm::panel_gemm(kt, std::span<const gemm::PanelTarget>(&one, 1), x, ldx, M, pool);
  } else if (int8 && M <= gemm::kGemvInt8MaxM) {
    gemm::gemv_int8(tk, w, x, ldx, M, y, ldy, pool);
  } else if (int8) {
    gemm::gemm_int8(kt.gemm_i8, tk, w, x, ldx, M, y, ldy, pool);
  } else if (row_dots_path(kt, w.type, M, order)) {
    // The batch-invariant order keeps M = 1 on the tiles too, for the same bits as M > 1.
    gemm::row_dots(kt, tk, w, x, ldx, M, y, ldy, pool,
                   /*fused_single_row=*/order != MatmulOrder::BatchInvariant);
  } else {
    gemm::gemm_blocked(kt.gemm, tk, w, x, ldx, M, y, ldy, pool);
  }
}

void matmul_many_with(const KernelTable& kt, std::span<const MatmulTarget> targets, const float* x,
                      int64_t ldx, int64_t M, ThreadPool& pool, MatmulActivations act,
                      MatmulOrder order) {
  if (act == MatmulActivations::Default) act = default_matmul_activations();
  // One pass only where matmul_with would run every product on the panel GEMM, or every product
  // on row_dots: the same tiles in the same order per output, so the same bits. Otherwise one
  // call per product.
  bool panels = M > 0 && targets.size() > 1;
  std::vector<gemm::PanelTarget> pt;
  for (const MatmulTarget& t : targets) {
    if (!panels) break;
    const WeightMatrix& w = *t.w;
    const TypeKernels* tk = kernels_or_throw(kt, w.type);
    panels = panel_path(kt, w) && !int8_path(kt, tk, act) && w.rows > 0 && w.cols > 0 &&
             ldx >= w.cols && t.ldy >= w.rows;
    pt.push_back({&w, t.y, t.ldy});
  }
  if (panels) {
    gemm::panel_gemm(kt, pt, x, ldx, M, pool);
    return;
  }
  bool one_pass = M > 0 && targets.size() > 1;
  std::vector<gemm::RowDotsTarget> rd;
  for (const MatmulTarget& t : targets) {
    if (!one_pass) break;
    const WeightMatrix& w = *t.w;
    const TypeKernels* tk = kernels_or_throw(kt, w.type);
    one_pass = !int8_path(kt, tk, act) && row_dots_path(kt, w.type, M, order) && w.rows > 0 &&
               w.cols > 0 && w.cols == targets[0].w->cols && ldx >= w.cols && t.ldy >= w.rows;
    rd.push_back({tk, &w, t.y, t.ldy});
  }
  if (!one_pass) {
    for (const MatmulTarget& t : targets)
      matmul_with(kt, *t.w, x, ldx, M, t.y, t.ldy, pool, act, order);
    return;
  }
  gemm::row_dots_many(kt, rd, x, ldx, M, pool,
                      /*fused_single_row=*/order != MatmulOrder::BatchInvariant);
}

void matmul_many(std::span<const MatmulTarget> targets, const float* x, int64_t ldx, int64_t M,
                 ThreadPool& pool, MatmulOrder order) {
  matmul_many_with(active_kernels(), targets, x, ldx, M, pool, MatmulActivations::Default, order);
}

void matmul_ex(const WeightMatrix& w, const float* x, int64_t ldx, int64_t M, float* y, int64_t ldy,
               ThreadPool& pool, MatmulOrder order) {
  matmul_with(active_kernels(), w, x, ldx, M, y, ldy, pool, MatmulActivations::Default, order);
}

void matmul(const WeightMatrix& w, const float* x, int64_t M, float* y, ThreadPool& pool,
            MatmulOrder order) {
  matmul_ex(w, x, w.cols, M, y, w.rows, pool, order);
}

void matmul_reference(const WeightMatrix& w, const float* x, int64_t M, float* y) {
  const TypeKernels* k = kernels_or_throw(kernels_for(Isa::Scalar), w.type);
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t n = 0; n < w.rows; ++n) {
    k->dequant(w.row(n), row.data(), w.cols);
    for (int64_t m = 0; m < M; ++m) {
      double sum = 0;
      for (int64_t c = 0; c < w.cols; ++c) sum += static_cast<double>(row[c]) * x[m * w.cols + c];
      y[m * w.rows + n] = static_cast<float>(sum);
    }
  }
}

}  // namespace packinfer
