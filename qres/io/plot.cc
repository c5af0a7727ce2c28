#include "qres/io/plot.h"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "qres/io/files.h"

namespace qres::io {
namespace {

// 5x7 glyphs, one string of 7 rows x 5 columns per character ('#' = ink). Upper-case letters
// without a glyph of their own are drawn with the lower-case ones.
const std::map<char, const char*>& Font() {
  static const auto* font = new std::map<char, const char*>{
      {' ', "..................................."}, {'=', "..........#####.....#####.........."},
      {',', "......................##...#...#..."}, {'0', ".###.#...##..###.#.###..##...#.###."},
      {'1', "..#...##....#....#....#....#...###."}, {'2', ".###.#...#....#...#...#...#...#####"},
      {'3', "#####...#...#.....#.....##...#.###."}, {'4', "...#...##..#.#.#..#.#####...#....#."},
      {'5', "######....####.....#....##...#.###."}, {'6', "..##..#...#....####.#...##...#.###."},
      {'7', "#####....#...#...#...#....#....#..."}, {'8', ".###.#...##...#.###.#...##...#.###."},
      {'9', ".###.#...##...#.####....#...#..##.."}, {'.', "..........................##...##.."},
      {'-', "................###................"}, {'+', ".......#....#..#####..#....#......."},
      {':', "......##...##........##...##......."}, {'(', "...#...#...#....#....#.....#.....#."},
      {')', ".#.....#.....#....#....#...#...#..."}, {'%', "##...##..#...#...#...#...#..##...##"},
      {'/', ".........#...#...#...#...#........."}, {'_', "..............................#####"},
      {'P', "####.#...##...#####.#....#....#...."}, {'Q', ".###.#...##...##...##.#.##..#..##.#"},
      {'a', "...........###.....#.#####...#.####"}, {'b', "#....#....#.##.##..##...##...#####."},
      {'c', "...........###.#....#....#...#.###."}, {'d', "....#....#.##.##..###...##...#.####"},
      {'e', "...........###.#...#######.....###."}, {'f', "..##..#..#.#...###...#....#....#..."},
      {'g', "......#####...##...#.####....#.###."}, {'h', "#....#....#.##.##..##...##...##...#"},
      {'i', "..#........##....#....#....#...###."}, {'j', "...#........##....#....#.#..#..##.."},
      {'k', "#....#....#..#.#.#..##...#.#..#..#."}, {'l', ".##....#....#....#....#....#...###."},
      {'m', "..........##.#.#.#.##.#.##...##...#"}, {'n', "..........#.##.##..##...##...##...#"},
      {'o', "...........###.#...##...##...#.###."}, {'p', "..........####.#...#####.#....#...."},
      {'q', "...........##.##..##.####....#....#"}, {'r', "..........#.##.##..##....#....#...."},
      {'s', "...........###.#.....###.....#####."}, {'t', ".#....#...###...#....#....#..#..##."},
      {'u', "..........#...##...##...##..##.##.#"}, {'v', "..........#...##...##...#.#.#...#.."},
      {'w', "..........#...##...##.#.##.#.#.#.#."}, {'x', "..........#...#.#.#...#...#.#.#...#"},
      {'y', "..........#...##...#.####....#.###."}, {'z', "..........#####...#...#...#...#####"},
  };
  return *font;
}

struct Rgb {
  uint8_t r, g, b;
};

class Canvas {
 public:
  Canvas(int width, int height) : width_(width), height_(height), pixels_(width * height * 3, 255) {}

  void Set(int x, int y, Rgb c) {
    if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
    uint8_t* p = &pixels_[(y * width_ + x) * 3];
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
  }

  void Line(double x0, double y0, double x1, double y1, Rgb c, int thickness = 1) {
    // A point far off the canvas would make billions of steps; callers draw finite points inside it.
    for (double v : {x0, y0, x1, y1}) {
      if (!std::isfinite(v) || std::abs(v) > 4.0 * (width_ + height_)) return;
    }
    const int steps = static_cast<int>(std::max(std::abs(x1 - x0), std::abs(y1 - y0))) + 1;
    for (int i = 0; i <= steps; ++i) {
      const double t = static_cast<double>(i) / steps;
      const int x = static_cast<int>(std::lround(x0 + (x1 - x0) * t));
      const int y = static_cast<int>(std::lround(y0 + (y1 - y0) * t));
      for (int dx = 0; dx < thickness; ++dx) {
        for (int dy = 0; dy < thickness; ++dy) Set(x + dx - thickness / 2, y + dy - thickness / 2, c);
      }
    }
  }

  void Dot(double x, double y, Rgb c) {
    if (!std::isfinite(x) || !std::isfinite(y)) return;
    for (int dx = -2; dx <= 2; ++dx) {
      for (int dy = -2; dy <= 2; ++dy) {
        if (dx * dx + dy * dy <= 5) Set(static_cast<int>(x) + dx, static_cast<int>(y) + dy, c);
      }
    }
  }

