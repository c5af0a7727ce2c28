#include "qres/optim/optimizer_base.h"

namespace qres::optim {

void OptimizerBase::save(torch::serialize::OutputArchive& archive) const {
  SaveParamStates(archive);
  runner_.Save(archive);
}

void OptimizerBase::load(torch::serialize::InputArchive& archive) {
  LoadParamStates(archive);
  runner_.Load(archive);
}

}  // namespace qres::optim
