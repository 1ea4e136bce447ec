// SPDX-License-Identifier: Apache-2.0
// The `beacon` command against hostile input (issue #16): every cause the hardening review found has
// a test here or in tests/cpu/hardening_test.cpp. The exit-code contract: 0 success, 1 bad data or a
// failed read/write, 2 bad usage; one line on stderr naming the argument or path.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <beacon/backend/cpu.hpp>
#include <beacon/io/adaptor_checkpoint.hpp>
#include <beacon/io/npy.hpp>
#include <beacon/moe.hpp>

#include "cli_support.hpp"
#include "support/rewrite_checkpoint.hpp"

using beacon_cli_test::run;
using beacon_cli_test::run_shell;
using beacon_cli_test::scratch;
namespace fs = std::filesystem;

namespace {
std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
std::string small_npy() {
  const std::string path = scratch("small.npy");
  std::vector<double> x;
  for (int i = 0; i < 12; ++i) x.insert(x.end(), {double(i % 3), double(i) * 0.1});
  beacon::io::write_npy(path, x, 12, 2);
  return path;
}
std::size_t leftovers(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().filename().string().find(".tmp-") != std::string::npos;
  return n;
}
using small_adaptor = beacon::moe::adaptor<float, beacon::moe::kv_anchor_router<beacon::moe::top_k<1>>, beacon::moe::swiglu_expert, beacon::cpu>;
/// A two-expert checkpoint with one metadata value replaced (the checksum stays valid).
std::string checkpoint_with(const std::string& name, const std::string& key, const std::string& value) {
  small_adaptor a(beacon::cpu{1}, {.d_model = 4, .expert_hidden = 3});
  for (int e = 0; e < 2; ++e) a.insert_expert(beacon::moe::expert_init<float>::random_normal(static_cast<std::uint64_t>(e)), {});
  const std::string path = scratch(name);
  beacon::io::save_adaptor(a, path);
  if (!key.empty()) beacon_test::rewrite_checkpoint(path, {{key, value}});
  return path;
}
}  // namespace

TEST_CASE("every output is checked: a full device behind --json, --out, --save or standard output exits 1 naming it") {
  const std::string x = small_npy();
  auto r = run("kmeans --input " + x + " --k 2 --json /dev/full");
  CHECK(r.code == 1);
  CHECK(r.out.find("'/dev/full'") != std::string::npos);
  CHECK(r.out.find("No space left on device") != std::string::npos);
  r = run_shell(std::string(BEACON_CLI) + " kmeans --input " + x + " --k 2 2>&1 >/dev/full");
  CHECK(r.code == 1);
  CHECK(r.out.find("standard output") != std::string::npos);
  CHECK(run("schedule --kind sqrt --steps 100 --out /dev/full").code == 1);
  CHECK(run("schedule --kind sqrt --steps 100 --out /dev/null").code == 0);
  CHECK(fs::is_character_file("/dev/null"));  // written through, not renamed over
  r = run("edit-bench --quiet --edits 12 --steps 2 --methods lemoe --max-iters 2 --save /dev/full");
  CHECK(r.code == 1);
  CHECK(r.out.find("No space left on device") != std::string::npos);
  r = run("edit-bench --quiet --edits 12 --steps 2 --methods lemoe --max-iters 2 --json " + scratch("no-such-folder") + "/out.json");
  CHECK(r.code == 1);  // refused before the run, not after it
  CHECK(r.out.find("--json") != std::string::npos);
  CHECK(run("schedule --kind sqrt --steps 10 --out " + fs::path(scratch("x")).parent_path().string()).code == 1);  // a directory
}

