/// \file task_report.cpp
/// The task harness: a run over samples and methods, its table, CSV and HTML report
/// (task_harness.hpp).
#include "task_internal.hpp"
#include "../svg_plot.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <random>
#include <set>
#include <sstream>

#include "../models.hpp"
#include "../solver_common.hpp"
#include "../training_options.hpp"
#include "mcsc/baselines/fusion.hpp"
#include "mcsc/core/memory.hpp"
#include "mcsc/baselines/guided_filter.hpp"
#include "mcsc/baselines/joint_bilateral.hpp"
#include "mcsc/metrics/fusion.hpp"
#include "mcsc/nn/cunet_dictionaries.hpp"
#include "mcsc/nn/init.hpp"
#include "mcsc/solvers/classical_multimodal.hpp"
#include "mcsc/solvers/coupled_dictionary_learning.hpp"

namespace mcsc_tasks {

using namespace internal;

// ------------------------------------------------------------------------------------ the run

namespace {
/// A panel of the report: a caption and a PNG file relative to the report.
struct Panel {
  std::string caption, file;
};

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

/// A CSV field, quoted (RFC 4180) when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string file_safe(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? char(std::tolower(c)) : '_';
  return out;
}

/// Box-downsampled copy of an image so that its longer side is at most max_side.
mcsc::Image shrink(const mcsc::Image& im, int max_side) {
  const int f = (std::max(im.width, im.height) + max_side - 1) / max_side;
  if (f <= 1) return im;
  mcsc::Image out = mcsc::make_image(im.width / f, im.height / f, im.channels);
  for (int r = 0; r < out.height; ++r)
    for (int c = 0; c < out.width; ++c)
      for (int ch = 0; ch < im.channels; ++ch) {
        double sum = 0;
        for (int i = 0; i < f; ++i)
          for (int j = 0; j < f; ++j) sum += im.at(r * f + i, c * f + j, ch);
        out.at(r, c, ch) = float(sum / (f * f));
      }
  return out;
}

/// |a - b| averaged over channels, as (H, W) host values.
std::vector<float> abs_error(const Tensor& a, const Tensor& b) {
  const auto ha = mcsc::to_host(a), hb = mcsc::to_host(b);
  const int C = int(a.extent(1)), H = int(a.extent(2)), W = int(a.extent(3));
  std::vector<float> e(std::size_t(H) * W, 0.0f);
  for (int c = 0; c < C; ++c)
    for (int i = 0; i < H; ++i)
      for (int j = 0; j < W; ++j) e[std::size_t(i) * W + j] += std::abs(float(ha(0, c, i, j) - hb(0, c, i, j))) / C;
  return e;
}

/// A dark-to-bright colour map (black, purple, red, orange, yellow, white) of v in [0, 1].
std::array<float, 3> heat(float v) {
  static const float stops[6][3] = {{0, 0, 0}, {0.35f, 0.05f, 0.5f}, {0.8f, 0.1f, 0.3f},
                                    {0.95f, 0.45f, 0.05f}, {1, 0.85f, 0.2f}, {1, 1, 1}};
  v = std::min(1.0f, std::max(0.0f, v)) * 5;
  const int k = std::min(4, int(v));
  const float t = v - float(k);
  return {stops[k][0] + t * (stops[k + 1][0] - stops[k][0]), stops[k][1] + t * (stops[k + 1][1] - stops[k][1]),
          stops[k][2] + t * (stops[k + 1][2] - stops[k][2])};
}

std::string format(double v, int precision) {
  if (std::isnan(v)) return "-";
  std::ostringstream os;
  os << std::fixed << std::setprecision(precision) << v;
  return os.str();
}
/// The columns of a trainer log (*_train_log.csv: epoch, train_loss, validation_psnr, ...,
/// seconds, ...) as series against the run's cumulative seconds; false if it cannot be read.
bool read_train_log(const fs::path& path, std::vector<double>& seconds, std::vector<double>& loss,
                    std::vector<double>& psnr) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return false;
  std::vector<std::string> header;
  {
    std::istringstream h(line);
    std::string field;
    while (std::getline(h, field, ',')) header.push_back(field);
  }
  const auto column = [&](const std::string& name) {
    return int(std::find(header.begin(), header.end(), name) - header.begin());
  };
  const int c_loss = column("train_loss"), c_psnr = column("validation_psnr"), c_seconds = column("seconds");
  if (c_seconds >= int(header.size()) || c_loss >= int(header.size())) return false;
  double total = 0;
  while (std::getline(in, line)) {
    std::vector<double> values;
    std::istringstream row(line);
    std::string field;
    for (int k = 0; k <= std::max({c_loss, c_psnr, c_seconds}) && std::getline(row, field, ','); ++k) {
      char* end = nullptr;
      const double v = std::strtod(field.c_str(), &end);
      values.push_back(end != field.c_str() ? v : std::numeric_limits<double>::quiet_NaN());
    }
    if (int(values.size()) <= std::max(c_loss, c_seconds)) continue;
    total += values[std::size_t(c_seconds)];
    seconds.push_back(total);
    loss.push_back(values[std::size_t(c_loss)]);
    psnr.push_back(c_psnr < int(values.size()) ? values[std::size_t(c_psnr)] : std::numeric_limits<double>::quiet_NaN());
  }
  return !seconds.empty();
}

