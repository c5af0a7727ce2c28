// zlib's CRC-32 over buffers of any length (zlib takes under 4 GiB a call): the checksums of
// torch archives' records and of the data a run loads.
#ifndef QRES_IO_CRC32_H_
#define QRES_IO_CRC32_H_

#include <cstddef>
#include <cstdint>

namespace qres::io {

// The CRC-32 of `size` bytes at `data`, continuing from `crc` (0 for a first buffer).
uint32_t Crc32(const void* data, size_t size, uint32_t crc = 0);

}  // namespace qres::io

#endif  // QRES_IO_CRC32_H_