TEST_CASE("a failed write keeps the previous file and leaves no temporary file (file-size limit, EFBIG)") {
  const std::string out = scratch("kept.json");
  std::ofstream(out) << "{\"previous\": true}\n";
  const std::string before = slurp(out);
  // `ulimit -f 8`: 8 KiB at most per file; the schedule's JSON is ~400 KB. SIGXFSZ ignored, so write() fails with EFBIG.
  const auto r = run_shell("bash -c 'trap \"\" XFSZ; ulimit -f 8; " + std::string(BEACON_CLI) + " schedule --kind sqrt --steps 2000 --out " + out +
                           "' 2>&1");
  CHECK(r.code == 1);
  CHECK(r.out.find("File too large") != std::string::npos);
  CHECK(slurp(out) == before);
  CHECK(leftovers(fs::path(out).parent_path().string()) == 0);
  // The same command without the limit replaces the file.
  CHECK(run("schedule --kind sqrt --steps 2000 --out " + out).code == 0);
  CHECK(nlohmann::json::parse(slurp(out))["steps"] == 2000);
}

TEST_CASE("inputs must be regular files: directories, /dev/zero and missing files exit 1 naming the path") {
  const std::string dir = fs::path(scratch("x")).parent_path().string();
  for (const std::string& args : std::vector<std::string>{"kmeans --input " + dir + " --k 2", "plan --input /dev/zero --batch 2", "inspect " + dir,
                                                          "edit-bench --quiet --data " + dir, "schedule --kind info --sentence hi --corpus /dev/zero"}) {
    CAPTURE(args);
    const auto r = run(args);
    CHECK(r.code == 1);
    CHECK((r.out.find("is a directory") != std::string::npos || r.out.find("is a character device") != std::string::npos));
    CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  }
}

TEST_CASE("malformed .npy: a shape whose byte size overflows exits 1") {
  const std::string path = scratch("overflow.npy");
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream(path, std::ios::binary) << std::string("\x93NUMPY\x01\x00", 8) << static_cast<char>(header.size()) << '\0' << header;
  const auto r = run("kmeans --input " + path + " --k 1");
  CHECK(r.code == 1);
  CHECK(r.out.find("overflows") != std::string::npos);
}

TEST_CASE("inspect: strict metadata (expert count 'abc', deep JSON, owners beyond the experts), --json exits 1 on a checksum mismatch") {
  auto r = run("inspect " + checkpoint_with("abc.safetensors", "experts", "abc"));
  CHECK(r.code == 1);
  CHECK(r.out.find("expert count is 'abc'") != std::string::npos);
  r = run("inspect --json " + checkpoint_with("deep.safetensors", "config", std::string(100000, '[') + std::string(100000, ']')));
  CHECK(r.code == 1);
  CHECK(r.out.find("nested deeper") != std::string::npos);
  // A valid file whose data bytes were changed: --json prints the report and still exits 1.
  const std::string path = checkpoint_with("flip.safetensors", "", "");
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-2, std::ios::end);
    f.put('\x7f');
  }
  r = run_shell(std::string(BEACON_CLI) + " inspect --json " + path + " 2>/dev/null");
  CHECK(r.code == 1);
  CHECK(nlohmann::json::parse(r.out)["checksum"]["status"] == "mismatch");
}

TEST_CASE("inspect: an anchor owner far beyond the experts is refused, not used to size a table") {
  using anchors_adaptor = beacon::moe::adaptor<float, beacon::moe::instance_anchor_router<beacon::moe::top_k<1>>, beacon::moe::swiglu_expert, beacon::cpu>;
  anchors_adaptor a(beacon::cpu{1}, {.d_model = 4, .expert_hidden = 3});
  beacon::row_matrix<float> e = beacon::row_matrix<float>::Random(2, 4);
  a.insert_expert(beacon::moe::expert_init<float>::random_normal(1), beacon::as_view(std::as_const(e)));
  const std::string path = scratch("owners.safetensors");
  beacon::io::save_adaptor(a, path);
  const auto owners = beacon::io::read_safetensors(path).info("router.anchor_owner").shape[0];
  beacon_test::rewrite_checkpoint(path, {}, {{"router.anchor_owner", std::vector<std::int32_t>(static_cast<std::size_t>(owners), 2147483000)}}, true);
  const auto r = run("inspect " + path);
  CHECK(r.code == 1);
  CHECK(r.out.find("anchor owner 2147483000 is not one of the 1 experts") != std::string::npos);
}