/// Plots of the trainer logs under `dir` (validation PSNR, and training loss on a log scale,
/// against training time), written as SVG beside the report; the HTML that shows them, or ""
/// when the run trained nothing.
std::string write_training_curves(const fs::path& dir) {
  std::vector<mcsc_examples::PlotSeries> psnr_lines, loss_lines;
  std::error_code ec;
  std::vector<fs::path> logs;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it.depth() > 2) it.disable_recursion_pending();
    const std::string name = it->path().filename().string();
    if (it->is_regular_file(ec) && name.size() > 14 && name.compare(name.size() - 14, 14, "_train_log.csv") == 0)
      logs.push_back(it->path());
  }
  std::sort(logs.begin(), logs.end());
  for (const auto& log : logs) {
    mcsc_examples::PlotSeries p, l;
    std::vector<double> seconds;
    if (!read_train_log(log, seconds, l.y, p.y)) continue;
    p.name = l.name = fs::relative(log, dir, ec).string();
    p.x = l.x = seconds;
    psnr_lines.push_back(std::move(p));
    loss_lines.push_back(std::move(l));
  }
  if (psnr_lines.empty()) return "";
  mcsc_examples::PlotOptions o;
  o.x_label = "training time (s)";
  o.title = "Validation PSNR per epoch";
  o.y_label = "PSNR (dB) on the held-back pairs";
  mcsc_examples::write_svg_plot((dir / "training_psnr.svg").string(), psnr_lines, o, "task report");
  o.title = "Training loss per epoch";
  o.y_label = "loss (log scale)";
  o.log_y = true;
  mcsc_examples::write_svg_plot((dir / "training_loss.svg").string(), loss_lines, o, "task report");
  return "<div class=\"grid\"><img src=\"training_psnr.svg\" alt=\"validation PSNR against training time\" "
         "style=\"width:560px\"><img src=\"training_loss.svg\" alt=\"training loss against training time\" "
         "style=\"width:560px\"></div>\n";
}
}  // namespace

struct TaskRun::Impl {
  std::string title, output_dir, description;
  std::vector<Metric> metrics;
  Layout layout;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> methods, images;  // per group, in order
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<double>> values;
  std::map<std::tuple<std::string, std::string, std::string>, double> seconds;
  std::map<std::pair<std::string, std::string>, std::vector<Panel>> panels;  // (group, image)
  std::map<std::pair<std::string, std::string>, std::vector<Panel>> part_panels;

  std::string write_png(const std::string& group, const std::string& image, const std::string& what,
                        const mcsc::Image& picture) const {
    const std::string rel = "images/" + file_safe(group.empty() ? image : group + "_" + image) + "_" + file_safe(what) + ".png";
    fs::create_directories(fs::path(output_dir) / "images");
    mcsc::write_png((fs::path(output_dir) / rel).string(), shrink(picture, 640));
    return rel;
  }

  double average(const std::string& group, const std::string& method, int metric) const {
    double sum = 0;
    int n = 0;
    for (const auto& image : images.at(group)) {
      auto it = values.find({group, method, image});
      if (it == values.end() || std::isnan(it->second[std::size_t(metric)])) continue;
      sum += it->second[std::size_t(metric)];
      ++n;
    }
    return n ? sum / n : std::numeric_limits<double>::quiet_NaN();
  }
};

