// Settings written as text read back as they were, values with '=' and ',' included.
#include "qres/io/settings_text.h"

#include "gtest/gtest.h"

namespace qres::io {
namespace {

TEST(SettingsTextTest, ReadsBackWhatItWrote) {
  const SettingsMap settings = {{"quant_params", "schedule=log,eta=64"}, {"net", "CNN"}, {"net_params", ""}};
  const std::string text = SettingsText(settings);
  EXPECT_EQ(text, "net=CNN\nnet_params=\nquant_params=schedule=log,eta=64\n");
  EXPECT_EQ(ParseSettingsText(text), settings);
}

}  // namespace
}  // namespace qres::io
