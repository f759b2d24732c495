#pragma once
// Instruction-set levels of the kernels. Each level is a superset of the one before it, so a
// machine runs every level up to the one it has; kernels of one level live in the folder of that
// name (src/kernels/<level>/), compiled with that level's flags and called only through its
// kernel table (kernel_table.h) once the level is known to be usable.
#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace packinfer {

enum class Isa {
  Scalar,      // the portable reference
  Avx2,        // AVX2 + FMA + F16C
  Avx512,      // AVX-512 F/BW/VL/DQ
  Avx512Vnni,  // avx512 + AVX-512 VNNI + AVX-512 BF16
  Amx,         // avx512_vnni + AMX-TILE/INT8/BF16
};

inline constexpr int kIsaCount = 5;
inline constexpr std::array<Isa, kIsaCount> kAllIsas = {Isa::Scalar, Isa::Avx2, Isa::Avx512,
                                                        Isa::Avx512Vnni, Isa::Amx};

inline constexpr int isa_index(Isa isa) { return static_cast<int>(isa); }

// "scalar", "avx2", "avx512", "avx512_vnni", "amx": the names PACKINFER_ISA takes.
std::string_view isa_name(Isa isa);
std::optional<Isa> parse_isa(std::string_view name);
// The valid names, comma separated, for messages.
std::string isa_name_list();

}  // namespace packinfer
