// The plotting layer of analysis/plots.cc's figures: see canvas.h.
#include "analysis/canvas.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace rig::analysis::canvas {

// Colour maps as anchor colours, linearly interpolated: matplotlib's viridis (sampled at 9
// points) and a blue-white-red diverging map (ColorBrewer RdBu, reversed).
const std::vector<RGB> kViridis = {{0.267, 0.005, 0.329}, {0.283, 0.141, 0.458}, {0.254, 0.265, 0.530},
                                   {0.207, 0.372, 0.553}, {0.164, 0.471, 0.558}, {0.128, 0.567, 0.551},
                                   {0.135, 0.659, 0.518}, {0.267, 0.749, 0.441}, {0.478, 0.821, 0.318},
                                   {0.741, 0.873, 0.150}, {0.993, 0.906, 0.144}};
const std::vector<RGB> kDiverging = {{0.020, 0.188, 0.380}, {0.129, 0.400, 0.675}, {0.263, 0.576, 0.765},
                                     {0.573, 0.773, 0.871}, {0.820, 0.898, 0.941}, {0.969, 0.969, 0.969},
                                     {0.992, 0.859, 0.780}, {0.957, 0.647, 0.510}, {0.839, 0.376, 0.302},
                                     {0.698, 0.094, 0.169}, {0.404, 0.000, 0.122}};
// Line colours for conditions (matplotlib's tab10).
const std::vector<RGB> kLines = {
    {0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173}, {0.839, 0.153, 0.157}, {0.580, 0.404, 0.741},
    {0.549, 0.337, 0.294}, {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498}, {0.737, 0.741, 0.133}, {0.090, 0.745, 0.812}};
const RGB kMissing = {0.80, 0.80, 0.80};

RGB colormap(const std::vector<RGB>& m, double t) {
  if (std::isnan(t)) return kMissing;
  t = std::clamp(t, 0.0, 1.0) * double(m.size() - 1);
  const size_t i = std::min(size_t(t), m.size() - 2);
  const double f = t - double(i);
  return {m[i][0] + f * (m[i + 1][0] - m[i][0]), m[i][1] + f * (m[i + 1][1] - m[i][1]),
          m[i][2] + f * (m[i + 1][2] - m[i][2])};
}

std::string fmt(double v) {
  char b[32];
  if (v == 0) return "0";
  const double a = std::abs(v);
  if (a >= 1e4 || a < 1e-3) std::snprintf(b, sizeof b, "%.1e", v);
  else std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

// Tick values at 1, 2 or 5 x 10^k spacing covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi) || !std::isfinite(hi - lo)) return {lo};
  const double raw = (hi - lo) / target, p = std::pow(10.0, std::floor(std::log10(raw)));
  double step = p;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw) {
      step = m * p;
      break;
    }
  std::vector<double> t;
  // Counted, not accumulated: near 1e20 a step of 1e4 is below one ulp and v += step would
  // never move.
  const double first = std::ceil(lo / step - 1e-9);
  for (int k = 0; k <= 4 * target + 4; ++k) {
    const double v = (first + k) * step;
    if (!(v <= hi + step * 1e-9)) break;
    t.push_back(std::abs(v) < step * 1e-9 ? 0 : v);
  }
  if (t.empty()) t.push_back(lo);
  return t;
}

double percentile(std::vector<double> v, double q) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const size_t i = size_t(pos);
  return i + 1 < v.size() ? v[i] + (pos - double(i)) * (v[i + 1] - v[i]) : v[i];
}