TaskRun::TaskRun(std::string title, std::string output_dir, std::vector<Metric> metrics, Layout layout)
    : m(std::make_unique<Impl>()) {
  m->title = std::move(title);
  m->output_dir = std::move(output_dir);
  m->metrics = std::move(metrics);
  m->layout = layout;
  fs::create_directories(m->output_dir);
}
TaskRun::~TaskRun() = default;

void TaskRun::set_description(const std::string& text) { m->description = text; }

void TaskRun::evaluate(const std::vector<Sample>& samples, const std::vector<Method>& methods, const std::string& group) {
  if (std::find(m->groups.begin(), m->groups.end(), group) == m->groups.end()) m->groups.push_back(group);
  auto& method_list = m->methods[group];
  auto& image_list = m->images[group];
  for (const auto& method : methods)
    if (std::find(method_list.begin(), method_list.end(), method.name) == method_list.end())
      method_list.push_back(method.name);
  for (const auto& s : samples) {
    if (std::find(image_list.begin(), image_list.end(), s.name) == image_list.end()) image_list.push_back(s.name);
    auto& panels = m->panels[{group, s.name}];
    auto& parts = m->part_panels[{group, s.name}];
    panels.push_back({s.x_caption, m->write_png(group, s.name, "input_x", mcsc::tensor_to_image(s.x))});
    panels.push_back({s.y_caption, m->write_png(group, s.name, "input_y", mcsc::tensor_to_image(s.y))});
    if (s.guide_color.data())
      panels.push_back({"colour guide", m->write_png(group, s.name, "guide_color", mcsc::tensor_to_image(s.guide_color))});
    if (s.target.data())
      panels.push_back({"ground truth", m->write_png(group, s.name, "ground_truth", mcsc::tensor_to_image(s.target))});
    float error_scale = 0;
    std::vector<Panel> error_panels;
    for (const auto& method : methods) {
      const auto t0 = Clock::now();
      const Output out = method.run(s);
      Kokkos::fence();
      const double secs = seconds_since(t0);
      mcsc::require_finite(("the output of " + method.name).c_str(), out.image);
      std::vector<double> scores;
      for (const auto& metric : m->metrics) scores.push_back(metric.eval(s, out.image));
      m->values[{group, method.name, s.name}] = scores;
      m->seconds[{group, method.name, s.name}] = secs;
      std::cerr << "  " << (group.empty() ? "" : group + ", ") << s.name << ", " << method.name << ":";
      for (std::size_t k = 0; k < scores.size(); ++k)
        std::cerr << " " << m->metrics[k].name << " " << format(scores[k], m->metrics[k].precision);
      std::cerr << " (" << std::fixed << std::setprecision(2) << secs << " s)" << std::defaultfloat << "\n";
      panels.push_back({method.name, m->write_png(group, s.name, method.name, mcsc::tensor_to_image(out.image))});
      if (s.target.data()) {
        auto e = abs_error(out.image, s.target);
        if (error_scale == 0) {  // the first method's 99th percentile sets the scale of this image's maps
          std::vector<float> sorted = e;
          std::nth_element(sorted.begin(), sorted.begin() + std::ptrdiff_t(sorted.size() * 99 / 100), sorted.end());
          error_scale = std::max(sorted[sorted.size() * 99 / 100], 1e-6f);
        }
        const int H = int(s.target.extent(2)), W = int(s.target.extent(3));
        mcsc::Image map = mcsc::make_image(W, H, 3);
        for (int i = 0; i < H; ++i)
          for (int j = 0; j < W; ++j) {
            const auto rgb = heat(e[std::size_t(i) * W + j] / error_scale);
            for (int c = 0; c < 3; ++c) map.at(i, j, c) = rgb[std::size_t(c)];
          }
        std::ostringstream caption;
        caption << "|error| of " << method.name << " (white = " << std::setprecision(3) << error_scale * s.display_scale
                << (s.display_scale == 255 ? " of 255" : "") << ")";
        error_panels.push_back({caption.str(), m->write_png(group, s.name, "error_" + method.name, map)});
      }
      for (const auto& [part_name, part] : out.parts)
        parts.push_back({method.name + ": " + part_name,
                         m->write_png(group, s.name, method.name + "_" + part_name, mcsc::tensor_to_image(part, 0, true))});
    }
    panels.insert(panels.end(), error_panels.begin(), error_panels.end());
  }
}

double TaskRun::value(const std::string& group, const std::string& method, const std::string& image, int metric) const {
  if (image == "Average") return m->images.count(group) ? m->average(group, method, metric) : std::nan("");
  auto it = m->values.find({group, method, image});
  return it == m->values.end() ? std::nan("") : it->second[std::size_t(metric)];
}

