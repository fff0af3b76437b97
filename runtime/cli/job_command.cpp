// `actors job ...`: sends a program, its libraries and its working directory to
// the head, which runs it as a driver of the cluster (runtime/jobs/), and follows
// its output; lists, shows and stops jobs.

#include "runtime/cli/job_command.hpp"

#include "runtime/cluster/caf_connect.hpp"
#include "runtime/cluster/caf_head_link.hpp"
#include "runtime/control_store/control_store.hpp"
#include "runtime/jobs/blob_store.hpp"
#include "runtime/jobs/job_manager.hpp"
#include "runtime/wire/atoms.hpp"
#include "runtime/wire/jobs.hpp"
#include "runtime/wire/protocol.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <thread>
#include <unistd.h>

namespace actors::runtime {

namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& why) {
  std::cerr << "actors: " << why << "\n";
  std::exit(2);
}

/// The head's job service, reached through the head node's endpoint.
class job_client {
 public:
  job_client(caf::actor_system& sys, const std::string& address, std::string token)
    : sys_(sys), token_(std::move(token)) {
    auto control = connect_control_store(sys, address);
    auto view = wire::unpack<wire::cluster_view>(control->view(token_), "node table");
    for (const auto& n : view.nodes)
      if (n.head && n.alive) {
        auto colon = n.address.rfind(':');
        auto ep = connect_within(sys, n.address.substr(0, colon),
                                 static_cast<std::uint16_t>(std::stoi(n.address.substr(colon + 1))));
        if (!ep)
          fail("cannot reach the head's node at " + n.address + ": " + sys.render(ep.error()));
        head_ = *ep;
      }
    if (!head_)
      fail("the node table of " + address + " lists no live head");
  }

  std::string ask(const std::string& op, std::string payload) {
    std::string out;
    caf::scoped_actor self{sys_};
    self->request(head_, std::chrono::seconds(60), msg::job_atom::value, op, token_, std::move(payload))
      .receive(
        [&](bool ok, std::string& answer) {
          if (!ok)
            fail(answer);
          out = std::move(answer);
        },
        [&](const caf::error& e) { fail("the head did not answer a job request (" + op + "): " + sys_.render(e)); });
    return out;
  }

  /// Uploads each file the head does not have yet.
  void upload(const std::vector<std::pair<wire::job_file, fs::path>>& files) {
    wire::job_query q;
    for (const auto& [f, path] : files)
      q.hashes.push_back(f.hash);
    auto missing = wire::unpack<wire::job_query>(ask("missing", wire::pack(q)), "missing files");
    for (const auto& [f, path] : files) {
      if (std::find(missing.hashes.begin(), missing.hashes.end(), f.hash) == missing.hashes.end())
        continue;
      std::ifstream in(path, std::ios::binary);
      wire::file_chunk chunk;
      chunk.hash = f.hash;
      do {
        chunk.bytes.assign(wire::job_chunk_bytes, '\0');
        in.read(chunk.bytes.data(), static_cast<std::streamsize>(chunk.bytes.size()));
        chunk.bytes.resize(static_cast<std::size_t>(in.gcount()));
        chunk.last = !in || chunk.offset + chunk.bytes.size() >= f.size;
        if (in.bad())
          fail("cannot read " + path.string());
        auto sent = chunk.bytes.size();
        ask("upload", wire::pack(chunk));
        chunk.offset += sent;
      } while (!chunk.last);
      // Remove the entry: the same file twice in one job goes up once.
      missing.hashes.erase(std::find(missing.hashes.begin(), missing.hashes.end(), f.hash));
    }
  }

 private:
  caf::actor_system& sys_;
  std::string token_;
  caf::actor head_;
};

wire::job_file describe(const fs::path& path, const std::string& what) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    fail(what + " '" + path.string() + "' is not a file");
  return {path.filename().string(), sha256_of_file(path), static_cast<std::uint64_t>(fs::file_size(path, ec))};
}

// PROGRAM as given, or found on PATH when it has no slash (as a shell would).
fs::path find_program(const std::string& name) {
  if (name.find('/') != std::string::npos)
    return name;
  if (const char* path = std::getenv("PATH")) {
    std::string dirs = path;
    std::size_t at = 0;
    while (at <= dirs.size()) {
      auto end = dirs.find(':', at);
      auto dir = dirs.substr(at, end == std::string::npos ? std::string::npos : end - at);
      auto candidate = fs::path(dir.empty() ? "." : dir) / name;
      if (::access(candidate.c_str(), X_OK) == 0)
        return candidate;
      if (end == std::string::npos)
        break;
      at = end + 1;
    }
  }
  fail("program '" + name + "' not found on PATH");
}