// Frame, ticks and labels of axes a.
void draw_axes(Figure& f, const Axes& a, const std::string& xlabel, const std::string& ylabel,
               const std::vector<std::pair<double, std::string>>& yticks,
               const std::vector<std::pair<double, std::string>>& xticks) {
  cairo_t* cr = f.cr();
  cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, a.x, a.y, a.w, a.h);
  cairo_stroke(cr);
  auto xt = xticks;
  if (xt.empty())
    for (double v : nice_ticks(a.x0, a.x1)) xt.emplace_back(v, fmt(v));
  for (const auto& [v, s] : xt) {
    const double X = a.px(v);
    cairo_move_to(cr, X, a.y + a.h);
    cairo_line_to(cr, X, a.y + a.h + 5);
    cairo_stroke(cr);
    f.text(s, X, a.y + a.h + 8, 11, 0.5, 0);
  }
  auto yt = yticks;
  if (yt.empty())
    for (double v : nice_ticks(a.y0, a.y1)) yt.emplace_back(v, fmt(v));
  for (const auto& [v, s] : yt) {
    const double Y = a.py(v);
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    cairo_move_to(cr, a.x - 5, Y);
    cairo_line_to(cr, a.x, Y);
    cairo_stroke(cr);
    f.text(s, a.x - 8, Y, 11, 1, 0.5);
  }
  f.text(xlabel, a.x + a.w / 2, a.y + a.h + 28, 13, 0.5, 0);
  f.text(ylabel, a.x - 62, a.y + a.h / 2, 13, 0.5, 0.5, -M_PI / 2);
}

// A vertical colour bar at (x, y, w, h) for values [lo, hi].
void colorbar(Figure& f, const std::vector<RGB>& map, double x, double y, double w, double h, double lo, double hi,
              const std::string& label) {
  cairo_t* cr = f.cr();
  const int steps = 128;
  for (int i = 0; i < steps; ++i) {
    const RGB c = colormap(map, (i + 0.5) / steps);
    cairo_set_source_rgb(cr, c[0], c[1], c[2]);
    cairo_rectangle(cr, x, y + h - (i + 1) * h / steps, w, h / steps + 0.5);
    cairo_fill(cr);
  }
  cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, x, y, w, h);
  cairo_stroke(cr);
  Axes a{x, y, w, h, 0, 1, lo, hi};
  for (double v : nice_ticks(lo, hi, 5)) {
    const double Y = a.py(v);
    cairo_move_to(cr, x + w, Y);
    cairo_line_to(cr, x + w + 4, Y);
    cairo_stroke(cr);
    f.text(fmt(v), x + w + 7, Y, 11, 0, 0.5);
  }
  f.text(label, x + w + 58, y + h / 2, 12, 0.5, 0.5, -M_PI / 2);
}

// Paints values [rows x cols] (row 0 at the top) into axes a as an image scaled to fit.
void paint_matrix(Figure& f, const Axes& a, const Mat& v, const std::vector<RGB>& map, double lo, double hi) {
  const int rows = int(v.rows()), cols = int(v.cols());
  if (rows == 0 || cols == 0) return;
  cairo_surface_t* img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, cols, rows);
  unsigned char* data = cairo_image_surface_get_data(img);
  const int stride = cairo_image_surface_get_stride(img);
  cairo_surface_flush(img);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const double t = hi > lo ? (v(r, c) - lo) / (hi - lo) : 0.5;
      const RGB col = colormap(map, std::isfinite(v(r, c)) ? t : std::numeric_limits<double>::quiet_NaN());
      uint32_t px =
          (uint32_t(col[0] * 255 + 0.5) << 16) | (uint32_t(col[1] * 255 + 0.5) << 8) | uint32_t(col[2] * 255 + 0.5);
      *reinterpret_cast<uint32_t*>(data + r * stride + c * 4) = px;
    }
  cairo_surface_mark_dirty(img);
  cairo_t* cr = f.cr();
  cairo_save(cr);
  cairo_rectangle(cr, a.x, a.y, a.w, a.h);
  cairo_clip(cr);
  cairo_translate(cr, a.x, a.y);
  cairo_scale(cr, a.w / cols, a.h / rows);
  cairo_set_source_surface(cr, img, 0, 0);
  // Nearest when magnifying (crisp cells); averaging when many neurons share a pixel row.
  cairo_pattern_set_filter(cairo_get_source(cr),
                           (a.w >= cols && a.h >= rows) ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_GOOD);
  cairo_paint(cr);
  cairo_restore(cr);
  cairo_surface_destroy(img);
}

}  // namespace rig::analysis::canvas
