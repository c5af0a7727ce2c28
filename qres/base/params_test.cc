#include "qres/base/params.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qres {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Params MustParse(absl::string_view text) {
  absl::StatusOr<Params> params = Params::Parse(text, "--optim_params");
  EXPECT_TRUE(params.ok()) << params.status();
  return params.ok() ? *params : Params();
}

TEST(ParamsTest, ReadsTypedValuesAndDefaults) {
  Params params = MustParse(" lr=1e-3, steps=7 ,nesterov=true,mode=Floor,betas=0.8:0.99");
  EXPECT_DOUBLE_EQ(*params.GetDouble("lr", 0.0), 1e-3);
  EXPECT_EQ(*params.GetInt("steps", 0), 7);
  EXPECT_TRUE(*params.GetBool("nesterov", false));
  EXPECT_EQ(*params.GetChoice("mode", "half_up", {"half_up", "floor"}), "floor");
  EXPECT_THAT(*params.GetDoubleList("betas", {0.9, 0.999}), ElementsAre(0.8, 0.99));
  EXPECT_DOUBLE_EQ(*params.GetDouble("eps", 1e-8), 1e-8);
  EXPECT_TRUE(params.CheckAllUsed().ok());
}

TEST(ParamsTest, EmptyTextHasNoKeys) {
  Params params = MustParse("");
  EXPECT_TRUE(params.values().empty());
  EXPECT_TRUE(params.CheckAllUsed().ok());
}

TEST(ParamsTest, UnknownKeyIsNamedWithTheValidKeys) {
  Params params = MustParse("lr=0.1,momentun=0.9");
  ASSERT_TRUE(params.GetDouble("lr", 0).ok());
  ASSERT_TRUE(params.GetDouble("momentum", 0).ok());
  absl::Status status = params.CheckAllUsed();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("--optim_params: unknown key 'momentun'"));
  EXPECT_THAT(status.message(), HasSubstr("valid keys: lr, momentum"));
}

TEST(ParamsTest, MalformedValuesNameTheKeyAndValue) {
  Params params = MustParse("lr=fast,steps=1.5,flag=maybe,mode=round,betas=0.9,list=1:x");
  EXPECT_THAT(params.GetDouble("lr", 0).status().message(), HasSubstr("key 'lr' has value 'fast', expected a number"));
  EXPECT_THAT(params.GetInt("steps", 0).status().message(),
              HasSubstr("key 'steps' has value '1.5', expected an integer"));
  EXPECT_THAT(params.GetBool("flag", false).status().message(), HasSubstr("key 'flag' has value 'maybe'"));
  EXPECT_THAT(params.GetChoice("mode", "floor", {"floor", "half_up"}).status().message(),
              HasSubstr("key 'mode' has value 'round', expected one of floor, half_up"));
  EXPECT_THAT(params.GetDoubleList("betas", {0.9, 0.999}).status().message(),
              HasSubstr("key 'betas' has value '0.9', expected 2 numbers"));
  EXPECT_THAT(params.GetDoubleList("list", {}).status().message(), HasSubstr("key 'list'"));
}

TEST(ParamsTest, SyntaxErrorsNameTheItem) {
  EXPECT_THAT(Params::Parse("lr", "--optim_params").status().message(),
              HasSubstr("--optim_params: 'lr' is not key=value"));
  EXPECT_THAT(Params::Parse("lr=", "--optim_params").status().message(), HasSubstr("key 'lr' has no value"));
  EXPECT_THAT(Params::Parse("=3", "--optim_params").status().message(), HasSubstr("empty key"));
  EXPECT_THAT(Params::Parse("lr=1,lr=2", "--optim_params").status().message(), HasSubstr("key 'lr' is given twice"));
  EXPECT_THAT(Params::Parse("lr=1,,eps=2", "--optim_params").status().message(), HasSubstr("is not key=value"));
}

}  // namespace
}  // namespace qres
