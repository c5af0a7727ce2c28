// The metrics file's one writer and one reader agree, and a damaged line is an error naming it.
#include "qres/io/metrics.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qres::io {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, ALineReadsBackAsWritten) {
  EpochMetrics first;
  first.epoch = 1;
  first.loss = 0.5123456789;
  first.train_accuracy = 0.8123;
  first.test_accuracy = 0.8456;
  first.lr = 1e-3;
  first.quant_index = 9;
  first.seconds = 18.24;
  first.images_per_second = 3289.5;
  EXPECT_EQ(MetricsLine(first),
            "{\"epoch\": 1, \"loss\": 0.512345679, \"train_accuracy\": 0.812300, \"test_accuracy\": 0.845600, "
            "\"lr\": 0.001, \"quant_index\": 9, \"seconds\": 18.240, \"images_per_second\": 3289.5}\n");
  EpochMetrics second = first;
  second.epoch = 2;
  second.quant_index.reset();  // an unquantized algorithm's
  const auto epochs = ParseMetrics(MetricsLine(first) + MetricsLine(second), "m.jsonl");
  ASSERT_TRUE(epochs.ok()) << epochs.status();
  ASSERT_EQ(epochs->size(), 2u);
  EXPECT_DOUBLE_EQ((*epochs)[0].loss, 0.512345679);
  EXPECT_EQ((*epochs)[0].quant_index, 9.0);
  EXPECT_EQ((*epochs)[1].epoch, 2);
  EXPECT_FALSE((*epochs)[1].quant_index.has_value());
  EXPECT_DOUBLE_EQ((*epochs)[1].images_per_second, 3289.5);
}

TEST(MetricsTest, DamagedLinesAreErrorsNamingTheLine) {
  EpochMetrics m;
  m.epoch = 1;
  const std::string line = MetricsLine(m);
  EXPECT_THAT(std::string(ParseMetrics(line.substr(0, 40), "m.jsonl").status().message()),
              HasSubstr("m.jsonl line 1: not a complete JSON object (cut off?)"));
  EXPECT_THAT(std::string(ParseMetrics(line + line, "m.jsonl").status().message()),
              HasSubstr("m.jsonl line 2: epoch 1, expected 2"));
  EXPECT_THAT(std::string(ParseMetrics("{\"epoch\": 1}\n", "m.jsonl").status().message()),
              HasSubstr("m.jsonl line 1: no \"loss\""));
}

TEST(MetricsTest, CrlfLineEndsRead) {
  EpochMetrics m;
  m.epoch = 1;
  std::string line = MetricsLine(m);
  line.insert(line.size() - 1, "\r");
  const auto epochs = ParseMetrics(line, "m.jsonl");
  ASSERT_TRUE(epochs.ok()) << epochs.status();
  EXPECT_EQ(epochs->size(), 1u);
}

// A value train never writes is damage, not a number to average: NaN, inf and out-of-range
// accuracies made report cells such as "inf ± -nan" and "3360.00 ± 5707.11 %".
TEST(MetricsTest, ValuesTrainNeverWritesAreErrors) {
  const std::string good = MetricsLine(EpochMetrics{1});
  const auto with = [&](const std::string& key, const std::string& value) {
    std::string line = good;
    const size_t at = line.find("\"" + key + "\": ") + key.size() + 4;
    line.replace(at, line.find_first_of(",}", at) - at, value);
    return std::string(ParseMetrics(line, "m.jsonl").status().message());
  };
  EXPECT_THAT(with("loss", "nan"), HasSubstr("m.jsonl line 1: \"loss\" is nan, not a finite number >= 0"));
  EXPECT_THAT(with("loss", "inf"), HasSubstr("\"loss\" is inf"));
  EXPECT_THAT(with("test_accuracy", "33.6"), HasSubstr("\"test_accuracy\" is 33.6, not an accuracy in [0, 1]"));
  EXPECT_THAT(with("train_accuracy", "-0.1"), HasSubstr("\"train_accuracy\" is -0.1"));
  EXPECT_THAT(with("lr", "-1"), HasSubstr("\"lr\" is -1"));
  EXPECT_THAT(with("quant_index", "inf"), HasSubstr("\"quant_index\" is inf, not an index >= 0"));
  EXPECT_TRUE(ParseMetrics(good, "m.jsonl").ok());
}

}  // namespace
}  // namespace qres::io
