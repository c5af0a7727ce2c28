#include "qres/sweep/grid.h"

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qres::sweep {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(GridTest, ExpandsEveryCombinationLastAxisFastest) {
  auto axes = ParseGrid("algo=QtAdamW|AdamW; lr = 0.001 | 0.01\n# a comment\nnet_params=layers=3", "--grid");
  ASSERT_TRUE(axes.ok()) << axes.status();
  const std::vector<GridRun> runs = ExpandGrid(*axes);
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(runs[0].name, "algo=QtAdamW,lr=0.001,net_params=layers=3");
  EXPECT_THAT(runs[0].flags, ElementsAre("--algo=QtAdamW", "--lr=0.001", "--net_params=layers=3"));
  EXPECT_EQ(runs[1].name, "algo=QtAdamW,lr=0.01,net_params=layers=3");
  EXPECT_EQ(runs[3].name, "algo=AdamW,lr=0.01,net_params=layers=3");
}

TEST(GridTest, ValuesWithSlashesMakeOneFolderName) {
  auto axes = ParseGrid("data_dir=/data/a|/data/b", "--grid");
  ASSERT_TRUE(axes.ok());
  EXPECT_EQ(ExpandGrid(*axes)[0].name, "data_dir=_data_a");
  EXPECT_THAT(ExpandGrid(*axes)[0].flags, ElementsAre("--data_dir=/data/a"));
}

TEST(GridTest, BadGridsAreOneLineErrors) {
  EXPECT_THAT(ParseGrid("", "--grid").status().message(), HasSubstr("--grid: the grid is empty"));
  EXPECT_THAT(ParseGrid(" ; \n# only a comment", "--grid").status().message(), HasSubstr("the grid is empty"));
  EXPECT_THAT(ParseGrid("algo", "--grid").status().message(), HasSubstr("'algo' is not an axis"));
  EXPECT_THAT(ParseGrid("lr=0.1||0.2", "--grid").status().message(), HasSubstr("axis lr has an empty value"));
  EXPECT_THAT(ParseGrid("lr=0.1;lr=0.2", "--grid").status().message(), HasSubstr("axis lr is given twice"));
  EXPECT_THAT(ParseGrid("=0.1", "--grid").status().message(), HasSubstr("has no key"));
}

TEST(GridTest, ValuesThatWouldBeOneRunAreAnError) {
  EXPECT_THAT(std::string(ParseGrid("seed=1|1", "--grid").status().message()),
              HasSubstr("--grid: axis seed: values '1' and '1' are the same run (one folder, seed=1)"));
  EXPECT_THAT(std::string(ParseGrid("data_dir=a/b|a_b", "--grid").status().message()),
              HasSubstr("axis data_dir: values 'a/b' and 'a_b' are the same run (one folder, data_dir=a_b)"));
  EXPECT_THAT(std::string(ParseGrid("algo=QtAdamW|qtadamw", "--grid").status().message()),
              HasSubstr("axis algo: values 'QtAdamW' and 'qtadamw' are the same run"));
  EXPECT_THAT(std::string(ParseGrid("precision=bf16|BF16", "--grid").status().message()),
              HasSubstr("axis precision: values 'bf16' and 'BF16' are the same run"));
  // Case matters where the value is not a registered name (two folders, two data sets).
  EXPECT_TRUE(ParseGrid("data_dir=/data/A|/data/a", "--grid").ok());
}

// Runs are told apart by what their values mean to train, not by their spelling.
TEST(GridTest, ValuesThatMeanTheSameAreOneRun) {
  EXPECT_THAT(std::string(ParseGrid("lr=0.001|1e-3", "--grid").status().message()),
              HasSubstr("axis lr: values '0.001' and '1e-3' are the same run (both mean lr=0.001"));
  EXPECT_THAT(std::string(ParseGrid("seed=1|01", "--grid").status().message()),
              HasSubstr("values '1' and '01' are the same run (both mean seed=1)"));
  const std::string cwd = std::filesystem::current_path().string();
  EXPECT_THAT(std::string(ParseGrid("data_dir=D|D/", "--grid").status().message()),
              HasSubstr("values 'D' and 'D/' are the same run (both mean data_dir=" + cwd + "/D)"));
  EXPECT_THAT(std::string(ParseGrid("data_dir=D|" + cwd + "/./D", "--grid").status().message()),
              HasSubstr("are the same run (both mean data_dir=" + cwd + "/D)"));
  EXPECT_TRUE(ParseGrid("lr=0.001|0.0011;seed=1|10", "--grid").ok());
}

}  // namespace
}  // namespace qres::sweep
