#include "qres/base/allocator.h"

#include <malloc.h>

namespace qres {

void KeepFreedMemoryForReuse() {
  // Serve blocks up to glibc's largest mmap threshold (32 MiB on 64-bit) from the heap, and never
  // trim the heap's top below 1 GiB of free space.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace qres
