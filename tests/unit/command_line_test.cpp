// The command lines of actorsd and actors (CLI11, runtime/node/command_line.hpp),
// run as the programs themselves: strict numbers, the node settings checked as
// init() checks --actors-*, help per command, and mistakes that name the flag
// and the help to read. Nothing here starts a cluster: every call ends at its
// command line.
#include "tests/support/processes.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using actors::test::env;

/// Runs a program with `args`; its exit code and what it printed.
std::pair<int, std::string> run(const std::string& program, std::vector<std::string> args) {
  static int n = 0;
  args.insert(args.begin(), program);
  auto log = std::filesystem::temp_directory_path()
             / ("command-line-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".log");
  auto out = actors::test::run(args, log.string());
  std::filesystem::remove(log);
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(Actorsd, NumbersAreStrictAndCheckedAsTheProgramFlagsAre) {
  struct refused {
    std::vector<std::string> args;
    std::string says;
  };
  for (const auto& [args, says] : std::vector<refused>{
         {{"--head", "--num-cpus", "2x"}, "bad value '2x' for --num-cpus"},
         {{"--head", "--num-cpus=-1"}, "bad value '-1' for --num-cpus"},
         {{"--head", "--heartbeat-timeout", "100"}, "400"},
         {{"--head", "--metrics-port", "80x"}, "bad value '80x' for --metrics-port"},
         {{"--head", "--port", "70000"}, "--port"},
         {{"--head", "--port", "63x"}, "--port"},
         {{"--head", "--object-store-bytes", "2X"}, "the unit must be one of B, K, M, G"},
         {{"--head", "--max-frame-bytes", "1K"}, "1M to 4G"},
         {{"--head", "--log-level", "verbose"}, "expected error, warning, info or debug"},
       }) {
    auto [code, out] = run(env("ACTORSD"), args);
    EXPECT_EQ(code, 2) << args[1] << ": " << out;
    EXPECT_TRUE(contains(out, says)) << out;
    EXPECT_TRUE(contains(out, "actorsd --help")) << out;
    // The daemon's own flags, never the program flags.
    EXPECT_FALSE(contains(out, "--actors-")) << out;
  }
}

TEST(Actorsd, UnknownOptionsAndMissingValuesAreRefusedByName) {
  auto [unknown, unknown_out] = run(env("ACTORSD"), {"--head", "--num-cpu", "2"});
  EXPECT_EQ(unknown, 2) << unknown_out;
  EXPECT_TRUE(contains(unknown_out, "--num-cpu")) << unknown_out;
  auto [missing, missing_out] = run(env("ACTORSD"), {"--head", "--spill-dir"});
  EXPECT_EQ(missing, 2) << missing_out;
  EXPECT_TRUE(contains(missing_out, "--spill-dir")) << missing_out;
  auto [both, both_out] = run(env("ACTORSD"), {"--head", "--address", "127.0.0.1:1"});
  EXPECT_EQ(both, 2) << both_out;
  EXPECT_TRUE(contains(both_out, "exactly one of --head")) << both_out;
}

TEST(Actorsd, NodeSettingsAlsoComeFromTheEnvironmentCheckedTheSameWay) {
  ASSERT_EQ(::setenv("ACTORS_HEARTBEAT_TIMEOUT", "100", 1), 0);
  auto [code, out] = run(env("ACTORSD"), {"--head"});
  ::unsetenv("ACTORS_HEARTBEAT_TIMEOUT");
  EXPECT_EQ(code, 2) << out;
  EXPECT_TRUE(contains(out, "bad value '100' for environment variable ACTORS_HEARTBEAT_TIMEOUT")) << out;
  // Beside its flag, the variable is not read: the daemon goes on to the next
  // check of its command line (here a mistake, so that it stops there).
  ASSERT_EQ(::setenv("ACTORS_HEARTBEAT_TIMEOUT", "100", 1), 0);
  auto [flag_code, flag_out] =
    run(env("ACTORSD"), {"--head", "--address", "127.0.0.1:1", "--heartbeat-timeout", "5000"});
  ::unsetenv("ACTORS_HEARTBEAT_TIMEOUT");
  EXPECT_EQ(flag_code, 2) << flag_out;
  EXPECT_FALSE(contains(flag_out, "ACTORS_HEARTBEAT_TIMEOUT")) << flag_out;
  EXPECT_TRUE(contains(flag_out, "exactly one of --head")) << flag_out;
  // A program's own settings are not the daemon's: left alone.
  ASSERT_EQ(::setenv("ACTORS_LOCAL_NODES", "many", 1), 0);
  auto [help_code, help] = run(env("ACTORSD"), {"--help"});
  ::unsetenv("ACTORS_LOCAL_NODES");
  EXPECT_EQ(help_code, 0) << help;
}

TEST(Actorsd, HelpListsEveryFlagWithItsValueAndVersionPrintsTheProtocol) {
  auto [code, out] = run(env("ACTORSD"), {"--help"});
  EXPECT_EQ(code, 0) << out;
  for (const char* line : {"--head", "--port PORT", "--address HOST:PORT", "--load LIB.so", "--num-cpus N",
                           "--resources A=1,B=2", "--log-level LEVEL", "--tls-cert FILE", "--state-dir DIR",
                           "--autoscale FILE", "--metrics-sd-file FILE", "0 offers none"})
    EXPECT_TRUE(contains(out, line)) << line << " missing from:\n" << out;
  // Program-only settings are not the daemon's.
  EXPECT_FALSE(contains(out, "--local-nodes")) << out;
  auto [vcode, version] = run(env("ACTORSD"), {"--version"});
  EXPECT_EQ(vcode, 0) << version;
  EXPECT_TRUE(contains(version, "actorsd ")) << version;
  EXPECT_TRUE(contains(version, "wire protocol")) << version;
}

TEST(ActorsCommand, EachCommandHasItsOwnHelp) {
  auto [code, out] = run(env("ACTORS_CLI"), {"--help"});
  EXPECT_EQ(code, 0) << out;
  for (const char* command : {"status", "list", "summary", "timeline", "logs", "stop", "job", "certs"})
    EXPECT_TRUE(contains(out, command)) << command << " missing from:\n" << out;
  struct help {
    std::vector<std::string> args;
    std::vector<std::string> shows;
  };
  for (const auto& [args, shows] : std::vector<help>{
         {{"list", "--help"}, {"{nodes,actors,tasks,objects,placement-groups}", "--state STATE", "--json"}},
         {{"logs", "--help"}, {"NODE", "--follow", "--tail N"}},
         {{"job", "submit", "--help"}, {"--working-dir DIR", "--load LIB.so", "--env NAME=VALUE", "--no-wait"}},
         {{"certs", "--help"}, {"--out DIR", "--hosts", "--days N"}},
       }) {
    auto [c, text] = run(env("ACTORS_CLI"), args);
    EXPECT_EQ(c, 0) << args[0] << ": " << text;
    for (const auto& s : shows)
      EXPECT_TRUE(contains(text, s)) << s << " missing from `actors " << args[0] << " --help`:\n" << text;
  }
}

TEST(ActorsCommand, MistakesNameTheCommandAndItsHelp) {
  struct refused {
    std::vector<std::string> args;
    std::string says;
  };
  for (const auto& [args, says] : std::vector<refused>{
         {{}, "actors --help"},
         {{"lsit"}, "lsit"},
         {{"list"}, "actors list --help"},
         {{"list", "thing"}, "thing"},
         {{"list", "tasks", "--state"}, "--state"},
         {{"logs", "--tail", "ten"}, "actors logs --help"},
         {{"logs", "--tail", "0"}, "--tail"},
         {{"timeline"}, "--output"},
         {{"job", "status"}, "actors job status --help"},
         {{"certs", "--out", "/tmp/x", "--days", "0"}, "--days"},
         {{"status", "--jsno"}, "--jsno"},
       }) {
    auto [code, out] = run(env("ACTORS_CLI"), args);
    EXPECT_EQ(code, 2) << (args.empty() ? "" : args[0]) << ": " << out;
    EXPECT_TRUE(contains(out, says)) << "expected '" << says << "' in: " << out;
  }
}

} // namespace