  // Text with its top-left corner at (x, y), each font pixel drawn as scale x scale.
  void Text(int x, int y, const std::string& text, int scale = 2, Rgb c = {0, 0, 0}) {
    for (char raw : text) {
      auto it = Font().find(raw);
      if (it == Font().end()) it = Font().find(absl::ascii_tolower(raw));
      const char* glyph = it == Font().end() ? nullptr : it->second;
      for (int row = 0; glyph != nullptr && row < 7; ++row) {
        for (int col = 0; col < 5; ++col) {
          if (glyph[row * 5 + col] != '#') continue;
          for (int sx = 0; sx < scale; ++sx) {
            for (int sy = 0; sy < scale; ++sy) Set(x + col * scale + sx, y + row * scale + sy, c);
          }
        }
      }
      x += 6 * scale;
    }
  }

  static int TextWidth(const std::string& text, int scale = 2) { return static_cast<int>(text.size()) * 6 * scale; }

  absl::StatusOr<std::string> EncodePng() const {
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    png_infop info = png ? png_create_info_struct(png) : nullptr;
    if (png == nullptr || info == nullptr) return absl::InternalError("libpng: out of memory");
    std::string out;
    if (setjmp(png_jmpbuf(png))) {
      png_destroy_write_struct(&png, &info);
      return absl::InternalError("libpng failed to encode the plot");
    }
    png_set_write_fn(
        png, &out,
        [](png_structp p, png_bytep data, png_size_t size) {
          static_cast<std::string*>(png_get_io_ptr(p))->append(reinterpret_cast<char*>(data), size);
        },
        nullptr);
    png_set_IHDR(png, info, width_, height_, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height_; ++y) {
      png_write_row(png, const_cast<png_bytep>(&pixels_[y * width_ * 3]));
    }
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
    return out;
  }

