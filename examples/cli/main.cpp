// SPDX-License-Identifier: Apache-2.0
// The `beacon` command: lifelong-editing benchmark and tools over the beacon library.
//   beacon schedule | kmeans | plan | inspect | edit-bench   (see `beacon <command> --help`); beacon --version
// Exit codes: 0 success, 1 unreadable or corrupt input or a failed write (standard output included), 2 bad usage.
#include <beacon/core/config.hpp>
#include <beacon/core/error.hpp>

#include <cerrno>
#include <cstring>

#include "cli_common.hpp"

int main(int argc, char** argv) {
  CLI::App app{"beacon: lifelong model editing (LEMoE), semantic PEFT losses and entropy-aware diffusion schedules"};
  app.set_version_flag("--version", std::string("beacon ") + BEACON_VERSION_STRING, "print the version (the library's BEACON_VERSION_STRING) and exit");
  app.require_subcommand(1);
  beacon::cli::add_schedule_command(app);
  beacon::cli::add_cluster_commands(app);
  beacon::cli::add_inspect_command(app);
  beacon::cli::edit_bench::add_edit_bench_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "beacon: error: " << e.what() << " (run with --help)\n";
    return 2;
  } catch (const beacon::cli::input_error& e) {
    std::cerr << "beacon: " << e.what() << "\n";
    return 1;
  } catch (const beacon::value_error& e) {  // a bad value for an option
    std::cerr << "beacon: error: " << e.what() << "\n";
    return 2;
  } catch (const beacon::shape_error& e) {
    std::cerr << "beacon: error: " << e.what() << "\n";
    return 2;
  } catch (const beacon::error& e) {  // unreadable or corrupt input (format_error), a failed read or write (io_error)
    std::cerr << "beacon: " << e.what() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "beacon: out of memory\n";
    return 1;
  }
  // Everything printed to standard output must have arrived: a full disk or a closed descriptor
  // behind stdout is a failure (exit 1), not a silent truncation.
  std::cout.flush();
  if (!std::cout || std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::cerr << "beacon: cannot write standard output" << (errno ? std::string(": ") + std::strerror(errno) : std::string()) << "\n";
    return 1;
  }
  return 0;
}
