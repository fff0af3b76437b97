#include "runtime/jobs/job_manager.hpp"

#include "runtime/common/log.hpp"

#include "actors/errors.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <random>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace actors::runtime {

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

std::string fresh_job_id() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rd()));
  return std::string("job-") + buf;
}

// A file name a job may give its program or a library: one path component.
bool plain_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos
         && name.find('\0') == std::string::npos && name.size() < 256;
}

// Runs `args` and waits for it; its exit code (-1 if it could not start).
int run_quietly(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

} // namespace

void unpack_working_dir(const std::filesystem::path& archive, const std::filesystem::path& into) {
  std::error_code ec;
  std::filesystem::create_directories(into, ec);
  if (ec)
    throw error(errc::invalid_argument, "cannot make " + into.string() + ": " + ec.message());
  // The archive was made by `actors job submit` with tar; --no-same-owner and
  // --no-same-permissions keep what it holds from changing owners here, and tar
  // refuses members that climb out of the directory (`..`, absolute names).
  if (run_quietly({"tar", "--no-same-owner", "--no-same-permissions", "-C", into.string(), "-xf", archive.string()})
      != 0)
    throw error(errc::invalid_argument, "cannot unpack the working directory " + archive.string() + " into "
                                          + into.string() + " with tar: is it a tar archive?");
}

struct job_manager::job {
  wire::job_info info;
  wire::job_spec spec;
  std::filesystem::path dir;
  bool stop_requested = false;
};

job_manager::job_manager(job_manager_settings settings)
  : settings_(std::move(settings)), files_(settings_.root / "blobs") {
  std::error_code ec;
  std::filesystem::create_directories(settings_.root / "jobs", ec);
  if (ec)
    throw error(errc::invalid_argument, "cannot make the job directory " + (settings_.root / "jobs").string() + ": "
                                          + ec.message());
}

job_manager::~job_manager() {
  std::vector<std::shared_ptr<job>> running;
  {
    std::lock_guard<std::mutex> guard{mu_};
    stopping_ = true;
    for (auto& [id, j] : jobs_)
      if (j->info.state == "RUNNING")
        running.push_back(j);
  }
  for (auto& j : running)
    ::kill(-static_cast<pid_t>(j->info.pid), SIGTERM);
  {
    std::unique_lock<std::mutex> lock{mu_};
    ended_.wait_for(lock, std::chrono::seconds(5), [&] {
      for (auto& j : running)
        if (j->info.state == "RUNNING")
          return false;
      return true;
    });
    for (auto& j : running)
      if (j->info.state == "RUNNING")
        ::kill(-static_cast<pid_t>(j->info.pid), SIGKILL);
  }
  watchers_.wait_all();
}

wire::job_info job_manager::submit(const wire::job_spec& spec) {
  auto need = [&](const wire::job_file& f, const char* what) {
    if (!plain_name(f.name))
      throw error(errc::invalid_argument, std::string(what) + " name '" + f.name.substr(0, 80)
                                            + "' is not a plain file name");
    if (!files_.has(f.hash))
      throw error(errc::invalid_argument, std::string(what) + " '" + f.name + "' (" + f.hash.substr(0, 12)
                                            + ") was not uploaded: upload its file before submitting");
  };
  need(spec.program, "program");
  for (const auto& lib : spec.libraries)
    need(lib, "library");
  if (!spec.working_dir.hash.empty()) {
    need(spec.working_dir, "working directory");
    if (spec.working_dir.size > max_working_dir_bytes)
      throw error(errc::invalid_argument, "the working directory is " + std::to_string(spec.working_dir.size)
                                            + " bytes as an archive, more than the limit of "
                                            + std::to_string(max_working_dir_bytes) + ": leave large data out of it");
  }
  for (const auto& [key, value] : spec.env)
    if (key.empty() || key.find('=') != std::string::npos)
      throw error(errc::invalid_argument, "environment variable name '" + key + "' is empty or has '='");

  auto j = std::make_shared<job>();
  j->spec = spec;
  j->info.program = spec.program.name;
  j->info.args = spec.args;
  {
    std::lock_guard<std::mutex> guard{mu_};
    do
      j->info.id = fresh_job_id();
    while (jobs_.count(j->info.id));
  }
  j->dir = settings_.root / "jobs" / j->info.id;
  std::error_code ec;
  for (const char* sub : {"bin", "lib", "work"})
    std::filesystem::create_directories(j->dir / sub, ec);
  if (ec)
    throw error(errc::invalid_argument, "cannot make " + j->dir.string() + ": " + ec.message());
  auto place = [&](const wire::job_file& f, const std::filesystem::path& to, std::filesystem::perms mode) {
    std::filesystem::copy_file(files_.path(f.hash), to, ec);
    if (!ec)
      std::filesystem::permissions(to, mode, ec);
    if (ec)
      throw error(errc::invalid_argument, "cannot place " + f.name + " at " + to.string() + ": " + ec.message());
  };
  using p = std::filesystem::perms;
  auto program = j->dir / "bin" / spec.program.name;
  place(spec.program, program, p::owner_all | p::group_read | p::group_exec);
  for (const auto& lib : spec.libraries)
    place(lib, j->dir / "lib" / lib.name, p::owner_read | p::owner_write | p::owner_exec | p::group_read);
  if (!spec.working_dir.hash.empty())
    unpack_working_dir(files_.path(spec.working_dir.hash), j->dir / "work");

  // The program's environment: the head's, without its own ACTORS_* settings,
  // then the job's variables, then how to reach the cluster as this job.
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "ACTORS_", 7) != 0 && std::strncmp(*e, "LD_LIBRARY_PATH=", 16) != 0)
      env.emplace_back(*e);
  for (const auto& [key, value] : spec.env)
    env.push_back(key + "=" + value);
  std::string libs = (j->dir / "lib").string();
  if (const char* old = std::getenv("LD_LIBRARY_PATH"))
    libs += std::string(":") + old;
  env.push_back("LD_LIBRARY_PATH=" + libs);
  env.push_back("ACTORS_ADDRESS=" + settings_.cluster_address);
  env.push_back("ACTORS_TOKEN=" + settings_.token);
  env.push_back("ACTORS_JOB_ID=" + j->info.id);
  if (!settings_.tls_cert.empty()) {
    env.push_back("ACTORS_TLS_CERT=" + settings_.tls_cert);
    env.push_back("ACTORS_TLS_KEY=" + settings_.tls_key);
    env.push_back("ACTORS_TLS_CA=" + settings_.tls_ca);
  }

  std::vector<std::string> args{program.string()};
  args.insert(args.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv, envp;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  auto output = (j->dir / "output.log").string();
  auto work = (j->dir / "work").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0640);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addchdir_np(&actions, work.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group: stopping the job ends whatever it started too.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);

  std::lock_guard<std::mutex> guard{mu_};
  j->info.start_ms = now_ms();
  if (rc != 0) {
    j->info.state = "FAILED";
    j->info.end_ms = j->info.start_ms;
    j->info.exit_code = 127;
    j->info.message = "could not start " + spec.program.name + ": " + std::strerror(rc)
                      + " (is it a program for this machine?)";
    jobs_.emplace(j->info.id, j);
    log(log_level::warning, "jobs", "job ", j->info.id, ": ", j->info.message);
    return j->info;
  }
  j->info.state = "RUNNING";
  j->info.pid = pid;
  jobs_.emplace(j->info.id, j);
  log(log_level::info, "jobs", "job ", j->info.id, " started: ", spec.program.name, " (pid ", pid, ")");
  watchers_.start([this, j] { watch(j); });
  return j->info;
}

