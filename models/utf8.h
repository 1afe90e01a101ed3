#pragma once
// UTF-8 helpers for the tokenizers: strict decoding (RFC 3629: no overlong forms, no surrogates,
// nothing above U+10FFFF), replacement of invalid bytes with U+FFFD, completeness checks for
// streaming, and the GPT-2 byte <-> character table used by byte-level BPE vocabularies.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kt::models::utf8 {

inline constexpr uint32_t kReplacementChar = 0xFFFD;
inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Decodes the code point starting at s[pos]. Returns the number of bytes it takes (1-4) and
// stores it in *cp, or returns 0 when the bytes at pos are not a complete well-formed sequence.
size_t decode(std::string_view s, size_t pos, uint32_t* cp);

// Length of the invalid stretch at s[pos] that one U+FFFD replaces: the "maximal subpart"
// rule of Unicode 15 section 3.9 (as Python, ICU and WHATWG do), so a truncated sequence costs
// one replacement and an unexpected continuation byte costs one each. Call only where decode()
// returned 0.
size_t invalid_length(std::string_view s, size_t pos);

// Byte offset of the first byte that is not part of a well-formed sequence, or npos.
size_t find_invalid(std::string_view s);
inline bool is_valid(std::string_view s) {
  return find_invalid(s) == std::string_view::npos;
}

// Copy of s with every invalid stretch (see invalid_length) replaced by U+FFFD.
std::string sanitize(std::string_view s);

// Appends the UTF-8 form of cp (which must be <= 0x10FFFF).
void append(std::string& out, uint32_t cp);

// Length of the longest prefix of s that does not end in the middle of a sequence that could
// still become valid with more bytes. Invalid bytes count as complete (they will never become
// valid), so a caller that holds back s.substr(result) only ever holds 1-3 bytes.
size_t complete_prefix_length(std::string_view s);

// The GPT-2 byte-level alphabet: every byte maps to one printable code point (the printable
// Latin-1 bytes map to themselves, the others to U+0100 upwards in byte order).
uint32_t byte_to_codepoint(uint8_t b);
// The inverse: the byte a code point stands for, or -1 when it is not in the alphabet.
int codepoint_to_byte(uint32_t cp);
// Decodes a byte-level string ("Ġhello") to raw bytes (" hello"). Returns false, leaving *out
// unspecified, when a character is not in the byte-level alphabet.
bool byte_level_decode(std::string_view s, std::string* out);
// Encodes raw bytes to their byte-level form.
std::string byte_level_encode(std::string_view raw);

}  // namespace kt::models::utf8
