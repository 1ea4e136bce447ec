// SPDX-License-Identifier: Apache-2.0
#pragma once
// Running the `beacon` command from the CLI tests: exit code and combined output.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace beacon_cli_test {

struct result {
  int code;
  std::string out;
};

/// Runs a shell command line as given (the test spells out every redirection).
inline result run_shell(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (p && std::fgets(buf, sizeof buf, p)) out += buf;
  const int status = p ? ::pclose(p) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

/// `beacon ARGS`, standard output and standard error together.
inline result run(const std::string& args) { return run_shell(std::string(BEACON_CLI) + " " + args + " 2>&1"); }

inline std::string scratch(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("beacon-cli-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

}  // namespace beacon_cli_test
