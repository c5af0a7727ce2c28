#include "qres/io/crc32.h"

#include <zlib.h>

#include <algorithm>

namespace qres::io {

uint32_t Crc32(const void* data, size_t size, uint32_t crc) {
  uLong value = crc;
  const auto* bytes = static_cast<const Bytef*>(data);
  for (size_t done = 0; done < size;) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(size - done, size_t{1} << 30));
    value = crc32(value, bytes + done, chunk);
    done += chunk;
  }
  return static_cast<uint32_t>(value);
}

}  // namespace qres::io
