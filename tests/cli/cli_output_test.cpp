// SPDX-License-Identifier: Apache-2.0
// What a user reads: progress in a log file, tables within 100 columns, and pictures whose labels
// stay on the canvas without overlapping (every SVG the command writes).
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "cli_support.hpp"
#include "svg_layout.hpp"

using namespace beacon_cli_test;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::size_t widest_line(const std::string& text) {
  std::size_t widest = 0, n = 0;
  for (unsigned char c : text) {
    if (c == '\n') widest = std::max(widest, n), n = 0;
    else n += (c & 0xC0) != 0x80;
  }
  return std::max(widest, n);
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

std::string problems_of(const std::string& svg) {
  std::string s;
  for (const auto& p : svg_layout_problems(svg)) s += p + "\n";
  return s;
}

}  // namespace

TEST_CASE("the SVG layout check finds labels off the canvas and overlapping labels (the check can fail)") {
  const std::string head = "<svg xmlns='http://www.w3.org/2000/svg' width='200' height='100'>";
  CHECK(svg_layout_problems(head + "<text x='10' y='20' font-size='12'>fine</text><text x='10' y='40' font-size='12'>also fine</text></svg>").empty());
  CHECK(svg_layout_problems(head + "<text x='10' y='20' font-size='12'>one</text><text x='20' y='24' font-size='12'>two</text></svg>").size() == 1);
  CHECK(svg_layout_problems(head + "<text x='150' y='20' font-size='12'>runs off the right edge</text></svg>").size() == 1);
  CHECK(svg_layout_problems(head + "<text x='100' y='20' font-size='12' text-anchor='end'>a long right-aligned one</text></svg>").size() == 1);
  // Rotated labels 40 px apart do not touch (they run down-left from their anchors); unrotated they would.
  const std::string rotated = "<text x='100' y='12' font-size='12' text-anchor='end' transform='rotate(-40 100 12)'>lemoe+anchors</text>"
                              "<text x='140' y='12' font-size='12' text-anchor='end' transform='rotate(-40 140 12)'>lemoe+keys</text></svg>";
  CHECK(svg_layout_problems(head + rotated).empty());
  CHECK(svg_layout_problems(head + "<text x='100' y='90' font-size='12' text-anchor='end'>lemoe+anchors</text>"
                                   "<text x='140' y='90' font-size='12' text-anchor='end'>lemoe+keys</text></svg>")
            .size() == 1);
}

TEST_CASE("schedule pictures: ticks, a legend beside the plot with 3 significant digits, no label overlaps") {
  const std::string svg = scratch("layout-schedule.svg");
  for (const std::string args : {"--kind info --steps 2000 --sentence \"what university did the geologist attend\"", "--kind cosine --steps 200",
                                 "--kind info --steps 50 --e 0.5,-0.5,0,0.123456789", "--kind linear --steps 1000"}) {
    CAPTURE(args);
    const auto r = run("schedule " + args + " --format svg --out " + svg);
    REQUIRE(r.code == 0);
    const std::string text = read_text(svg);
    CHECK(problems_of(text) == "");
    CHECK(text.find("0.0250000") == std::string::npos);  // no unrounded floats
  }
  const std::string text = read_text(svg);  // linear: x ticks 0, 200, ..., 800
  CHECK(text.find(">800</text>") != std::string::npos);
  const auto r = run("schedule --kind info --steps 50 --e 0.123456789,0.123456789,-0.5 --format svg --out " + svg);
  REQUIRE(r.code == 0);
  const std::string e = read_text(svg);
  CHECK(e.find("e = 0.123") != std::string::npos);
  CHECK(count_of(e, "<polyline") == 3);
  CHECK(count_of(e, "stroke-dasharray") >= 2);  // line styles differ beyond colour
  // Two tokens with the same information share one curve and one legend entry.
  REQUIRE(run("schedule --kind info --steps 100 --sentence \"the the school\" --format svg --out " + svg).code == 0);
  CHECK(count_of(read_text(svg), "<polyline") == 2);
}

