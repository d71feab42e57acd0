#pragma once
/// \file progress.hpp
/// A one-line progress bar for long work: bar, percentage, rate, ETA and a caller's note
/// ("[epoch 3/10] [#########.........]  45%  812.3 patches/s  ETA 0:12  loss 1.23e-03"),
/// redrawn at most every 0.2 s on a terminal, or printed every 10 % otherwise (logs, CI).
#include <chrono>
#include <cstdio>
#include <string>

#include <unistd.h>

namespace mcsc {

class ProgressBar {
 public:
  /// total: units of work; unit: what a unit is called in the rate ("patches").
  ProgressBar(std::string label, std::int64_t total, std::string unit, bool enabled = true, std::FILE* out = stderr)
      : m_label(std::move(label)), m_unit(std::move(unit)), m_total(total > 0 ? total : 1), m_enabled(enabled),
        m_out(out), m_tty(::isatty(::fileno(out)) != 0), m_start(clock::now()), m_last(m_start) {}

  /// Reports `done` units finished (cumulative) with a note shown at the end of the line.
  void update(std::int64_t done, const std::string& note = {}) {
    if (!m_enabled) return;
    const auto now = clock::now();
    const int decile = int(10 * done / m_total);
    const bool due = m_tty ? std::chrono::duration<double>(now - m_last).count() >= 0.2 || done >= m_total
                           : decile > m_printed_decile;
    if (!due) return;
    m_last = now;
    m_printed_decile = decile;
    draw(done, note, now);
  }
  /// Final line (always printed when enabled).
  void finish(const std::string& note = {}) {
    if (!m_enabled) return;
    draw(m_total, note, clock::now());
    if (m_tty) std::fputc('\n', m_out);
    std::fflush(m_out);
  }
  double elapsed_seconds() const { return std::chrono::duration<double>(clock::now() - m_start).count(); }

 private:
  using clock = std::chrono::steady_clock;
  void draw(std::int64_t done, const std::string& note, clock::time_point now) {
    const double seconds = std::chrono::duration<double>(now - m_start).count();
    const double rate = seconds > 0 ? double(done) / seconds : 0;
    const double eta = rate > 0 ? double(m_total - done) / rate : 0;
    constexpr int width = 24;
    const int filled = int(width * done / m_total);
    std::string bar(std::size_t(filled), '#');
    bar.append(std::size_t(width - filled), '.');
    std::fprintf(m_out, "%s%s [%s] %3d%%  %.1f %s/s  ETA %d:%02d  %s%s", m_tty ? "\r" : "", m_label.c_str(),
                 bar.c_str(), int(100 * done / m_total), rate, m_unit.c_str(), int(eta) / 60, int(eta) % 60,
                 note.c_str(), m_tty ? "\033[K" : "\n");
    std::fflush(m_out);
  }
  std::string m_label, m_unit;
  std::int64_t m_total;
  bool m_enabled;
  std::FILE* m_out;
  bool m_tty;
  int m_printed_decile = -1;
  clock::time_point m_start, m_last;
};

}  // namespace mcsc
