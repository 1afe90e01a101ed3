#include "models/utf8.h"

#include <array>

namespace kt::models::utf8 {
namespace {

// Second-byte bounds per lead byte exclude overlong forms (E0, F0), surrogates (ED) and code
// points above U+10FFFF (F4); this is Table 3-7 of the Unicode standard.
struct LeadInfo {
  uint8_t len;  // 0: not a valid lead byte
  uint8_t lo;   // allowed range of the second byte
  uint8_t hi;
};

constexpr LeadInfo lead_info(uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b < 0xC2) return {0, 0, 0};
  if (b < 0xE0) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b < 0xF0) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b < 0xF4) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// Number of bytes at s[pos] that form a valid (possibly incomplete) prefix of a sequence.
size_t valid_prefix(std::string_view s, size_t pos, LeadInfo li) {
  size_t n = 1;
  if (pos + 1 >= s.size()) return n;
  uint8_t b1 = uint8_t(s[pos + 1]);
  if (b1 < li.lo || b1 > li.hi) return n;
  ++n;
  for (size_t k = 2; k < li.len && pos + k < s.size(); ++k) {
    uint8_t b = uint8_t(s[pos + k]);
    if (b < 0x80 || b > 0xBF) break;
    ++n;
  }
  return n;
}

struct ByteTables {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 324> to_byte{};  // code points 0..323 cover the whole alphabet
  ByteTables() {
    to_byte.fill(-1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      uint32_t cp = printable ? uint32_t(b) : uint32_t(next++);
      to_cp[b] = cp;
      to_byte[cp] = int16_t(b);
    }
  }
};

const ByteTables& byte_tables() {
  static const ByteTables t;
  return t;
}

}  // namespace

size_t decode(std::string_view s, size_t pos, uint32_t* cp) {
  uint8_t b0 = uint8_t(s[pos]);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  LeadInfo li = lead_info(b0);
  if (li.len == 0 || pos + li.len > s.size()) return 0;
  uint8_t b1 = uint8_t(s[pos + 1]);
  if (b1 < li.lo || b1 > li.hi) return 0;
  uint32_t c = b0 & (0xFF >> (li.len + 1));
  c = (c << 6) | (b1 & 0x3F);
  for (size_t k = 2; k < li.len; ++k) {
    uint8_t b = uint8_t(s[pos + k]);
    if (b < 0x80 || b > 0xBF) return 0;
    c = (c << 6) | (b & 0x3F);
  }
  *cp = c;
  return li.len;
}

size_t invalid_length(std::string_view s, size_t pos) {
  LeadInfo li = lead_info(uint8_t(s[pos]));
  if (li.len == 0) return 1;
  return valid_prefix(s, pos, li);
}

size_t find_invalid(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    // ASCII runs are the common case; skip them eight bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      __builtin_memcpy(&w, s.data() + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    if (uint8_t(s[i]) < 0x80) {
      ++i;
      continue;
    }
    uint32_t cp;
    size_t len = decode(s, i, &cp);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

std::string sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  while (i < s.size()) {
    uint32_t cp;
    size_t len = decode(s, i, &cp);
    if (len) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out.append(kReplacement);
      i += invalid_length(s, i);
    }
  }
  return out;
}

void append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out.push_back(char(0xC0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(char(0xE0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}

size_t complete_prefix_length(std::string_view s) {
  // Only the last three bytes can start an unfinished sequence.
  size_t start = s.size() >= 3 ? s.size() - 3 : 0;
  for (size_t i = start; i < s.size(); ++i) {
    uint8_t b = uint8_t(s[i]);
    if (b < 0x80 || b > 0xBF) {  // a lead byte (or ASCII): does it begin an unfinished sequence?
      LeadInfo li = lead_info(b);
      if (li.len > 1 && i + li.len > s.size() && valid_prefix(s, i, li) == s.size() - i) {
        return i;
      }
    }
  }
  return s.size();
}

uint32_t byte_to_codepoint(uint8_t b) {
  return byte_tables().to_cp[b];
}

int codepoint_to_byte(uint32_t cp) {
  const auto& t = byte_tables();
  return cp < t.to_byte.size() ? t.to_byte[cp] : -1;
}

bool byte_level_decode(std::string_view s, std::string* out) {
  out->clear();
  size_t i = 0;
  while (i < s.size()) {
    uint32_t cp;
    size_t len = decode(s, i, &cp);
    if (len == 0) return false;
    int b = codepoint_to_byte(cp);
    if (b < 0) return false;
    out->push_back(char(b));
    i += len;
  }
  return true;
}

std::string byte_level_encode(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() * 2);
  for (char c : raw) append(out, byte_to_codepoint(uint8_t(c)));
  return out;
}

}  // namespace kt::models::utf8