TEST_CASE("edit-bench in a log file: one plain line per step, a table within 100 columns, a picture without overlaps") {
  const std::string out = scratch("log-out.txt"), err = scratch("log-err.txt"), svg = scratch("layout-eb.svg");
  const std::string args = " edit-bench --edits 60 --steps 3 --orders 2 --methods ft,lemoe,lemoe+instance-anchors+plan --max-iters 30 --seed 5";
  const auto r = run_shell(std::string(BEACON_CLI) + args + " --svg " + svg + " > " + out + " 2> " + err);
  REQUIRE(r.code == 0);
  const std::string o = read_text(out), e = read_text(err);
  CHECK(widest_line(o) <= 100);
  CHECK(o.find("lemoe+instance-anchors+plan") != std::string::npos);
  CHECK(o.find("\u00b1") != std::string::npos);  // two orders: mean and spread
  // No redraws in a file: no carriage returns or escape sequences, at most one line per step.
  CHECK(e.find('\r') == std::string::npos);
  CHECK(e.find('\033') == std::string::npos);
  CHECK(count_of(e, "ft random:1005: step") <= 3);
  CHECK(count_of(e, "ft random:1005: step 3/3 done") == 1);
  CHECK(count_of(e, "lemoe+instance-anchors+plan planned: step 3/3 done") == 1);
  CHECK(e.find("elapsed") != std::string::npos);
  const std::string picture = read_text(svg);
  CHECK(problems_of(picture) == "");
  CHECK(picture.find("bars: +- 1 std") != std::string::npos);               // error bars over the two orders
  CHECK(picture.find("training iterations per editing step") != std::string::npos);
  CHECK(picture.find("lemoe+instance-anchors+plan (RC") != std::string::npos);  // a routing matrix per routed method
  CHECK(count_of(picture, "rotate(-40") == 3);                                // the method labels

  // --quiet: nothing on standard error.
  const auto q = run_shell(std::string(BEACON_CLI) + args + " --quiet > " + out + " 2> " + err);
  REQUIRE(q.code == 0);
  CHECK(read_text(err) == "");
}

TEST_CASE("kmeans and plan: progress lines in a log, --quiet silences them") {
  const std::string npy = scratch("progress.npy"), err = scratch("progress-err.txt");
  // 40 x 2 float64 points written as .npy by hand (no numpy needed).
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (40, 2), }";
  header += std::string(128 - 10 - header.size() - 1, ' ') + "\n";
  std::ofstream f(npy, std::ios::binary);
  f.write("\x93NUMPY\x01\x00", 8);
  const char len[2] = {static_cast<char>(header.size() & 0xFF), static_cast<char>(header.size() >> 8)};
  f.write(len, 2);
  f << header;
  for (int i = 0; i < 40; ++i) {
    const double xy[2] = {static_cast<double>(i % 4) * 10 + i * 0.01, static_cast<double>(i % 3)};
    f.write(reinterpret_cast<const char*>(xy), sizeof xy);
  }
  f.close();
  auto r = run_shell(std::string(BEACON_CLI) + " kmeans --input " + npy + " --k 4 --n-init 3 --json - > /dev/null 2> " + err);
  REQUIRE(r.code == 0);
  const std::string e = read_text(err);
  CHECK(count_of(e, "k-means in float64 (restarts): step 3/3 done") == 1);  // the file is float64, and the label says so
  CHECK(e.find('\r') == std::string::npos);
  r = run_shell(std::string(BEACON_CLI) + " plan --input " + npy + " --batch 10 --quiet --json - > /dev/null 2> " + err);
  REQUIRE(r.code == 0);
  CHECK(read_text(err) == "");
}

TEST_CASE("inspect: the report fits 100 columns, long JSON values wrapped after commas") {
  const std::string ckpt = scratch("wide.safetensors");
  REQUIRE(run("edit-bench --quiet --edits 80 --steps 40 --methods lemoe+instance-anchors --max-iters 5 --save " + ckpt).code == 0);
  const auto r = run("inspect " + ckpt);
  REQUIRE(r.code == 0);
  CHECK(widest_line(r.out) <= 100);
  CHECK(r.out.find("\"seed\":0}") != std::string::npos);       // the config is all there, wrapped
  CHECK(r.out.find("per expert [2,2,2") != std::string::npos);  // 40 experts of 2 anchors
  CHECK(count_of(r.out, "\n           ") >= 2);                  // continuation lines, indented
}

TEST_CASE("on a terminal the progress line is redrawn in place, with elapsed time and ETA") {
  // util-linux `script` runs the command on a pseudo-terminal (Debian's bsdutils, always installed).
  if (run_shell("command -v script > /dev/null 2>&1").code != 0) {
    MESSAGE("SKIPPED: no `script` command to provide a pseudo-terminal");
    return;
  }
  const std::string typescript = scratch("tty.txt");
  const auto r = run_shell("script -qec '" + std::string(BEACON_CLI) + " edit-bench --edits 60 --steps 3 --methods lemoe --max-iters 40' " + typescript +
                           " > /dev/null 2>&1");
  REQUIRE(r.code == 0);
  const std::string t = read_text(typescript);
  CHECK(count_of(t, "\r\033[2K") >= 2);  // redrawn in place, not one line per update
  CHECK(t.find("elapsed") != std::string::npos);
  CHECK(t.find("ETA") != std::string::npos);
  CHECK(t.find("step 1/3 done") == std::string::npos);  // the log-file form is not used on a terminal
}
