#pragma once
// Run-time CPU feature detection (CPUID + XGETBV) and the choice of kernel tier. Code compiled
// for AVX2 or AVX-512 (files *_avx2.cpp, *_avx512.cpp) may only run after isa_supported()
// said yes; a feature counts only when the OS also saves its register state (XCR0).
#include <string_view>

namespace kt::cpu {

struct CpuFeatures {
  bool avx = false, avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512_vnni = false, avx512_bf16 = false, avx512_fp16 = false;
  bool avx_vnni = false;
  bool amx_tile = false, amx_int8 = false, amx_bf16 = false;  // CPUID + XCR0; Linux also
                                                              // needs request_amx_permission()
};

// Detected once, then cached.
const CpuFeatures& cpu_features();

// Kernel tiers, lowest first. Avx2 needs avx2+fma+f16c; Avx512 needs f+bw+vl+dq+vnni.
enum class Isa { Reference = 0, Avx2 = 1, Avx512 = 2 };

// Whether the hardware (and OS) can run the tier; ignores KT_CPU_ISA.
bool isa_supported(Isa isa);
// The best supported tier, lowered by the environment variable KT_CPU_ISA=reference|avx2|avx512
// when set (a value naming an unsupported or unknown tier is ignored with a warning on stderr).
Isa best_isa();
const char* isa_name(Isa isa);  // "reference", "avx2", "avx512"
// Parses a tier name (case-insensitive); false when unknown.
bool parse_isa(std::string_view name, Isa* out);

// Asks Linux for permission to use the AMX tile data state (arch_prctl
// ARCH_REQ_XCOMP_PERM); true when granted or already granted. False where AMX is absent.
bool request_amx_permission();

}  // namespace kt::cpu
