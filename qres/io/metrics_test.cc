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

}  // namespace
}  // namespace qres::io
