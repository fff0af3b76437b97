#include "runtime/node/local_nodes.hpp"

#include "runtime/common/head_process.hpp"
#include "runtime/common/log.hpp"

#include "actors/errors.hpp"

#include <cerrno>
#include <cstdlib>
#include <csignal>
#include <cstring>
#include <spawn.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace actors::runtime {

std::vector<std::string>& program_args() {
  static std::vector<std::string> args;
  return args;
}

std::vector<std::string> node_process_command(const std::vector<std::string>& user_args, const std::string& address,
                                              const std::string& token, std::optional<double> num_cpus,
                                              const std::string& resources, int heartbeat_timeout_ms,
                                              const std::string& launch_id, const tls_settings& tls) {
  std::vector<std::string> args{"/proc/self/exe"};
  args.insert(args.end(), user_args.begin(), user_args.end());
  args.push_back("--actors-node");
  args.push_back("--actors-address=" + address);
  args.push_back("--actors-token=" + token);
  if (num_cpus)
    args.push_back("--actors-num-cpus=" + std::to_string(*num_cpus));
  if (!resources.empty())
    args.push_back("--actors-resources=" + resources);
  if (!launch_id.empty())
    args.push_back("--actors-launch-id=" + launch_id);
  args.push_back("--actors-heartbeat-timeout=" + std::to_string(heartbeat_timeout_ms));
  if (tls.wanted()) {
    args.push_back("--actors-tls-cert=" + tls.cert);
    args.push_back("--actors-tls-key=" + tls.key);
    args.push_back("--actors-tls-ca=" + tls.ca);
  }
  return args;
}

local_nodes::local_nodes(std::size_t count, const std::vector<std::string>& user_args,
                         const std::string& address, const std::string& token, std::optional<double> num_cpus,
                         int heartbeat_timeout_ms, const tls_settings& tls) {
  // A head offering none keeps its node processes at the default: all CPUs.
  auto args = node_process_command(user_args, address, token, num_cpus && *num_cpus > 0 ? num_cpus : std::nullopt, "",
                                   heartbeat_timeout_ms, "", tls);
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  head_process_environment env;
  for (std::size_t i = 0; i < count; ++i) {
    pid_t pid = 0;
    int rc = posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), env.envp());
    if (rc != 0) {
      reap(std::chrono::milliseconds(0));
      throw error(errc::invalid_argument,
                  std::string("cannot start a local node process: ") + std::strerror(rc));
    }
    pids_.push_back(pid);
  }
}

local_nodes::~local_nodes() {
  reap(std::chrono::seconds(5));
}

void local_nodes::reap(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pids_.empty()) {
    for (auto it = pids_.begin(); it != pids_.end();) {
      int status = 0;
      auto r = ::waitpid(*it, &status, WNOHANG);
      it = (r == *it || (r < 0 && errno == ECHILD)) ? pids_.erase(it) : std::next(it);
    }
    if (pids_.empty())
      return;
    if (std::chrono::steady_clock::now() >= deadline) {
      for (auto pid : pids_) {
        log(log_level::warning, "local_nodes", "node process ", pid, " did not stop in time; killing it");
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
      pids_.clear();
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

} // namespace actors::runtime
