// Plots that used to come out empty or take minutes: an lr of 0 on a log axis, values near
// +-1e308, values that are not finite. Each is checked on the decoded image: the line is drawn.
#include "qres/io/plot.h"

#include <png.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace qres::io {
namespace {

// The pixels of the first palette colour (a plot's first line) in a PNG image.
int FirstLinePixels(const std::string& png) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, png.data(), png.size())) return -1;
  image.format = PNG_FORMAT_RGB;
  std::vector<png_byte> pixels(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr)) return -1;
  int count = 0;
  for (size_t i = 0; i + 2 < pixels.size(); i += 3) {
    count += pixels[i] == 31 && pixels[i + 1] == 119 && pixels[i + 2] == 180;
  }
  return count;
}

// A line across a 400-pixel-wide plot, 2 pixels thick, has well over 200 pixels of its colour.
constexpr int kDrawnLine = 200;

TEST(PlotTest, AZeroOnALogAxisPlotsOnALinearOne) {
  Panel panel{"final test accuracy", {}, {Series{"QtAdamW", {0.1, 0.8, 0.9}, {}, {}}}, {0.0, 0.01, 0.1}, "lr", true};
  const auto png = EncodePlotPng({panel});
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_GT(FirstLinePixels(*png), kDrawnLine);
}

TEST(PlotTest, ValuesNearTheLargestDoublePlot) {
  Panel panel{"loss", {1e308, -1e308, 5e307}, {}, {}, "epoch", false};
  const auto png = EncodePlotPng({panel});
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_GT(FirstLinePixels(*png), kDrawnLine);
}

TEST(PlotTest, ValuesThatAreNotFiniteAreLeftOut) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  Panel some{"loss", {0.5, nan, 0.3, inf, 0.2, 0.1}, {}, {}, "epoch", false};
  const auto png = EncodePlotPng({some});
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_GT(FirstLinePixels(*png), kDrawnLine / 4);  // the segments between finite points
  Panel none{"loss", {nan, inf}, {}, {}, "epoch", false};
  const auto empty = EncodePlotPng({none});
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(FirstLinePixels(*empty), 0);
}

}  // namespace
}  // namespace qres::io
