// SPDX-License-Identifier: Apache-2.0
// Hostile inputs to the library's loaders and algorithms, one test per cause found by the hardening
// review (issue #16): each used to crash, hang, allocate without bound or answer wrongly; each must
// now be a named beacon error, or the right answer. And the output path: a failed write (full
// device, file-size limit, kill -9) never changes the previous file and leaves nothing behind.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <variant>
#include <vector>

#include <beacon/backend/cpu.hpp>
#include <beacon/edit/zsre.hpp>
#include <beacon/io/adaptor_checkpoint.hpp>
#include <beacon/io/json.hpp>
#include <beacon/io/npy.hpp>
#include <beacon/io/safetensors.hpp>
#include <beacon/moe.hpp>
#include <beacon/plan.hpp>

#include "support/rewrite_checkpoint.hpp"

namespace fs = std::filesystem;

namespace {
std::string scratch_dir() {
  const auto dir = fs::temp_directory_path() / ("beacon-hardening-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir.string();
}
std::string scratch(const std::string& name) { return scratch_dir() + "/" + name; }
void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }
std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
std::span<const std::byte> bytes_of(const std::string& s) { return std::as_bytes(std::span<const char>(s.data(), s.size())); }
/// A version-1 .npy image with the given header dict text and `data_bytes` zero bytes of data.
std::string npy_image(const std::string& dict, std::size_t data_bytes) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + std::string(data_bytes, '\0');
}
/// A safetensors image with this header JSON and `data` bytes.
std::vector<std::byte> safetensors_image(const std::string& header, std::size_t data) {
  std::vector<std::byte> out(8 + header.size() + data, std::byte{0});
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<std::byte>((header.size() >> (8 * i)) & 0xff);
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}
std::size_t leftovers_in(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().filename().string().find(".tmp-") != std::string::npos;
  return n;
}
}  // namespace