std::string when(std::int64_t ms) {
  if (ms == 0)
    return "-";
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
  return buf;
}

bool ended(const wire::job_info& j) {
  return j.state != "RUNNING" && j.state != "PENDING";
}

/// The exit status `actors job submit` and `logs --follow` end with.
int status_of(const wire::job_info& j) {
  if (j.state == "SUCCEEDED")
    return 0;
  return j.exit_code != 0 ? j.exit_code : 1;
}

/// Prints the job's output from `offset`; with `follow`, until the job ended.
wire::job_info print_logs(job_client& jobs, const std::string& id, bool follow) {
  std::uint64_t offset = 0;
  for (;;) {
    auto chunk = wire::unpack<wire::log_chunk>(jobs.ask("logs", wire::pack(wire::job_query{id, {}, offset, {}})),
                                               "job output");
    std::cout.write(chunk.bytes.data(), static_cast<std::streamsize>(chunk.bytes.size()));
    std::cout.flush();
    offset = chunk.next;
    // The state was read before the output: once it said ended, this output is
    // all there is.
    if (chunk.bytes.empty() && (!follow || ended(chunk.job)))
      return chunk.job;
    if (chunk.bytes.empty())
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

/// What `actors job submit` was given.
struct submit_options {
  std::string working_dir;
  std::vector<std::string> libraries;
  std::vector<std::string> env; // NAME=VALUE
  bool no_wait = false;
  std::vector<std::string> command; // PROGRAM ARGS...
};

int submit(job_client& jobs, const submit_options& o) {
  wire::job_spec spec;
  std::vector<std::pair<wire::job_file, fs::path>> files;
  auto program = find_program(o.command.front());
  spec.program = describe(program, "program");
  files.emplace_back(spec.program, program);
  spec.args.assign(o.command.begin() + 1, o.command.end());
  for (const auto& lib : o.libraries) {
    spec.libraries.push_back(describe(lib, "library"));
    files.emplace_back(spec.libraries.back(), lib);
  }
  for (const auto& kv : o.env) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      fail("--env takes NAME=VALUE, not '" + kv + "'");
    spec.env.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  std::string archive;
  const auto& working_dir = o.working_dir;
  if (!working_dir.empty()) {
    std::error_code ec;
    if (!fs::is_directory(working_dir, ec))
      fail("--working-dir '" + working_dir + "' is not a directory");
    char tmpl[] = "/tmp/actors-job-XXXXXX";
    int fd = ::mkstemp(tmpl);
    if (fd < 0)
      fail("cannot make a temporary file under /tmp for the working directory's archive");
    ::close(fd);
    archive = tmpl;
    std::string cmd = "tar -C '" + working_dir + "' -cf '" + archive + "' .";
    if (working_dir.find('\'') != std::string::npos || std::system(cmd.c_str()) != 0) {
      fs::remove(archive, ec);
      fail("cannot archive the working directory '" + working_dir + "' with tar");
    }
    auto size = fs::file_size(archive, ec);
    if (size > max_working_dir_bytes) {
      fs::remove(archive, ec);
      fail("the working directory '" + working_dir + "' is " + std::to_string(size)
           + " bytes as an archive, more than the limit of " + std::to_string(max_working_dir_bytes)
           + " (100 MiB): leave large data out of it and read it from shared storage or put it in objects");
    }
    spec.working_dir = describe(archive, "working directory archive");
    spec.working_dir.name = "working_dir.tar";
    files.emplace_back(spec.working_dir, archive);
  }
  jobs.upload(files);
  if (!archive.empty()) {
    std::error_code ec;
    fs::remove(archive, ec);
  }
  auto info = wire::unpack<wire::job_info>(jobs.ask("submit", wire::pack(spec)), "job");
  if (o.no_wait) {
    std::cout << info.id << "\n";
    return 0;
  }
  std::cerr << "actors: job " << info.id << " " << info.state << " on the head; its output follows (Ctrl-C stops "
            << "following, the job goes on: `actors job stop " << info.id << "` ends it)" << std::endl;
  auto end = print_logs(jobs, info.id, true);
  std::cerr << "actors: job " << end.id << " " << end.state
            << (end.message.empty() ? std::string() : ": " + end.message) << std::endl;
  return status_of(end);
}

} // namespace

void add_job_commands(CLI::App& app, cluster_command& run) {
  auto* job = app.add_subcommand("job", "run a program on the cluster from anywhere, and follow it");
  auto o = std::make_shared<submit_options>();
  auto* submit_cmd = job->add_subcommand("submit", "run PROGRAM on the head as a driver of the cluster");
  submit_cmd->footer("The program and its arguments go after --:\n"
                     "  actors job submit --load libjob.so -- ./prog --rows 10");
  submit_cmd->add_option("--working-dir", o->working_dir, "a directory the job starts in (sent as a tar archive)")
    ->type_name("DIR");
  submit_cmd->add_option("--load", o->libraries, "a library registering the job's functions (repeatable)")
    ->type_name("LIB.so")
    ->allow_extra_args(false);
  submit_cmd->add_option("--env", o->env, "an environment variable of the job (repeatable)")
    ->type_name("NAME=VALUE")
    ->allow_extra_args(false);
  submit_cmd->add_flag("--no-wait", o->no_wait, "print the job's id and return instead of following it");
  submit_cmd->add_option("command", o->command, "the program and its arguments, after --")
    ->type_name("PROGRAM [ARGS...]")
    ->required();
  submit_cmd->callback([o, &run] {
    run = [o](caf::actor_system& sys, const std::string& address, const std::string& token) {
      job_client jobs(sys, address, token);
      return submit(jobs, *o);
    };
  });

  job->add_subcommand("list", "the jobs the head ran and runs")->callback([&run] {
    run = [](caf::actor_system& sys, const std::string& address, const std::string& token) {
      job_client jobs(sys, address, token);
      auto list = wire::unpack<wire::job_list>(jobs.ask("list", {}), "job list");
      std::cout << std::left << std::setw(14) << "ID" << std::setw(11) << "STATE" << std::setw(21) << "STARTED"
                << std::setw(6) << "EXIT" << "PROGRAM\n";
      for (const auto& j : list.jobs)
        std::cout << std::left << std::setw(14) << j.id << std::setw(11) << j.state << std::setw(21)
                  << when(j.start_ms) << std::setw(6) << (ended(j) ? std::to_string(j.exit_code) : "-") << j.program
                  << "\n";
      return 0;
    };
  });

  // status, logs and stop name one job.
  auto id = std::make_shared<std::string>();
  auto follow = std::make_shared<bool>(false);
  auto* status_cmd = job->add_subcommand("status", "a job's state, program, pid and exit code");
  auto* logs_cmd = job->add_subcommand("logs", "a job's output so far; with --follow, until it ends");
  auto* stop_cmd = job->add_subcommand("stop", "end a job (its program gets SIGTERM)");
  for (auto* cmd : {status_cmd, logs_cmd, stop_cmd})
    cmd->add_option("id", *id, "the job, as `actors job list` shows it")->type_name("ID")->required();
  logs_cmd->add_flag("-f,--follow", *follow, "keep printing until the job ends; exit with its status");

  status_cmd->callback([id, &run] {
    run = [id](caf::actor_system& sys, const std::string& address, const std::string& token) {
      job_client jobs(sys, address, token);
      auto j = wire::unpack<wire::job_info>(jobs.ask("status", wire::pack(wire::job_query{*id, {}, 0, {}})), "job");
      std::cout << "job " << j.id << ": " << j.state << "\nprogram: " << j.program;
      for (const auto& a : j.args)
        std::cout << " " << a;
      std::cout << "\npid: " << j.pid << " on the head\nstarted: " << when(j.start_ms)
                << "\nended: " << when(j.end_ms) << "\n";
      if (ended(j))
        std::cout << "exit code: " << j.exit_code << "\n";
      if (!j.message.empty())
        std::cout << "message: " << j.message << "\n";
      return 0;
    };
  });
  logs_cmd->callback([id, follow, &run] {
    run = [id, follow](caf::actor_system& sys, const std::string& address, const std::string& token) {
      job_client jobs(sys, address, token);
      auto j = print_logs(jobs, *id, *follow);
      return *follow ? status_of(j) : 0;
    };
  });
  stop_cmd->callback([id, &run] {
    run = [id](caf::actor_system& sys, const std::string& address, const std::string& token) {
      job_client jobs(sys, address, token);
      auto j = wire::unpack<wire::job_info>(jobs.ask("stop", wire::pack(wire::job_query{*id, {}, 0, {}})), "job");
      std::cout << "job " << j.id << ": " << j.state << "\n";
      return 0;
    };
  });
  // Set last, so that the subcommands do not inherit it.
  job->footer("submit sends PROGRAM, the libraries (whose ACTORS_REMOTE lines register the\n"
              "job's functions; every node that runs the job's work fetches and loads them)\n"
              "and the working directory (at most 100 MiB as a tar archive) to the head, which\n"
              "runs PROGRAM there as a driver of the cluster, in that directory, with the\n"
              "libraries on its LD_LIBRARY_PATH and ACTORS_ADDRESS, ACTORS_TOKEN and\n"
              "ACTORS_JOB_ID set. Its output is printed here as it comes; the exit status is\n"
              "the job's.");
}

} // namespace actors::runtime