 private:
  int width_, height_;
  std::vector<uint8_t> pixels_;
};

std::string Tick(double value) {
  if (value == 0) return "0";
  const double magnitude = std::abs(value);
  if (magnitude >= 1e4 || magnitude < 1e-3) return absl::StrFormat("%.1e", value);
  return absl::StrFormat("%.4g", value);
}

// Matplotlib's first colours.
constexpr Rgb kPalette[] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                            {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127}};

Rgb Lighter(Rgb c) {  // the band's colour: a quarter of the line's, on white
  auto mix = [](uint8_t v) { return static_cast<uint8_t>(255 - (255 - v) / 4); };
  return {mix(c.r), mix(c.g), mix(c.b)};
}

void DrawPanel(Canvas& canvas, int left, int top, int width, int height, const Panel& panel) {
  const Rgb axis{40, 40, 40}, grid{225, 225, 225};
  const std::vector<Series> lines = panel.series.empty() ? std::vector<Series>{{"", panel.y, {}, {}}} : panel.series;
  const int plot_left = left + 110, plot_right = left + width - 20;
  const int plot_top = top + 50, plot_bottom = top + height - 60;
  // The y range in long double: values near +-1e308 span more than a double holds.
  long double low = std::numeric_limits<long double>::infinity(), high = -low;
  size_t n = 0, not_finite = 0;
  for (const Series& line : lines) {
    n = std::max(n, line.y.size());
    for (double v : line.y) not_finite += !std::isfinite(v);
    for (const std::vector<double>* values : {&line.y, &line.low, &line.high}) {
      for (double v : *values) {
        if (!std::isfinite(v)) continue;  // not drawn; the title counts them
        low = std::min<long double>(low, v);
        high = std::max<long double>(high, v);
      }
    }
  }
  const std::string title =
      not_finite == 0 ? panel.title : absl::StrCat(panel.title, " (", not_finite, " not finite, not drawn)");
  canvas.Text(left + (width - Canvas::TextWidth(title, 3)) / 2, top + 12, title, not_finite == 0 ? 3 : 2);
  if (!std::isfinite(high)) low = 0, high = 1;  // nothing finite to show: an empty frame
  if (high - low < 1e-12L) {
    low -= 0.5L * std::max(std::abs(low), 1.0L) * 0.1L + 1e-9L;
    high += 0.5L * std::max(std::abs(high), 1.0L) * 0.1L + 1e-9L;
  }
  const long double pad = 0.05L * (high - low);
  low -= pad;
  high += pad;
  std::vector<double> xs = panel.x;
  if (xs.empty()) {
    for (size_t i = 0; i < n; ++i) xs.push_back(static_cast<double>(i + 1));
  }
  // A log axis only where every x is positive (an lr of 0 has no logarithm).
  const bool log_x =
      panel.log_x && std::all_of(xs.begin(), xs.end(), [](double x) { return x > 0 && std::isfinite(x); });
  auto scaled = [&](double x) { return log_x ? std::log10(x) : x; };
  const double x_low = scaled(*std::min_element(xs.begin(), xs.end()));
  const double x_high = scaled(*std::max_element(xs.begin(), xs.end()));
  auto px = [&](size_t i) {
    return !(x_high - x_low >= 1e-12)
               ? (plot_left + plot_right) / 2.0
               : plot_left + (plot_right - plot_left) * (scaled(xs[i]) - x_low) / (x_high - x_low);
  };
  auto py = [&](double v) {
    return static_cast<double>(plot_bottom - (plot_bottom - plot_top) * (v - low) / (high - low));
  };
  for (int k = 0; k <= 4; ++k) {  // horizontal grid and y ticks
    const double v = static_cast<double>(low + (high - low) * k / 4.0L);
    const double y = py(v);
    canvas.Line(plot_left, y, plot_right, y, grid);
    const std::string label = Tick(v);
    canvas.Text(plot_left - 8 - Canvas::TextWidth(label), static_cast<int>(y) - 7, label);
  }
  const size_t x_ticks = std::min<size_t>(n, 6);
  for (size_t k = 0; k < x_ticks; ++k) {  // x ticks at points
    const size_t i = x_ticks <= 1 ? 0 : k * (n - 1) / (x_ticks - 1);
    const std::string label = panel.x.empty() ? absl::StrCat(i + 1) : Tick(xs[i]);
    canvas.Line(px(i), plot_bottom, px(i), plot_bottom + 5, axis);
    canvas.Text(static_cast<int>(px(i)) - Canvas::TextWidth(label) / 2, plot_bottom + 10, label);
  }
  canvas.Text((plot_left + plot_right - Canvas::TextWidth(panel.x_label)) / 2, plot_bottom + 32, panel.x_label);
  for (size_t s = 0; s < lines.size(); ++s) {  // bands first, so no band hides a line
    const Series& line = lines[s];
    if (line.low.size() != line.y.size() || line.high.size() != line.y.size()) continue;
    for (size_t i = 0; i + 1 < line.y.size(); ++i) {
      if (!std::isfinite(line.low[i] + line.low[i + 1] + line.high[i] + line.high[i + 1])) continue;
      for (int x = static_cast<int>(px(i)); x <= static_cast<int>(px(i + 1)); ++x) {
        const double t = px(i + 1) > px(i) ? (x - px(i)) / (px(i + 1) - px(i)) : 0.0;
        const double y0 = py(line.high[i] + (line.high[i + 1] - line.high[i]) * t);
        const double y1 = py(line.low[i] + (line.low[i + 1] - line.low[i]) * t);
        for (int y = static_cast<int>(y0); y <= static_cast<int>(y1); ++y) canvas.Set(x, y, Lighter(kPalette[s % 8]));
      }
    }
  }
  canvas.Line(plot_left, plot_top, plot_left, plot_bottom, axis, 2);
  canvas.Line(plot_left, plot_bottom, plot_right, plot_bottom, axis, 2);
  for (size_t s = 0; s < lines.size(); ++s) {
    const Series& line = lines[s];
    const Rgb color = kPalette[s % 8];
    for (size_t i = 0; i + 1 < line.y.size(); ++i)
      canvas.Line(px(i), py(line.y[i]), px(i + 1), py(line.y[i + 1]), color, 2);
    for (size_t i = 0; i < line.y.size(); ++i) canvas.Dot(px(i), py(line.y[i]), color);
    if (!line.label.empty()) {  // the legend, top left inside the plot
      const int y = plot_top + 6 + static_cast<int>(s) * 16;
      canvas.Line(plot_left + 8, y + 6, plot_left + 26, y + 6, color, 3);
      canvas.Text(plot_left + 32, y, line.label, 2, color);
    }
  }
}

}  // namespace

absl::StatusOr<std::string> EncodePlotPng(const std::vector<Panel>& panels) {
  if (panels.empty()) return absl::InvalidArgumentError("nothing to plot");
  for (const Panel& panel : panels) {
    bool points = !panel.y.empty();
    for (const Series& line : panel.series) points |= !line.y.empty();
    if (!points) return absl::InvalidArgumentError(absl::StrCat("plot '", panel.title, "' has no points"));
  }
  const int panel_width = 520, height = 420;
  Canvas canvas(panel_width * static_cast<int>(panels.size()), height);
  for (size_t i = 0; i < panels.size(); ++i) {
    DrawPanel(canvas, static_cast<int>(i) * panel_width, 0, panel_width, height, panels[i]);
  }
  return canvas.EncodePng();
}

absl::Status WritePlotPng(const std::string& path, const std::vector<Panel>& panels) {
  absl::StatusOr<std::string> png = EncodePlotPng(panels);
  if (!png.ok()) return png.status();
  return WriteFileAtomically(path, *png);
}

}  // namespace qres::io