void job_manager::watch(std::shared_ptr<job> j) {
  int status = 0;
  while (::waitpid(static_cast<pid_t>(j->info.pid), &status, 0) < 0 && errno == EINTR) {
  }
  std::lock_guard<std::mutex> guard{mu_};
  j->info.end_ms = now_ms();
  j->info.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (j->stop_requested) {
    j->info.state = "STOPPED";
    j->info.message = "stopped by `actors job stop`";
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    j->info.state = "SUCCEEDED";
  } else {
    j->info.state = "FAILED";
    j->info.message = WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                        : "ended by signal " + std::to_string(WTERMSIG(status)) + " ("
                                            + strsignal(WTERMSIG(status)) + ")";
  }
  log(log_level::info, "jobs", "job ", j->info.id, " ", j->info.state, " (exit code ", j->info.exit_code, ")");
  ended_.notify_all();
}

std::shared_ptr<job_manager::job> job_manager::find(const std::string& id) const {
  std::lock_guard<std::mutex> guard{mu_};
  auto i = jobs_.find(id);
  if (i == jobs_.end())
    throw error(errc::invalid_argument, "no job '" + id.substr(0, 80) + "' on this head: `actors job list` shows them");
  return i->second;
}

std::vector<wire::job_info> job_manager::list() const {
  std::lock_guard<std::mutex> guard{mu_};
  std::vector<wire::job_info> out;
  for (const auto& [id, j] : jobs_)
    out.push_back(j->info);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.start_ms < b.start_ms; });
  return out;
}

wire::job_info job_manager::status(const std::string& id) const {
  auto j = find(id);
  std::lock_guard<std::mutex> guard{mu_};
  return j->info;
}

wire::log_chunk job_manager::logs(const std::string& id, std::uint64_t offset) const {
  auto j = find(id);
  wire::log_chunk out;
  {
    // The state first: output read after it saw the job end is all of it.
    std::lock_guard<std::mutex> guard{mu_};
    out.job = j->info;
  }
  std::ifstream in(j->dir / "output.log", std::ios::binary);
  in.seekg(0, std::ios::end);
  auto size = in ? static_cast<std::uint64_t>(in.tellg()) : 0;
  offset = std::min(offset, size);
  out.bytes.resize(static_cast<std::size_t>(std::min<std::uint64_t>(size - offset, wire::job_chunk_bytes)));
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(out.bytes.data(), static_cast<std::streamsize>(out.bytes.size()));
  out.next = offset + out.bytes.size();
  return out;
}

wire::job_info job_manager::stop(const std::string& id) {
  auto j = find(id);
  pid_t pid = 0;
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (j->info.state != "RUNNING")
      return j->info;
    j->stop_requested = true;
    pid = static_cast<pid_t>(j->info.pid);
  }
  ::kill(-pid, SIGTERM);
  std::unique_lock<std::mutex> lock{mu_};
  if (!ended_.wait_for(lock, std::chrono::seconds(5), [&] { return j->info.state != "RUNNING"; })) {
    ::kill(-pid, SIGKILL);
    ended_.wait_for(lock, std::chrono::seconds(5), [&] { return j->info.state != "RUNNING"; });
  }
  return j->info;
}

wire::job_env job_manager::env(const std::string& id) const {
  auto j = find(id);
  return {j->spec.libraries, j->spec.working_dir};
}

} // namespace actors::runtime
