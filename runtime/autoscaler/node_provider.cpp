#include "runtime/autoscaler/node_provider.hpp"

#include "runtime/common/head_process.hpp"
#include "runtime/common/log.hpp"

#include "actors/errors.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <unordered_map>

extern char** environ;

namespace actors::runtime {

namespace {

using clock_type = std::chrono::steady_clock;

// A node process told to leave gets SIGTERM if it is still there after
// `leave_grace`, and SIGKILL `stop_grace` after that.
constexpr auto leave_grace = std::chrono::seconds(5);
constexpr auto stop_grace = std::chrono::seconds(10);

std::string number(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

/// The last bytes of a log, on one line, for an event or a message.
std::string tail_of(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return "(no output)";
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::streamoff>(in.tellg());
  constexpr std::streamoff keep = 600;
  in.seekg(size > keep ? size - keep : 0);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  for (auto& c : text)
    if (c == '\n')
      c = '|';
  if (text.empty())
    return "(no output)";
  return (size > keep ? "..." : "") + text + " (all of it in " + file.string() + ")";
}

std::string exit_text(int status) {
  if (WIFEXITED(status))
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string("was killed by signal ") + strsignal(WTERMSIG(status));
  return "ended";
}

/// True if process `pid` is there and is the node of launch `launch_id` (its
/// command line names the launch): a process a previous head started, whose id
/// may have been reused since.
bool runs_launch(pid_t pid, const std::string& launch_id) {
  if (launch_id.empty())
    return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  // One argument equal to the id (--launch-id ID) or ending in =ID
  // (--actors-launch-id=ID): launch x-1 must not match x-12.
  const auto tail = "=" + launch_id;
  for (std::string arg; std::getline(in, arg, '\0');)
    if (arg == launch_id
        || (arg.size() > tail.size() && arg.compare(arg.size() - tail.size(), tail.size(), tail) == 0))
      return true;
  return false;
}

/// Starts `argv` with stdin from /dev/null and stdout and stderr appended to
/// `log`, in a process group of its own (a terminal's Ctrl-C reaches the head,
/// which stops them). Throws actors::error.
pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&files, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&files, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  // A node it starts stops when this process ends (a script ignores it).
  head_process_environment env;
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &files, &attr, args.data(), env.envp());
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    throw error(errc::invalid_argument, "cannot start " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

class process_provider final : public node_provider {
 public:
  process_provider(autoscale_config config, local_node_command local, std::filesystem::path log_dir)
    : config_(std::move(config)), local_(std::move(local)), log_dir_(std::move(log_dir)) {
    std::error_code ec;
    std::filesystem::create_directories(log_dir_, ec);
    if (ec)
      throw error(errc::invalid_argument, "cannot make the autoscaler's log directory " + log_dir_.string() + ": "
                                            + ec.message());
  }

  ~process_provider() override {
    // The local provider's nodes belong to this head: they stop with it. A head
    // that stops the cluster has told them already: a moment to leave in order,
    // then SIGTERM.
    auto reap_until = [this](clock_type::time_point deadline) {
      while (!children_.empty() && clock_type::now() < deadline) {
        for (auto it = children_.begin(); it != children_.end();)
          it = ended(it->first, it->second) ? children_.erase(it) : std::next(it);
        if (!children_.empty())
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    };
    reap_until(clock_type::now() + std::chrono::seconds(2));
    for (auto& [pid, c] : children_)
      if (c.kind == role::node)
        ::kill(pid, SIGTERM);
    reap_until(clock_type::now() + std::chrono::seconds(5));
    for (auto& [pid, c] : children_) {
      if (c.kind == role::node) {
        log(log_level::warning, "autoscaler", "node process ", pid, " (launch ", c.launch_id,
            ") did not stop within 5 s; killing it");
        ::kill(pid, SIGKILL);
        if (!c.adopted)
          ::waitpid(pid, nullptr, 0);
      }
    }
  }

  launch_place launch(const launch_spec& spec) override {
    auto log = log_dir_ / (spec.launch_id + ".log");
    if (config_.provider.type == provider_kind::local) {
      if (!local_)
        throw error(errc::invalid_argument, "this head cannot start node processes on its host: use the command "
                                            "provider");
      auto pid = spawn(local_(spec), log);
      children_[pid] = {spec.launch_id, role::node, false, {}, {}};
      return {"", static_cast<int>(pid)};
    }
    std::string host;
    if (!config_.provider.hosts.empty())
      host = config_.provider.hosts[next_host_++ % config_.provider.hosts.size()];
    hosts_[spec.launch_id] = host;
    types_[spec.launch_id] = spec.type;
    auto command = expand_command(config_.provider.launch, values(spec, host), "provider.launch");
    auto pid = spawn({"/bin/sh", "-c", command}, log);
    children_[pid] = {spec.launch_id, role::launch_command, false, {}, {}};
    return {host, 0};
  }

  bool adopt(const std::string& launch_id, const node_type_config& type, const launch_place& where) override {
    if (config_.provider.type == provider_kind::local) {
      auto pid = static_cast<pid_t>(where.pid);
      if (pid <= 0 || !runs_launch(pid, launch_id))
        return false;
      children_[pid] = {launch_id, role::node, true, {}, {}};
      return true;
    }
    hosts_[launch_id] = where.host;
    types_[launch_id] = type;
    return true;
  }

  void terminate(const std::string& launch_id) override {
    if (config_.provider.type == provider_kind::local) {
      // The head tells the node to leave (an orderly stop); signals only if it
      // does not.
      for (auto& [pid, c] : children_)
        if (c.launch_id == launch_id && c.kind == role::node && c.kill_at == clock_type::time_point{}) {
          c.term_at = clock_type::now() + leave_grace;
          c.kill_at = c.term_at + stop_grace;
        }
      return;
    }
    launch_spec spec;
    spec.launch_id = launch_id;
    if (auto t = types_.find(launch_id); t != types_.end())
      spec.type = t->second;
    auto command = expand_command(config_.provider.terminate, values(spec, hosts_[launch_id]), "provider.terminate");
    try {
      auto pid = spawn({"/bin/sh", "-c", command}, log_dir_ / (launch_id + ".terminate.log"));
      children_[pid] = {launch_id, role::terminate_command, false, {}, {}};
    } catch (const std::exception& e) {
      log(log_level::error, "autoscaler", "cannot stop the node of launch ", launch_id, ": ", e.what());
    }
    hosts_.erase(launch_id);
    types_.erase(launch_id);
  }

  std::vector<std::pair<std::string, std::string>> failures() override {
    std::vector<std::pair<std::string, std::string>> failed;
    auto now = clock_type::now();
    for (auto it = children_.begin(); it != children_.end();) {
      auto& [pid, c] = *it;
      int status = 0;
      auto r = c.adopted ? (runs_launch(pid, c.launch_id) ? 0 : -1) : ::waitpid(pid, &status, WNOHANG);
      if (r == 0) {
        if (c.term_at != clock_type::time_point{} && now >= c.term_at) {
          ::kill(pid, SIGTERM);
          c.term_at = {};
        }
        if (c.kill_at != clock_type::time_point{} && now >= c.kill_at) {
          log(log_level::warning, "autoscaler", "node process ", pid, " (launch ", c.launch_id,
              ") did not stop within ", stop_grace.count(), " s; killing it");
          ::kill(pid, SIGKILL);
          c.kill_at = now + stop_grace;
        }
        ++it;
        continue;
      }
      auto ended = c.adopted ? std::string("ended") : exit_text(r < 0 ? 0 : status);
      auto output = log_dir_ / (c.launch_id + (c.kind == role::terminate_command ? ".terminate.log" : ".log"));
      if (c.kind == role::node && c.kill_at == clock_type::time_point{})
        failed.emplace_back(c.launch_id, "its node process " + ended + ": " + tail_of(output));
      else if (c.kind == role::launch_command && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        failed.emplace_back(c.launch_id, "the launch command " + ended + ": " + tail_of(output));
      else if (c.kind == role::terminate_command && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        log(log_level::error, "autoscaler", "the terminate command of launch ", c.launch_id, " ", ended, ": ",
            tail_of(output), "; stop that node by hand");
      it = children_.erase(it);
    }
    return failed;
  }

 private:
  enum class role { node, launch_command, terminate_command };
  struct child {
    std::string launch_id;
    role kind = role::node;
    /// Started by a previous head process: not a child of this one, so watched
    /// through /proc instead of waitpid.
    bool adopted = false;
    // When a node process asked to stop gets SIGTERM and SIGKILL (unset: not
    // asked, or sent).
    clock_type::time_point term_at;
    clock_type::time_point kill_at;
  };

  /// True once the process of `c` has ended (reaped, for a child).
  static bool ended(pid_t pid, const child& c) {
    return c.adopted ? !runs_launch(pid, c.launch_id) : ::waitpid(pid, nullptr, WNOHANG) != 0;
  }

  std::map<std::string, std::string> values(const launch_spec& spec, const std::string& host) const {
    auto cpus = spec.type.resources.count("CPU") ? spec.type.resources.at("CPU") : 0.0;
    return {{"host", host},
            {"address", spec.head_address},
            {"token", spec.token},
            {"num_cpus", number(cpus)},
            {"resources", resources_flag(spec.type.resources)},
            {"launch_id", spec.launch_id},
            {"node_type", spec.type.name}};
  }

  autoscale_config config_;
  local_node_command local_;
  std::filesystem::path log_dir_;
  std::unordered_map<pid_t, child> children_;
  std::size_t next_host_ = 0;
  // Command provider: the host and type of each launch, for its terminate command.
  std::unordered_map<std::string, std::string> hosts_;
  std::unordered_map<std::string, node_type_config> types_;
};

} // namespace

std::string resources_flag(const resource_map& resources) {
  std::string out;
  for (const auto& [name, amount] : resources) {
    if (name == "CPU")
      continue;
    if (!out.empty())
      out += ',';
    out += name + "=" + number(amount);
  }
  return out;
}

std::unique_ptr<node_provider> make_node_provider(const autoscale_config& config, local_node_command local,
                                                  std::filesystem::path log_dir) {
  return std::make_unique<process_provider>(config, std::move(local), std::move(log_dir));
}

} // namespace actors::runtime
