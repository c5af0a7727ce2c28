// The NCCL backend of a build without CUDA: there is none.
#include "c10/util/Exception.h"
#include "qres/dist/nccl_backend.h"

namespace qres::dist {

bool NcclAvailable() { return false; }

c10::intrusive_ptr<c10d::Backend> MakeNcclBackend(const c10::intrusive_ptr<c10d::Store>&, int, int, int,
                                                  std::chrono::milliseconds) {
  TORCH_CHECK(false, "this build has no NCCL; build with --config=cuda, or use --dist_backend=gloo");
}

}  // namespace qres::dist