TEST_CASE("npy: a shape whose product overflows, descr hidden in another value, junk and extra keys are format errors") {
  using beacon::io::parse_npy;
  const auto parse = [](const std::string& image) { return parse_npy(bytes_of(image), "x.npy"); };
  // 2^62 x 4 elements x 8 bytes wraps a 64-bit size to 0: must not pass for a data-less file.
  CHECK_THROWS_WITH_AS(parse(npy_image("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", 0)),
                       doctest::Contains("overflows"), beacon::format_error);
  CHECK_THROWS_WITH_AS(parse(npy_image("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999, 1), }", 0)),
                       doctest::Contains("overflows"), beacon::format_error);
  // 'descr' inside another key's string: the old field search found it and read garbage.
  CHECK_THROWS_AS(parse(npy_image("{'x': \"'descr': '<f8'\", 'fortran_order': False, 'shape': (1, 1), }", 8)), beacon::format_error);
  CHECK_THROWS_WITH_AS(parse(npy_image("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), 'extra': 1, }", 8)),
                       doctest::Contains("unexpected or repeated key 'extra'"), beacon::format_error);
  CHECK_THROWS_WITH_AS(parse(npy_image("{'descr': '<f8', 'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }", 8)),
                       doctest::Contains("repeated"), beacon::format_error);
  CHECK_THROWS_AS(parse(npy_image("{'descr': '<f8', 'fortran_order': False, 'shape': (1, -1), }", 8)), beacon::format_error);
  CHECK_THROWS_AS(parse(npy_image("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), } junk", 8)), beacon::format_error);
  CHECK_THROWS_WITH_AS(parse(npy_image("{'descr': '>f8', 'fortran_order': False, 'shape': (1, 1), }", 8)), doctest::Contains("'>f8'"),
                       beacon::format_error);
  // The header length field past the end of the file.
  std::string truncated = npy_image("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }", 8);
  truncated[8] = '\xff', truncated[9] = '\xff';
  CHECK_THROWS_WITH_AS(parse(truncated), doctest::Contains("longer than the file"), beacon::format_error);
  // Well-formed files still parse, an empty 0 x 3 matrix included (no memcpy from a null buffer).
  const auto m = parse(npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", 0));
  CHECK(m.rows == 0);
  CHECK(m.cols == 3);
  const std::string path = scratch("round.npy");
  beacon::io::write_npy(path, std::vector<double>{1, 2, 3, 4, 5, 6}, 2, 3);
  const auto r = beacon::io::read_npy(path);
  CHECK(r.values == std::vector<double>{1, 2, 3, 4, 5, 6});
  CHECK_THROWS_AS(beacon::io::write_npy(path, std::vector<double>{1, 2, 3}, 2, 3), beacon::shape_error);
}

TEST_CASE("npy: read_npy_native keeps the file's dtype (float32 bits unchanged), and rejects what read_npy rejects") {
  const std::string f32 = scratch("native32.npy"), f64 = scratch("native64.npy");
  const std::vector<float> values{0.1f, -2.5f, 3.0e-39f, 7.0f, 1.0e30f, -0.0f};  // a denormal, a large value, -0
  beacon::io::write_npy(f32, values, 3, 2);
  beacon::io::write_npy(f64, std::vector<double>{0.1, 2.0}, 1, 2);
  const auto a = beacon::io::read_npy_native(f32);
  REQUIRE(std::holds_alternative<beacon::io::npy_array<float>>(a));
  const auto& fa = std::get<beacon::io::npy_array<float>>(a);
  CHECK(fa.rows == 3);
  CHECK(fa.cols == 2);
  REQUIRE(fa.values.size() == values.size());
  CHECK(std::memcmp(fa.values.data(), values.data(), values.size() * sizeof(float)) == 0);
  const auto b = beacon::io::read_npy_native(f64);
  REQUIRE(std::holds_alternative<beacon::io::npy_array<double>>(b));
  CHECK(std::get<beacon::io::npy_array<double>>(b).values == std::vector<double>{0.1, 2.0});
  // The double reader of the same float32 file gives the same values widened.
  const auto wide = beacon::io::read_npy(f32);
  for (std::size_t i = 0; i < values.size(); ++i) CHECK(wide.values[i] == static_cast<double>(values[i]));
  CHECK_THROWS_WITH_AS(beacon::io::parse_npy_native(bytes_of(npy_image("{'descr': '<i4', 'fortran_order': False, 'shape': (1, 1), }", 4)), "x.npy"),
                       doctest::Contains("'<i4' is not float32"), beacon::format_error);
}

TEST_CASE("loaders read only regular files: a directory, /dev/zero and a FIFO are io_errors naming what they are") {
  const std::string dir = scratch_dir();
  CHECK_THROWS_WITH_AS(beacon::io::read_npy(dir), doctest::Contains("is a directory, expected a regular file"), beacon::io_error);
  CHECK_THROWS_WITH_AS(beacon::io::read_safetensors("/dev/zero"), doctest::Contains("is a character device"), beacon::io_error);
  CHECK_THROWS_WITH_AS(beacon::edit::load_zsre(dir), doctest::Contains("is a directory"), beacon::io_error);
  CHECK_THROWS_WITH_AS(beacon::edit::load_zsre("/nonexistent/beacon.json"), doctest::Contains("No such file"), beacon::io_error);
  const std::string fifo = scratch("fifo");
  fs::remove(fifo);
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH_AS(beacon::io::read_file(fifo), doctest::Contains("is a FIFO"), beacon::io_error);  // and does not wait for a writer
}

TEST_CASE("safetensors: element count x size that wraps to 0, empty tensors, deep JSON") {
  using beacon::io::safetensors_file;
  // 2^61 F64 elements are 2^64 bytes, which wraps to 0 = the tensor's offsets: accepted before.
  CHECK_THROWS_WITH_AS(safetensors_file::parse(safetensors_image(R"({"t":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}})", 0)),
                       doctest::Contains("overflows"), beacon::format_error);
  CHECK_THROWS_AS(safetensors_file::parse(safetensors_image(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0)),
                  beacon::format_error);
  CHECK_THROWS_AS(safetensors_file::parse(safetensors_image(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0)), beacon::format_error);
  // An empty tensor reads as an empty vector (no memcpy through a null pointer).
  const auto f = safetensors_file::parse(safetensors_image(R"({"t":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]}})", 0));
  CHECK(f.read<float>("t").empty());
  // Nesting past the limit is refused while parsing (printing it would recurse once per level).
  const std::string deep = R"({"__metadata__":{"a":"b"},"x":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  CHECK_THROWS_WITH_AS(safetensors_file::parse(safetensors_image(deep, 0)), doctest::Contains("nested deeper than 64"), beacon::format_error);
  CHECK_NOTHROW(beacon::io::parse_json(std::string(63, '[') + std::string(63, ']'), "ok"));
  CHECK_THROWS_AS(beacon::io::parse_json(std::string(65, '[') + std::string(65, ']'), "deep"), beacon::format_error);
}

namespace {
using small_adaptor = beacon::moe::adaptor<float, beacon::moe::kv_anchor_router<beacon::moe::top_k<1>>, beacon::moe::mlp_expert<beacon::activation::relu>, beacon::cpu>;

/// A saved two-expert adaptor's file with one metadata value replaced (and the checksum kept valid).
std::string checkpoint_with(const std::string& key, const std::string& value) {
  small_adaptor a(beacon::cpu{1}, {.d_model = 4, .expert_hidden = 3, .router_rank = 3});
  const std::string path = scratch("adaptor.safetensors");
  for (int e = 0; e < 2; ++e) a.insert_expert(beacon::moe::expert_init<float, beacon::host_space>::random_normal(0), {});
  beacon::io::save_adaptor(a, path);
  if (key.empty()) return path;
  const std::string out = scratch("edited.safetensors");
  std::filesystem::copy_file(path, out, std::filesystem::copy_options::overwrite_existing);
  beacon_test::rewrite_checkpoint(out, {{key, value}});
  return out;
}
}  // namespace

TEST_CASE("checkpoint metadata is parsed strictly: a non-numeric expert count, wrong types, huge sizes, deep config") {
  const auto load = [](const std::string& path) { return beacon::io::load_adaptor<small_adaptor>(beacon::cpu{1}, path); };
  REQUIRE_NOTHROW(load(checkpoint_with("", "")));
  CHECK_THROWS_WITH_AS(load(checkpoint_with("experts", "abc")), doctest::Contains("expert count is 'abc'"), beacon::format_error);
  CHECK_THROWS_AS(load(checkpoint_with("experts", "2 ")), beacon::format_error);
  CHECK_THROWS_AS(load(checkpoint_with("experts", "99999999999999999999999")), beacon::format_error);
  const std::string base =
      R"("expert_hidden":3,"router_rank":0,"key_dim":0,"lambda":0.0,"seed":0,"freeze_earlier_experts":true,"router":{"gate":0,"score":0,"projection":0,"key":0,"train_route":0,"null_route":false,"null_threshold":0.5,"init_scale":1.0}})";
  // d_model as a float beyond every integer: get<int> of it was undefined behaviour.
  CHECK_THROWS_WITH_AS(load(checkpoint_with("config", R"({"d_model":1e300,)" + base)), doctest::Contains("'d_model' is 1e+300, expected an integer"),
                       beacon::format_error);
  CHECK_THROWS_WITH_AS(load(checkpoint_with("config", R"({"d_model":"4",)" + base)), doctest::Contains("expected an integer"), beacon::format_error);
  // Sizes in range, but far more parameters than the file holds: refused before allocating them.
  CHECK_THROWS_WITH_AS(load(checkpoint_with("config", R"({"d_model":16777216,"expert_hidden":16777216,"router_rank":0,"key_dim":0,"lambda":0.0,"seed":0,"freeze_earlier_experts":true,"router":{"gate":0,"score":0,"projection":0,"key":0,"train_route":0,"null_route":false,"null_threshold":0.5,"init_scale":1.0}})")),
                       doctest::Contains("far more parameters than the file"), beacon::format_error);
  CHECK_THROWS_WITH_AS(load(checkpoint_with("config", std::string(200, '[') + std::string(200, ']'))), doctest::Contains("nested deeper"),
                       beacon::format_error);
  CHECK_THROWS_WITH_AS(load(checkpoint_with("frozen", R"({"router.keys":-1})")), doctest::Contains("not a row count"), beacon::format_error);
}

TEST_CASE("ZsRE files: deep nesting is a format_error, not a stack overflow") {
  const std::string path = scratch("deep.json");
  write_text(path, std::string(1000000, '[') + std::string(1000000, ']'));
  CHECK_THROWS_WITH_AS(beacon::edit::load_zsre(path), doctest::Contains("nested deeper"), beacon::format_error);
}

TEST_CASE("k-means and k-means++: values whose squared distances overflow are refused by name, equal points do not crash") {
  beacon::cpu be{1};
  // 1e160: every k-means++ potential was infinite, no candidate won, and an empty vector was read.
  std::vector<double> huge(20);
  for (std::size_t i = 0; i < huge.size(); ++i) huge[i] = 1e160 * static_cast<double>(i + 1);
  beacon::plan::kmeans_options<double> o;
  o.clusters = 3;
  CHECK_THROWS_WITH_AS(beacon::plan::kmeans(be, beacon::host_matrix<const double>(huge.data(), 10, 2), o), doctest::Contains("magnitude below"),
                       beacon::value_error);
  o.spherical = true;  // normalising rows of 1e160 overflowed to zero rows and an inertia of 0
  CHECK_THROWS_AS(beacon::plan::kmeans(be, beacon::host_matrix<const double>(huge.data(), 10, 2), o), beacon::value_error);
  CHECK_THROWS_WITH_AS(beacon::plan::initial_centroids(beacon::host_matrix<const double>(huge.data(), 10, 2), 3,
                                                       beacon::plan::kmeans_init::kmeans_plus_plus, std::vector<double>{}, 0),
                       doctest::Contains("infinite k-means++ potential"), beacon::value_error);
  // Every point equal: potential 0 after the first centre; the init draws uniformly instead.
  const std::vector<double> same(12, 2.5);
  const auto c = beacon::plan::initial_centroids(beacon::host_matrix<const double>(same.data(), 6, 2), 3, beacon::plan::kmeans_init::kmeans_plus_plus,
                                                 std::vector<double>{}, 7);
  REQUIRE(c.size() == 6);
  for (double v : c) CHECK(v == 2.5);
  // Just below the limit works and gives a finite inertia.
  const double limit = std::sqrt(std::numeric_limits<double>::max() / 2) / 2;
  std::vector<double> big = {0.5 * limit, 0, -0.5 * limit, 0, 0, 0.5 * limit, 0, -0.5 * limit};
  o.spherical = false;
  o.clusters = 2;
  const auto r = beacon::plan::kmeans(be, beacon::host_matrix<const double>(big.data(), 4, 2), o);
  CHECK(std::isfinite(r.inertia));
  CHECK(r.inertia > 0);
}

TEST_CASE("editing-order planning: NaN refused by the random planner, batch sizes near the index range, cosines of huge rows") {
  std::vector<double> x = {1, 0, std::nan(""), 1, 0, 1, 1, 1};
  const auto hx = beacon::host_matrix<const double>(x.data(), 4, 2);
  CHECK_THROWS_WITH_AS(beacon::plan::random_edit_order(hx, 2, 0), doctest::Contains("finite values"), beacon::value_error);
  x[2] = 1;
  // batch_size + rows overflowed the index type (UBSan in the sanitizer build); one batch of everything now.
  const auto huge_batch = std::numeric_limits<beacon::size_type>::max();
  const auto p = beacon::plan::random_edit_order(hx, huge_batch, 0);
  REQUIRE(p.batches.size() == 1);
  CHECK(p.batches[0].size() == 4);
  beacon::plan::plan_options<double> o;
  o.batch_size = huge_batch;
  const auto planned = beacon::plan::plan_edit_order(beacon::cpu{1}, hx, o);
  CHECK(planned.clustering.clusters == 1);
  // Parallel rows of 1e300 have cosine 1: their squared norm overflowed and they counted as zero rows.
  std::vector<double> big = {1e300, 1e300, 2e300, 2e300, 1, 1};
  const auto s = beacon::plan::measure_batches(beacon::host_matrix<const double>(big.data(), 3, 2), {{0, 1, 2}});
  CHECK(s.within == doctest::Approx(1.0).epsilon(1e-12));
}

TEST_CASE("writes: a device is written directly and a full one is an io_error, a directory is refused, a symlink keeps pointing") {
  CHECK_THROWS_WITH_AS(beacon::io::write_file_atomic("/dev/full", bytes_of("{}")), doctest::Contains("No space left on device"), beacon::io_error);
  CHECK_NOTHROW(beacon::io::write_file_atomic("/dev/null", bytes_of("{}")));
  CHECK(fs::is_character_file("/dev/null"));  // written through, never renamed over
  CHECK_THROWS_WITH_AS(beacon::io::write_file_atomic(scratch_dir(), bytes_of("{}")), doctest::Contains("is a directory"), beacon::io_error);
  CHECK_THROWS_WITH_AS(beacon::io::write_file_atomic("/nonexistent-folder/x.json", bytes_of("{}")), doctest::Contains("No such file"), beacon::io_error);
  const std::string target = scratch("target.json"), link = scratch("link.json");
  write_text(target, "old");
  fs::remove(link);
  fs::create_symlink(target, link);
  beacon::io::write_file_atomic(link, bytes_of("new"));
  CHECK(fs::is_symlink(link));
  CHECK(slurp(target) == "new");
  // A replaced file keeps its permissions.
  ::chmod(target.c_str(), 0600);
  beacon::io::write_file_atomic(target, bytes_of("newer"));
  struct stat st {};
  REQUIRE(::stat(target.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(leftovers_in(scratch_dir()) == 0);
}

TEST_CASE("a failed write never changes the previous file: file-size limit (EFBIG) and kill -9 in the middle of a write") {
  const std::string path = scratch("precious.json");
  const std::string previous = "{\"kept\": true}\n";
  write_text(path, previous);
  const std::string big(1 << 20, 'x');
  {  // A child whose file-size limit is 4 KiB: the write fails with EFBIG, like a disk that fills up.
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::signal(SIGXFSZ, SIG_IGN);
      const rlimit limit{4096, 4096};
      ::setrlimit(RLIMIT_FSIZE, &limit);
      try {
        beacon::io::write_file_atomic(path, bytes_of(big));
      } catch (const beacon::io_error& e) {
        ::_exit(std::strstr(e.what(), "File too large") != nullptr ? 3 : 4);
      }
      ::_exit(0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 3);
    CHECK(slurp(path) == previous);
    CHECK(leftovers_in(scratch_dir()) == 0);
  }
  {  // A child killed with SIGKILL while it writes (its writer stalls after the first chunk).
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      const beacon::io::chunk_writer stalls = [&](int fd, const std::byte* data, std::size_t size) {
        beacon::io::write_all(fd, data, size / 2);
        const char go = 1;
        (void)!::write(ready[1], &go, 1);
        for (;;) ::pause();
        return true;
      };
      beacon::io::write_file_atomic(path, bytes_of(big), stalls);
      ::_exit(0);
    }
    char go = 0;
    REQUIRE(::read(ready[0], &go, 1) == 1);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status));
    CHECK(slurp(path) == previous);
    // Where the file system has O_TMPFILE the temporary file was unnamed: nothing is left behind.
    const int probe = ::open(scratch_dir().c_str(), O_TMPFILE | O_WRONLY, 0600);
    if (probe >= 0) {
      ::close(probe);
      CHECK(leftovers_in(scratch_dir()) == 0);
    } else {
      MESSAGE("this file system has no O_TMPFILE: a kill -9 leaves a named temporary file (the previous file is intact, checked above)");
    }
    ::close(ready[0]);
    ::close(ready[1]);
  }
}
