#include "qres/io/pickle.h"

#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace qres::io {

std::string PickleFloatList(const std::vector<double>& values) {
  std::string out = "\x80\x02]";  // PROTO 2, EMPTY_LIST
  if (!values.empty()) {
    out += '(';  // MARK
    for (double value : values) {
      out += 'G';  // BINFLOAT: big-endian IEEE double
      uint64_t bits;
      std::memcpy(&bits, &value, sizeof(bits));
      for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>(bits >> shift);
    }
    out += 'e';  // APPENDS
  }
  out += '.';  // STOP
  return out;
}

absl::StatusOr<std::vector<double>> UnpickleFloatList(const std::string& bytes, const std::string& source) {
  auto bad = [&](const std::string& why) {
    return absl::DataLossError(absl::StrCat(source, ": not a pickled list of floats (", why, ")"));
  };
  std::vector<double> values;
  size_t i = 0;
  auto need = [&](size_t n) { return i + n <= bytes.size(); };
  if (!need(2) || static_cast<unsigned char>(bytes[0]) != 0x80) return bad("no protocol header");
  i = 2;
  bool list = false;
  while (need(1)) {
    const unsigned char op = bytes[i++];
    switch (op) {
      case 0x95:  // FRAME (protocol 4): 8-byte length
        if (!need(8)) return bad("truncated frame");
        i += 8;
        break;
      case ']':
        list = true;
        break;
      case '(':
        break;
      case 'q':
        if (!need(1)) return bad("truncated");
        i += 1;
        break;  // BINPUT
      case 'r':
        if (!need(4)) return bad("truncated");
        i += 4;
        break;  // LONG_BINPUT
      case 0x94:
        break;  // MEMOIZE
      case 'G': {
        if (!need(8)) return bad("truncated float");
        uint64_t bits = 0;
        for (int k = 0; k < 8; ++k) bits = (bits << 8) | static_cast<unsigned char>(bytes[i + k]);
        double value;
        std::memcpy(&value, &bits, sizeof(value));
        values.push_back(value);
        i += 8;
        break;
      }
      case 'a':
      case 'e':
        break;  // APPEND, APPENDS
      case '.':
        if (!list) return bad("no list");
        return values;
      default:
        return bad(absl::StrCat("unsupported opcode 0x", absl::Hex(op)));
    }
  }
  return bad("truncated: no STOP");
}

}  // namespace qres::io
