// SPDX-License-Identifier: Apache-2.0
#pragma once
// Progress on standard error for the `beacon` command's long work.
//
// On a terminal one line is redrawn in place (at most 10 times a second), with a bar, the elapsed
// time and an ETA, cut to the terminal's width. Anywhere else (a log file, CI) nothing is redrawn:
// one plain line is printed when a step ends, at most one per step and no more often than every
// 2 seconds or 5 % of the task, plus the last. `--quiet` turns it off.

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

namespace beacon::cli {

/// "1:05", "12:00:03": elapsed and remaining times at a glance.
inline std::string clock_text(double seconds) {
  if (!(seconds >= 0) || seconds > 360000) return "--:--";
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  return buf;
}

class progress {
 public:
  using clock = std::chrono::steady_clock;

  /// `on` false: silent (--quiet). `terminal`: redraw in place; default: whether stderr is a terminal.
  explicit progress(bool on = true, int terminal = -1) : on_(on), terminal_(terminal < 0 ? ::isatty(2) == 1 : terminal == 1) {}

  [[nodiscard]] bool on() const { return on_; }
  [[nodiscard]] bool terminal() const { return terminal_; }

  /// Starts a task of `steps` steps (an editing run, pre-training epochs, k-means restarts).
  void begin(std::string label, long long steps) {
    finish();
    label_ = std::move(label);
    steps_ = std::max(1LL, steps);
    done_ = 0, printed_ = 0, iteration_ = 0, loss_ = 0;
    started_ = last_draw_ = last_line_ = clock::now();
    active_ = true;
  }

  /// Within step `step` (0-based), after iteration `iteration` with this loss. A larger step than
  /// before means the earlier ones ended.
  void update(long long step, long long iteration, double loss) {
    if (!active_) return;
    while (done_ < std::min(step, steps_)) step_ended(done_ + 1, false);
    iteration_ = iteration, loss_ = loss;
    in_step_ = true;
    if (on_ && terminal_) {
      const auto now = clock::now();
      if (std::chrono::duration<double>(now - last_draw_).count() >= 0.1) {
        last_draw_ = now;
        draw();
      }
    }
  }

  /// The current step ended after `iteration` iterations with this loss (for callers that know).
  void step_done(long long iteration, double loss) {
    if (!active_) return;
    iteration_ = iteration, loss_ = loss, in_step_ = false;
    step_ended(std::min(done_ + 1, steps_), false);
    if (on_ && terminal_) draw();
  }

  /// Ends the task (the step in progress, if any, ended): a log gets the last step's line if it was
  /// not printed yet; the terminal line is cleared.
  void finish() {
    if (!active_) return;
    if (in_step_) step_ended(std::min(done_ + 1, steps_), false);
    if (printed_ < done_) step_ended(done_, true);
    if (on_ && terminal_) {
      std::fputs("\r\033[2K", stderr);
      std::fflush(stderr);
    }
    active_ = false;
  }

  ~progress() { finish(); }
  progress(const progress&) = delete;
  progress& operator=(const progress&) = delete;

 private:
  [[nodiscard]] double elapsed() const { return std::chrono::duration<double>(clock::now() - started_).count(); }
  [[nodiscard]] std::string eta() const {
    if (done_ == 0) return "--:--";
    const double t = elapsed();
    return clock_text(t / static_cast<double>(done_) * static_cast<double>(steps_ - done_));
  }
  [[nodiscard]] std::string detail() const {
    char buf[96];
    std::snprintf(buf, sizeof buf, "iter %lld  loss %.4g", iteration_, loss_);
    return buf;
  }

  void step_ended(long long done, bool force) {
    done_ = done;
    in_step_ = false;
    if (!on_ || terminal_) return;
    const auto now = clock::now();
    const bool last = done_ == steps_;
    const bool due = std::chrono::duration<double>(now - last_line_).count() >= 2.0 || 20 * (done_ - printed_) >= steps_;
    if (!last && !due && !force) return;
    last_line_ = now, printed_ = done_;
    std::fprintf(stderr, "%s: step %lld/%lld done (%s), elapsed %s, %s\n", label_.c_str(), done_, steps_, detail().c_str(),
                 clock_text(elapsed()).c_str(), last ? "finished" : force ? "finished early" : ("ETA " + eta()).c_str());
    std::fflush(stderr);
  }

  void draw() const {
    const int bar = 20;
    const auto filled = static_cast<std::size_t>(bar * done_ / steps_);
    std::string line = label_ + " [" + std::string(filled, '#') + std::string(static_cast<std::size_t>(bar) - filled, '.') + "] " +
                       std::to_string(std::min(done_ + 1, steps_)) + "/" + std::to_string(steps_) + "  " + detail() + "  elapsed " +
                       clock_text(elapsed()) + "  ETA " + eta();
    line.resize(std::min(line.size(), columns() - 1));
    std::fprintf(stderr, "\r\033[2K%s", line.c_str());
    std::fflush(stderr);
  }

  static std::size_t columns() {
    winsize w{};
    if (::ioctl(2, TIOCGWINSZ, &w) == 0 && w.ws_col > 10) return w.ws_col;
    return 100;
  }

  bool on_, terminal_, active_ = false, in_step_ = false;
  std::string label_;
  long long steps_ = 1, done_ = 0, printed_ = 0, iteration_ = 0;
  double loss_ = 0;
  clock::time_point started_{}, last_draw_{}, last_line_{};
};

}  // namespace beacon::cli
