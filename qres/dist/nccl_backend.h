// c10d's NCCL backend. nccl_backend.cc makes it in a --config=cuda build; nccl_missing.cc, in every
// other build, says how to get one.
#ifndef QRES_DIST_NCCL_BACKEND_H_
#define QRES_DIST_NCCL_BACKEND_H_

#include <chrono>

#include "c10/util/intrusive_ptr.h"

namespace c10d {
class Backend;
class Store;
}  // namespace c10d

namespace qres::dist {

// Whether this build has NCCL (a --config=cuda build).
bool NcclAvailable();

// A ProcessGroupNCCL of `size` ranks over `store` on GPU `device_index` (made current); collectives
// time out after `timeout`. Throws c10::Error on failure (no GPU of that index, no NCCL build).
c10::intrusive_ptr<c10d::Backend> MakeNcclBackend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                  int device_index, std::chrono::milliseconds timeout);

}  // namespace qres::dist

#endif  // QRES_DIST_NCCL_BACKEND_H_
