// The exact set of registered names: a registration dropped by the linker (a plugin that lost
// alwayslink) or renamed by accident fails here.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qres/data/dataset.h"
#include "qres/models/model.h"
#include "qres/optim/optimizer.h"
#include "qres/sched/scheduler.h"

namespace qres {
namespace {

using ::testing::ElementsAre;

TEST(RegistryCanaryTest, EveryComponentIsRegisteredOnce) {
  EXPECT_THAT(models::ModelRegistry::Names(), ElementsAre("CNN", "LeNet", "ResNet"));
  EXPECT_THAT(data::DatasetRegistry::Names(), ElementsAre("CIFAR10", "CIFAR100", "FashionMNIST", "MNIST"));
  EXPECT_THAT(optim::OptimizerRegistry::Names(),
              ElementsAre("Adam", "AdamW", "ASGD", "NAdam", "QSGD", "QtAdam", "QtAdamW", "RAdam", "SGD", "stdSGD"));
  EXPECT_THAT(sched::SchedulerRegistry::Names(),
              ElementsAre("CAWR", "CCAWR", "constant", "CosineAnnealingLR", "CosineAnnealingWarmRestarts",
                          "CustomCosineAnnealingWarmRestarts", "cyclicLR", "exp", "ExponentialLR", "LambdaLR",
                          "MultiStepLR", "OneCycleLR", "StepLR"));
  EXPECT_TRUE(models::ModelRegistry::Validate().ok());
  EXPECT_TRUE(data::DatasetRegistry::Validate().ok());
  EXPECT_TRUE(optim::OptimizerRegistry::Validate().ok());
  EXPECT_TRUE(sched::SchedulerRegistry::Validate().ok());
}

}  // namespace
}  // namespace qres
