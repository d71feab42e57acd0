#pragma once
/// \file svg_plot.hpp
/// A small line-plot writer for the example programs' reports (SVG drawn by hand: axes, ticks,
/// grid, labels, legend; no dependency): mcsc-solve's objective-against-time plot and the task
/// programs' training curves use it.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "mcsc/core/error.hpp"

namespace mcsc_examples {

/// One line: points (x[i], y[i]); a non-finite y (or, on a log axis, y <= 0) breaks the line.
struct PlotSeries {
  std::string name;
  std::vector<double> x, y;
};

struct PlotOptions {
  std::string title, x_label, y_label;
  bool log_y = false;       ///< decades on the y axis (at most 14 of them, from the largest value down)
  double width = 760, height = 460;
};

/// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `count` ticks over `span`.
inline double nice_step(double span, int count) {
  const double raw = span / std::max(1, count);
  const double decade = std::pow(10.0, std::floor(std::log10(raw)));
  const double multiples[] = {1.0, 2.0, 5.0, 10.0};
  for (double m : multiples)
    if (m * decade >= raw) return m * decade;
  return 10 * decade;
}

inline std::string svg_number(double v) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(1) << v;
  return os.str();
}

inline std::string svg_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

/// The plot as SVG text.
inline std::string svg_line_plot(const std::vector<PlotSeries>& series, const PlotOptions& o) {
  const double left = 78, right = 190, top = 48, bottom = 62;
  const double pw = o.width - left - right, ph = o.height - top - bottom;
  auto usable = [&](double v) { return std::isfinite(v) && (!o.log_y || v > 0); };
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo, y_min = x_lo, y_max = -x_lo;
  for (const auto& s : series)
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (std::isfinite(s.x[i]) && usable(s.y[i])) {
        x_lo = std::min(x_lo, s.x[i]);
        x_hi = std::max(x_hi, s.x[i]);
        y_min = std::min(y_min, s.y[i]);
        y_max = std::max(y_max, s.y[i]);
      }
  if (!(x_hi > -std::numeric_limits<double>::infinity())) x_lo = 0, x_hi = 1;
  x_lo = std::min(x_lo, 0.0);
  if (!(x_hi > x_lo)) x_hi = x_lo + 1;
  if (!(y_max >= y_min)) y_min = o.log_y ? 1e-3 : 0, y_max = 1;
  // y range: decades (log) or nice ticks (linear)
  double y_lo, y_hi, y_step;
  if (o.log_y) {
    y_lo = std::floor(std::log10(y_min));
    y_hi = std::ceil(std::log10(y_max));
    y_lo = std::max(y_lo, y_hi - 14);
    if (y_hi <= y_lo) y_hi = y_lo + 1;
    y_step = y_hi - y_lo > 8 ? 2 : 1;
  } else {
    if (!(y_max > y_min)) y_min -= 0.5, y_max += 0.5;
    y_step = nice_step(y_max - y_min, 6);
    y_lo = std::floor(y_min / y_step) * y_step;
    y_hi = std::ceil(y_max / y_step - 1e-9) * y_step;
    if (y_hi <= y_lo) y_hi = y_lo + y_step;
  }
  const double x_step = nice_step(x_hi - x_lo, 6);
  const double x_top = x_lo + std::ceil((x_hi - x_lo) / x_step - 1e-9) * x_step;
  const auto X = [&](double t) { return left + pw * (t - x_lo) / (x_top - x_lo); };
  const auto Y = [&](double v) {
    const double a = o.log_y ? std::max(std::log10(v), y_lo) : v;
    return top + ph * (y_hi - a) / (y_hi - y_lo);
  };
  const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};

  std::ostringstream f;
  f << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << o.width << "\" height=\"" << o.height
    << "\" viewBox=\"0 0 " << o.width << " " << o.height << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << left + pw / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"14\">" << svg_escape(o.title)
    << "</text>\n";
  for (double a = y_lo; a <= y_hi + 1e-9 * std::max(1.0, std::abs(y_hi)); a += y_step) {
    const double y = top + ph * (y_hi - a) / (y_hi - y_lo);
    std::ostringstream label;
    if (o.log_y)
      label << "1e" << int(std::lround(a));
    else
      label << std::setprecision(6) << a;
    f << "<line x1=\"" << left << "\" y1=\"" << svg_number(y) << "\" x2=\"" << left + pw << "\" y2=\"" << svg_number(y)
      << "\" stroke=\"#e4e4e4\"/>\n"
      << "<text x=\"" << left - 6 << "\" y=\"" << svg_number(y + 4) << "\" text-anchor=\"end\">" << label.str()
      << "</text>\n";
  }
  for (double t = x_lo; t <= x_top + 1e-12 * std::max(1.0, std::abs(x_top)); t += x_step) {
    const double x = X(t);
    std::ostringstream label;
    label << std::setprecision(4) << t;
    f << "<line x1=\"" << svg_number(x) << "\" y1=\"" << top << "\" x2=\"" << svg_number(x) << "\" y2=\"" << top + ph
      << "\" stroke=\"#e4e4e4\"/>\n"
      << "<text x=\"" << svg_number(x) << "\" y=\"" << top + ph + 18 << "\" text-anchor=\"middle\">" << label.str()
      << "</text>\n";
  }
  f << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"black\"/>\n"
    << "<text x=\"" << left + pw / 2 << "\" y=\"" << o.height - 16 << "\" text-anchor=\"middle\">"
    << svg_escape(o.x_label) << "</text>\n"
    << "<text transform=\"translate(18," << top + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
    << svg_escape(o.y_label) << "</text>\n";
  for (std::size_t r = 0; r < series.size(); ++r) {
    const PlotSeries& s = series[r];
    const char* colour = colours[r % std::size(colours)];
    std::string points;
    const auto flush = [&] {
      if (!points.empty())
        f << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"1.8\" points=\"" << points << "\"/>\n";
      points.clear();
    };
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !usable(s.y[i])) {
        flush();
        continue;
      }
      points += svg_number(X(s.x[i])) + "," + svg_number(Y(s.y[i])) + " ";
    }
    flush();
    const double ly = top + 10 + 22.0 * double(r);
    f << "<line x1=\"" << left + pw + 14 << "\" y1=\"" << ly << "\" x2=\"" << left + pw + 40 << "\" y2=\"" << ly
      << "\" stroke=\"" << colour << "\" stroke-width=\"2.5\"/>\n"
      << "<text x=\"" << left + pw + 46 << "\" y=\"" << ly + 4 << "\">" << svg_escape(s.name) << "</text>\n";
  }
  f << "</svg>\n";
  return f.str();
}

/// Writes svg_line_plot() to `path`; throws mcsc::Error naming `program` and the file on failure.
inline void write_svg_plot(const std::string& path, const std::vector<PlotSeries>& series, const PlotOptions& o,
                           const char* program) {
  std::ofstream f(path);
  MCSC_REQUIRE(f.good(), program, "cannot write '" << path << "'");
  f << svg_line_plot(series, o);
  MCSC_REQUIRE(f.good(), program, "write error in '" << path << "'");
}

}  // namespace mcsc_examples