void TaskRun::print(std::ostream& os) const {
  const auto& metrics = m->metrics;
  const int cell = 9;
  std::string metric_header;
  for (const auto& metric : metrics) metric_header += (metric_header.empty() ? "" : " ") + metric.name;
  os << "\n" << m->title << "\n";
  if (m->layout == Layout::methods_as_rows) {
    for (const auto& group : m->groups) {
      const auto& images = m->images.at(group);
      std::size_t name_width = 8;
      for (const auto& method : m->methods.at(group)) name_width = std::max(name_width, method.size() + 1);
      const int group_width = int(metrics.size()) * (cell + 1) - 1;
      if (!group.empty()) os << "\n" << group << "\n";
      os << std::left << std::setw(int(name_width)) << "" << std::right;
      for (const auto& image : images) os << " | " << std::setw(group_width) << image.substr(0, std::size_t(group_width));
      os << " | " << std::setw(group_width) << "Average" << "\n";
      os << std::left << std::setw(int(name_width)) << "Method" << std::right;
      for (std::size_t k = 0; k <= images.size(); ++k) {
        os << " |";
        for (const auto& metric : metrics) os << " " << std::setw(cell) << metric.name;
      }
      os << "\n" << std::string(name_width + (images.size() + 1) * std::size_t(group_width + 3), '-') << "\n";
      for (const auto& method : m->methods.at(group)) {
        os << std::left << std::setw(int(name_width)) << method << std::right;
        for (std::size_t k = 0; k <= images.size(); ++k) {
          os << " |";
          for (std::size_t q = 0; q < metrics.size(); ++q)
            os << " " << std::setw(cell)
               << format(value(group, method, k < images.size() ? images[k] : "Average", int(q)), metrics[q].precision);
        }
        os << "\n";
      }
    }
  } else {
    // Column groups: (method, group) pairs, ordered by method then group (LMCSC Table 1: x2 x4 per method).
    std::vector<std::pair<std::string, std::string>> columns;
    std::vector<std::string> all_images;
    for (const auto& group : m->groups) {
      for (const auto& image : m->images.at(group))
        if (std::find(all_images.begin(), all_images.end(), image) == all_images.end()) all_images.push_back(image);
    }
    std::vector<std::string> all_methods;
    for (const auto& group : m->groups)
      for (const auto& method : m->methods.at(group))
        if (std::find(all_methods.begin(), all_methods.end(), method) == all_methods.end()) all_methods.push_back(method);
    for (const auto& method : all_methods)
      for (const auto& group : m->groups) {
        const auto& ms = m->methods.at(group);
        if (std::find(ms.begin(), ms.end(), method) != ms.end()) columns.push_back({method, group});
      }
    const int group_width = int(metrics.size()) * (cell + 1) - 1;
    os << std::left << std::setw(10) << "" << std::right;
    for (const auto& [method, group] : columns) {
      const std::string head = group.empty() ? method : method + " " + group;
      os << " | " << std::setw(group_width) << head.substr(0, std::size_t(group_width));
    }
    os << "\n" << std::left << std::setw(10) << "Image" << std::right;
    for (std::size_t k = 0; k < columns.size(); ++k) {
      os << " |";
      for (const auto& metric : metrics) os << " " << std::setw(cell) << metric.name;
    }
    os << "\n" << std::string(10 + columns.size() * std::size_t(group_width + 3), '-') << "\n";
    auto rows = all_images;
    rows.push_back("Average");
    for (const auto& image : rows) {
      os << std::left << std::setw(10) << image.substr(0, 10) << std::right;
      for (const auto& [method, group] : columns) {
        os << " |";
        for (std::size_t q = 0; q < metrics.size(); ++q)
          os << " " << std::setw(cell) << format(value(group, method, image, int(q)), metrics[q].precision);
      }
      os << "\n";
    }
  }
  os.flush();
}

