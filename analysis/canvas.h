#pragma once
// The plotting layer under analysis/plots.cc's figures: a cairo figure (PNG or SVG by the file's
// extension), axes with 1-2-5 ticks, colour maps and bars, and matrices painted as images.
#include <cairo-svg.h>
#include <cairo.h>

#include <array>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "analysis/alignment.h"  // Mat
#include "core/error.h"

namespace rig::analysis::canvas {

using RGB = std::array<double, 3>;

// Colour maps as anchor colours, linearly interpolated: matplotlib's viridis and a
// blue-white-red diverging map (ColorBrewer RdBu, reversed); tab10 line colours; grey for NaN.
extern const std::vector<RGB> kViridis, kDiverging, kLines;
extern const RGB kMissing;

RGB colormap(const std::vector<RGB>& m, double t);  // t in [0, 1]; NaN -> kMissing
std::string fmt(double v);                          // a tick label: 4 significant digits
// Tick values at 1, 2 or 5 x 10^k spacing covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target = 6);
double percentile(std::vector<double> v, double q);  // of the finite values; NaN if none

// One figure: a cairo surface (PNG or SVG by extension) and helpers for text and axes.
class Figure {
 public:
  Figure(const std::filesystem::path& out, int w, int h) : out_(out), w_(w), h_(h) {
    const std::string ext = out.extension().string();
    if (ext == ".svg") svg_ = true;
    else if (ext != ".png")
      throw ConfigError(out.string() + ": expected a .png or .svg file name, got extension '" + ext + "'");
    surface_ =
        svg_ ? cairo_svg_surface_create(out.c_str(), w, h) : cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
    if (cairo_surface_status(surface_) != CAIRO_STATUS_SUCCESS)
      throw Error("cannot create " + out.string() + ": " + cairo_status_to_string(cairo_surface_status(surface_)));
    cr_ = cairo_create(surface_);
    cairo_set_source_rgb(cr_, 1, 1, 1);
    cairo_paint(cr_);
    cairo_select_font_face(cr_, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  }
  ~Figure() {
    if (cr_) cairo_destroy(cr_);
    if (surface_) cairo_surface_destroy(surface_);
  }
  Figure(const Figure&) = delete;
  Figure& operator=(const Figure&) = delete;

  cairo_t* cr() { return cr_; }
  int width() const { return w_; }
  int height() const { return h_; }

  void save() {
    cairo_surface_flush(surface_);
    cairo_status_t st = svg_ ? CAIRO_STATUS_SUCCESS : cairo_surface_write_to_png(surface_, out_.c_str());
    cairo_surface_finish(surface_);
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(surface_);
    if (st != CAIRO_STATUS_SUCCESS) throw Error("writing " + out_.string() + ": " + cairo_status_to_string(st));
  }

  // Text anchored at (x, y): ax 0 left / 0.5 centre / 1 right, ay 0 top / 0.5 middle / 1 baseline-ish bottom.
  void text(const std::string& s, double x, double y, double size, double ax = 0, double ay = 0, double angle = 0,
            bool bold = false) {
    cairo_save(cr_);
    cairo_select_font_face(cr_, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr_, size);
    cairo_text_extents_t e;
    cairo_text_extents(cr_, s.c_str(), &e);
    cairo_translate(cr_, x, y);
    cairo_rotate(cr_, angle);
    cairo_set_source_rgb(cr_, 0.1, 0.1, 0.1);
    cairo_move_to(cr_, -ax * e.x_advance, -ay * size * 0.75 + size * 0.75);
    cairo_show_text(cr_, s.c_str());
    cairo_restore(cr_);
  }
  double text_width(const std::string& s, double size) {
    cairo_set_font_size(cr_, size);
    cairo_text_extents_t e;
    cairo_text_extents(cr_, s.c_str(), &e);
    return e.x_advance;
  }

 private:
  std::filesystem::path out_;
  int w_, h_;
  bool svg_ = false;
  cairo_surface_t* surface_ = nullptr;
  cairo_t* cr_ = nullptr;
};

// A rectangle of the figure with data ranges; maps data to device coordinates.
struct Axes {
  double x, y, w, h;      // device rectangle
  double x0, x1, y0, y1;  // data ranges (y0 at the bottom)
  double px(double v) const { return x + (v - x0) / (x1 - x0) * w; }
  double py(double v) const { return y + h - (v - y0) / (y1 - y0) * h; }
};

// Frame, ticks and labels of axes a (ticks chosen by nice_ticks unless given).
void draw_axes(Figure& f, const Axes& a, const std::string& xlabel, const std::string& ylabel,
               const std::vector<std::pair<double, std::string>>& yticks = {},
               const std::vector<std::pair<double, std::string>>& xticks = {});
// A vertical colour bar at (x, y, w, h) for values [lo, hi].
void colorbar(Figure& f, const std::vector<RGB>& map, double x, double y, double w, double h, double lo, double hi,
              const std::string& label);
// Paints values [rows x cols] (row 0 at the top) into axes a as an image scaled to fit.
void paint_matrix(Figure& f, const Axes& a, const Mat& v, const std::vector<RGB>& map, double lo, double hi);

}  // namespace rig::analysis::canvas