TEST_CASE("a path that is not UTF-8 is printed in JSON with U+FFFD instead of throwing") {
  const std::string good = checkpoint_with("utf8.safetensors", "", "");
  const std::string odd = scratch("odd-\xff\xfe.safetensors");
  fs::copy_file(good, odd, fs::copy_options::overwrite_existing);
  const auto r = run_shell(std::string(BEACON_CLI) + " inspect --json '" + odd + "' 2>/dev/null");
  REQUIRE(r.code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["file"].get<std::string>().find("\xef\xbf\xbd") != std::string::npos);  // U+FFFD
}

TEST_CASE("numeric options: parsed whole, finite, in range - NaN, -1 seeds, junk and huge sizes exit 2 naming option and range") {
  struct bad_option {
    const char* args;
    const char* message;
  };
  for (const auto& b : std::vector<bad_option>{{"edit-bench --lr nan", "--lr: expected a finite number in (0, 10], got nan"},
                                               {"edit-bench --ft-lr inf", "--ft-lr"},
                                               {"edit-bench --loss-threshold nan", "--loss-threshold"},
                                               {"edit-bench --null-threshold nan", "--null-threshold"},
                                               {"edit-bench --anchor-threshold 2", "--anchor-threshold: expected a finite number in [-1, 1], got 2"},
                                               {"edit-bench --seed -1", "--seed: expected an integer in [0, 2^63-1], got -1"},
                                               {"kmeans --input x.npy --seed -1", "--seed"},
                                               {"edit-bench --host-dim 1000000000", "--host-dim"},
                                               {"edit-bench --ffn-hidden 1000000000", "--ffn-hidden"},
                                               {"edit-bench --expert-hidden 1000000000", "--expert-hidden: expected an integer in [1, 16384]"},
                                               {"edit-bench --edits 1000000000", "--edits"},
                                               {"edit-bench --steps 12abc", "--steps: expected an integer in [1, 1000000], got '12abc'"},
                                               {"schedule --steps 1000000000", "--steps"},
                                               {"schedule --lambda 0x10", "--lambda"},
                                               {"kmeans --input x.npy --k 3x", "--k"},
                                               {"kmeans --input x.npy --tol -1", "--tol"},
                                               {"plan --input x.npy --batch 99999999999999999999", "--batch"}}) {
    CAPTURE(b.args);
    const auto r = run(b.args);
    CHECK(r.code == 2);
    CHECK(r.out.find(b.message) != std::string::npos);
    CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  }
  // Sizes that each pass their range but together cannot fit: refused before allocating, naming the limit.
  const auto r = run("edit-bench --quiet --host-dim 4096 --expert-hidden 16384 --edits 5000 --steps 5000");
  CHECK(r.code == 2);
  CHECK(r.out.find("half of this machine's memory") != std::string::npos);
}

TEST_CASE("data the algorithms cannot use: values whose distances overflow, NaN for the random planner, a million-word question") {
  const std::string huge = scratch("huge.npy");
  std::vector<double> x;
  for (int i = 0; i < 10; ++i) x.insert(x.end(), {1e160 * (i + 1), -1e160 * i});
  beacon::io::write_npy(huge, x, 10, 2);
  auto r = run("plan --input " + huge + " --batch 3");
  CHECK(r.code == 2);
  CHECK(r.out.find("magnitude below") != std::string::npos);
  CHECK(run("kmeans --input " + huge + " --k 3").code == 2);
  x[3] = std::nan("");
  beacon::io::write_npy(huge, x, 10, 2);
  r = run("plan --input " + huge + " --batch 3 --order random");
  CHECK(r.code == 2);
  CHECK(r.out.find("finite values") != std::string::npos);
  // One question of a million words: refused by name (the hosts would allocate a row per word).
  const std::string data = scratch("long.json");
  std::string words;
  for (int i = 0; i < 1000000; ++i) words += "w" + std::to_string(i % 1000) + " ";
  std::ofstream(data) << R"([{"src": ")" << words << R"(", "pred": "a", "rephrase": "r?", "alt": "b", "loc": "l?", "loc_ans": "c"}])";
  r = run("edit-bench --quiet --data " + data);
  CHECK(r.code == 1);
  CHECK(r.out.find("record 0 field 'src' has 1000000 words, expected at most 512") != std::string::npos);
}
