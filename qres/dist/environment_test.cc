#include "qres/dist/environment.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qres::dist {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<std::optional<Environment>> From(const std::map<std::string, std::string>& vars) {
  return EnvironmentFromVariables([&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

const std::map<std::string, std::string> kTorchrun = {{"RANK", "3"},
                                                      {"WORLD_SIZE", "4"},
                                                      {"LOCAL_RANK", "1"},
                                                      {"LOCAL_WORLD_SIZE", "2"},
                                                      {"MASTER_ADDR", "10.0.0.1"},
                                                      {"MASTER_PORT", "29500"},
                                                      {"TORCHELASTIC_USE_AGENT_STORE", "True"}};

TEST(EnvironmentTest, WithoutRankItIsNotADistributedRun) {
  auto env = From({{"MASTER_ADDR", "x"}});
  ASSERT_TRUE(env.ok());
  EXPECT_FALSE(env->has_value());
}

TEST(EnvironmentTest, ReadsTorchrunsVariables) {
  auto env = From(kTorchrun);
  ASSERT_TRUE(env.ok()) << env.status();
  ASSERT_TRUE(env->has_value());
  const Environment& e = **env;
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_world_size, 2);
  EXPECT_EQ(e.master_addr, "10.0.0.1");
  EXPECT_EQ(e.master_port, 29500);
  EXPECT_TRUE(e.agent_store);
}

TEST(EnvironmentTest, InconsistentValuesAreOneLineErrors) {
  auto error = [](std::map<std::string, std::string> vars) {
    auto env = From(vars);
    EXPECT_FALSE(env.ok());
    return std::string(env.status().message());
  };
  auto with = [](const std::string& key, const std::string& value) {
    auto vars = kTorchrun;
    if (value.empty()) {
      vars.erase(key);
    } else {
      vars[key] = value;
    }
    return vars;
  };
  EXPECT_THAT(error(with("RANK", "4")), HasSubstr("RANK=4 must be a whole number in [0, 3]"));
  EXPECT_THAT(error(with("WORLD_SIZE", "two")), HasSubstr("WORLD_SIZE=two must be a whole number"));
  EXPECT_THAT(error(with("WORLD_SIZE", "")), HasSubstr("WORLD_SIZE is not set"));
  EXPECT_THAT(error(with("LOCAL_RANK", "2")), HasSubstr("LOCAL_RANK=2 must be a whole number in [0, 1]"));
  EXPECT_THAT(error(with("MASTER_PORT", "70000")), HasSubstr("MASTER_PORT=70000 must be a whole number in [1, 65535]"));
  EXPECT_THAT(error(with("MASTER_ADDR", "")), HasSubstr("MASTER_ADDR is not set"));
}

}  // namespace
}  // namespace qres::dist
