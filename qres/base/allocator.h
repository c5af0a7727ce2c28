// Process-wide memory allocator settings for training binaries.
#ifndef QRES_BASE_ALLOCATOR_H_
#define QRES_BASE_ALLOCATOR_H_

namespace qres {

// Keeps glibc from handing freed tensor memory back to the kernel after every step. A training
// step frees and re-allocates the same activation buffers each time; with glibc's defaults the
// large ones are mmapped and unmapped every step, and the page faults that follow cost a LeNet
// step on this project's 2-core machine about a third of its time (measured with perf: clear_page,
// page faults). The price is that freed memory stays with the process. Call it first in main().
void KeepFreedMemoryForReuse();

}  // namespace qres

#endif  // QRES_BASE_ALLOCATOR_H_
