#include "backends/cpu/cpu_features.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define KT_X86 1
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace kt::cpu {
namespace {

#if KT_X86
struct Regs {
  uint32_t a = 0, b = 0, c = 0, d = 0;
};

Regs cpuid(uint32_t leaf, uint32_t sub) {
  Regs r;
  if (!__get_cpuid_count(leaf, sub, &r.a, &r.b, &r.c, &r.d)) r = Regs{};
  return r;
}

uint64_t xgetbv0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

bool bit(uint32_t v, int b) {
  return (v >> b) & 1u;
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#if KT_X86
  const uint32_t max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf < 1) return f;
  const Regs l1 = cpuid(1, 0);
  const bool osxsave = bit(l1.c, 27);
  if (!osxsave) return f;  // no XGETBV: the OS saves no AVX state
  const uint64_t xcr0 = xgetbv0();
  const bool os_avx = (xcr0 & 0x6) == 0x6;                    // XMM + YMM state
  const bool os_avx512 = os_avx && (xcr0 & 0xE0) == 0xE0;     // opmask, ZMM_Hi256, Hi16_ZMM
  const bool os_amx = (xcr0 & (3ull << 17)) == (3ull << 17);  // XTILECFG + XTILEDATA
  if (!os_avx) return f;
  f.avx = bit(l1.c, 28);
  f.fma = f.avx && bit(l1.c, 12);
  f.f16c = f.avx && bit(l1.c, 29);
  if (max_leaf >= 7) {
    const Regs l7 = cpuid(7, 0);
    const Regs l7s1 = l7.a >= 1 ? cpuid(7, 1) : Regs{};
    f.avx2 = f.avx && bit(l7.b, 5);
    f.avx_vnni = f.avx2 && bit(l7s1.a, 4);
    if (os_avx512) {
      f.avx512f = bit(l7.b, 16);
      f.avx512dq = f.avx512f && bit(l7.b, 17);
      f.avx512bw = f.avx512f && bit(l7.b, 30);
      f.avx512vl = f.avx512f && bit(l7.b, 31);
      f.avx512_vnni = f.avx512f && bit(l7.c, 11);
      f.avx512_fp16 = f.avx512f && bit(l7.d, 23);
      f.avx512_bf16 = f.avx512f && bit(l7s1.a, 5);
    }
    if (os_amx) {
      f.amx_tile = bit(l7.d, 24);
      f.amx_int8 = f.amx_tile && bit(l7.d, 25);
      f.amx_bf16 = f.amx_tile && bit(l7.d, 22);
    }
  }
#endif
  return f;
}

bool hw_supports(const CpuFeatures& f, Isa isa) {
  switch (isa) {
    case Isa::Reference:
      return true;
    case Isa::Avx2:
      return f.avx2 && f.fma && f.f16c;
    case Isa::Avx512:
      return f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq &&
             f.avx512_vnni;
  }
  return false;
}

Isa choose_isa() {
  Isa best = Isa::Reference;
  if (isa_supported(Isa::Avx2)) best = Isa::Avx2;
  if (isa_supported(Isa::Avx512)) best = Isa::Avx512;
  const char* env = std::getenv("KT_CPU_ISA");
  if (env == nullptr || *env == '\0') return best;
  Isa want;
  if (!parse_isa(env, &want)) {
    std::fprintf(stderr,
                 "kt: warning: KT_CPU_ISA=%s is not one of reference, avx2, avx512; using %s\n",
                 env, isa_name(best));
    return best;
  }
  if (!isa_supported(want)) {
    std::fprintf(stderr, "kt: warning: KT_CPU_ISA=%s is not supported by this CPU; using %s\n", env,
                 isa_name(best));
    return best;
  }
  return want;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

bool isa_supported(Isa isa) {
  return hw_supports(cpu_features(), isa);
}

Isa best_isa() {
  static const Isa isa = choose_isa();
  return isa;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Reference:
      return "reference";
    case Isa::Avx2:
      return "avx2";
    case Isa::Avx512:
      return "avx512";
  }
  return "?";
}

bool parse_isa(std::string_view name, Isa* out) {
  std::string s(name);
  for (char& c : s) c = char((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  if (s == "reference" || s == "ref" || s == "scalar") {
    *out = Isa::Reference;
  } else if (s == "avx2") {
    *out = Isa::Avx2;
  } else if (s == "avx512") {
    *out = Isa::Avx512;
  } else {
    return false;
  }
  return true;
}

bool request_amx_permission() {
  if (!cpu_features().amx_tile) return false;
#if defined(__linux__) && KT_X86
  constexpr long kArchGetXcompPerm = 0x1022, kArchReqXcompPerm = 0x1023;
  constexpr int kXfeatureXtiledata = 18;
  unsigned long bitmask = 0;
  if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &bitmask) == 0 &&
      (bitmask & (1ul << kXfeatureXtiledata)))
    return true;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

}  // namespace kt::cpu