std::string TaskRun::write() const {
  const fs::path dir(m->output_dir);
  {
    std::ofstream csv(dir / "results.csv");
    csv << "group,method,image";
    for (const auto& metric : m->metrics) csv << "," << metric.name;
    csv << ",seconds\n";
    for (const auto& group : m->groups)
      for (const auto& method : m->methods.at(group)) {
        for (const auto& image : m->images.at(group)) {
          auto it = m->values.find({group, method, image});
          if (it == m->values.end()) continue;
          csv << csv_field(group) << "," << csv_field(method) << "," << csv_field(image);
          for (double v : it->second) csv << "," << std::setprecision(8) << v;
          csv << "," << m->seconds.at({group, method, image}) << "\n";
        }
        csv << csv_field(group) << "," << csv_field(method) << ",Average";
        for (std::size_t q = 0; q < m->metrics.size(); ++q) csv << "," << std::setprecision(8) << m->average(group, method, int(q));
        csv << ",\n";
      }
  }
  {
    std::ofstream txt(dir / "table.txt");
    print(txt);
  }
  const fs::path report = dir / "report.html";
  std::ofstream html(report);
  html << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" << html_escape(m->title) << "</title>\n"
       << "<style>body{font-family:sans-serif;margin:1.5em;max-width:1400px}table{border-collapse:collapse;margin:1em 0}"
          "td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}td.l,th.l{text-align:left}"
          "td.best{font-weight:bold;background:#e6f4e6}.grid{display:flex;flex-wrap:wrap;gap:10px}"
          "figure{margin:0;width:260px}figure img{width:260px;image-rendering:pixelated;border:1px solid #ccc}"
          "figcaption{font-size:12px}</style></head><body>\n";
  html << "<h1>" << html_escape(m->title) << "</h1>\n";
  if (!m->description.empty()) html << "<p>" << html_escape(m->description) << "</p>\n";
  for (const auto& group : m->groups) {
    const auto& images = m->images.at(group);
    if (!group.empty()) html << "<h2>" << html_escape(group) << "</h2>\n";
    html << "<table><tr><th class=\"l\" rowspan=\"2\">Method</th>";
    for (const auto& image : images) html << "<th colspan=\"" << m->metrics.size() << "\">" << html_escape(image) << "</th>";
    html << "<th colspan=\"" << m->metrics.size() << "\">Average</th></tr><tr>";
    for (std::size_t k = 0; k <= images.size(); ++k)
      for (const auto& metric : m->metrics) html << "<th>" << html_escape(metric.name) << "</th>";
    html << "</tr>\n";
    for (const auto& method : m->methods.at(group)) {
      html << "<tr><td class=\"l\">" << html_escape(method) << "</td>";
      for (std::size_t k = 0; k <= images.size(); ++k) {
        const std::string image = k < images.size() ? images[k] : "Average";
        for (std::size_t q = 0; q < m->metrics.size(); ++q) {
          const double v = value(group, method, image, int(q));
          bool best = !std::isnan(v);
          for (const auto& other : m->methods.at(group)) {
            const double w = value(group, other, image, int(q));
            if (!std::isnan(w) && (m->metrics[q].higher_is_better ? w > v : w < v)) best = false;
          }
          html << "<td" << (best ? " class=\"best\"" : "") << ">" << format(v, m->metrics[q].precision) << "</td>";
        }
      }
      html << "</tr>\n";
    }
    html << "</table>\n";
    for (const auto& image : images) {
      html << "<h3>" << html_escape(image) << (group.empty() ? "" : " (" + html_escape(group) + ")") << "</h3>\n<div class=\"grid\">\n";
      for (const auto& p : m->panels.at({group, image}))
        html << "<figure><img src=\"" << p.file << "\" alt=\"" << html_escape(p.caption) << "\"><figcaption>"
             << html_escape(p.caption) << "</figcaption></figure>\n";
      html << "</div>\n";
      const auto& parts = m->part_panels.at({group, image});
      if (!parts.empty()) {
        html << "<h4>Common and unique reconstructions (min-max normalised)</h4>\n<div class=\"grid\">\n";
        for (const auto& p : parts)
          html << "<figure><img src=\"" << p.file << "\" alt=\"" << html_escape(p.caption) << "\"><figcaption>"
               << html_escape(p.caption) << "</figcaption></figure>\n";
        html << "</div>\n";
      }
    }
  }
  const std::string curves = write_training_curves(dir);
  if (!curves.empty())
    html << "<h2>Training curves</h2>\n<p>The networks trained in this run (their logs: *_train_log.csv).</p>\n" << curves;
  html << "<p>Written by mcsc. Tables: " << "<a href=\"results.csv\">results.csv</a>, <a href=\"table.txt\">table.txt</a>.</p>\n</body></html>\n";
  return report.string();
}

}  // namespace mcsc_tasks
