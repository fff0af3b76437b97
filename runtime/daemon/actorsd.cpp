// actorsd: the generic node daemon. Runs a head (--head) or joins one
// (--address), loading the user's libraries whose ACTORS_REMOTE lines register
// the functions and actor classes this node can run.

#include "runtime/common/flag_names.hpp"
#include "runtime/common/log.hpp"
#include "runtime/node/node.hpp"

#include <malloc.h>
#include "runtime/node/command_line.hpp"
#include "runtime/node/options.hpp"
#include "runtime/node/session.hpp"
#include "runtime/wire/protocol.hpp"

#include "actors/actors.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <iostream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

int stop_pipe[2] = {-1, -1};

[[noreturn]] void fail(const std::string& why) {
  std::cerr << "actorsd: " << why << "\n";
  std::exit(2);
}

struct daemon_options {
  bool head = false;
  int port = 6380;
  std::string address;
  std::vector<std::string> libraries;
  std::string metrics_sd_file;
  std::string log_level; // as given, passed on to the nodes the autoscaler launches
  actors::init_options node;
};

/// The command line of a node the autoscaler's local provider starts: this
/// program, joining this head, with the head's libraries.
std::vector<std::string> launched_node_command(const daemon_options& o, const actors::runtime::launch_spec& spec) {
  std::vector<std::string> args{"/proc/self/exe", "--address", spec.head_address, "--token", spec.token};
  auto cpu = spec.type.resources.find("CPU");
  args.insert(args.end(), {"--num-cpus", std::to_string(cpu == spec.type.resources.end() ? 0.0 : cpu->second)});
  if (auto custom = actors::runtime::resources_flag(spec.type.resources); !custom.empty())
    args.insert(args.end(), {"--resources", custom});
  args.insert(args.end(), {"--launch-id", spec.launch_id, "--heartbeat-timeout",
                           std::to_string(o.node.heartbeat_timeout_ms)});
  if (!o.node.tls_cert.empty())
    args.insert(args.end(), {"--tls-cert", o.node.tls_cert, "--tls-key", o.node.tls_key, "--tls-ca", o.node.tls_ca});
  for (const auto& lib : o.libraries)
    args.insert(args.end(), {"--load", lib});
  if (!o.log_level.empty())
    args.insert(args.end(), {"--log-level", o.log_level});
  return args;
}

daemon_options parse(int argc, char** argv) {
  actors::runtime::use_daemon_flag_names();
  daemon_options o;
  if (const char* level = std::getenv("ACTORS_LOG_LEVEL"))
    o.log_level = level;

  CLI::App app{"actorsd --head [--port PORT] [options]: runs the head of a cluster\n"
               "actorsd --address HOST:PORT [options]: runs a node that joins it\n\n"
               "Either way it loads the libraries (--load) whose ACTORS_REMOTE lines\n"
               "register the functions and actor classes it runs.",
               "actorsd"};
  app.set_version_flag("--version",
                       "actorsd " + std::string(actors::version()) + " (wire protocol "
                         + std::to_string(actors::runtime::wire::protocol_version) + ")",
                       "print the version and the wire protocol, and exit");
  app.get_formatter()->column_width(34);
  app.add_flag("--head", o.head, "run the cluster's head (control store) on --port");
  app.add_option("--port", o.port, "the head's port (default 6380; 0 picks a free one)")
    ->type_name("PORT")
    ->check(actors::runtime::whole_number(0, 65535));
  app.add_option("--address", o.address, "join the cluster whose head is there")->type_name("HOST:PORT");
  app.add_option("--load", o.libraries, "load a library with ACTORS_REMOTE registrations\n(repeatable)")
    ->type_name("LIB.so")
    ->allow_extra_args(false);
  app.add_option("--metrics-sd-file", o.metrics_sd_file,
                 "head: keep a Prometheus file_sd list of every node's\nmetrics endpoint in FILE")
    ->type_name("FILE");
  actors::runtime::add_node_options(app, o.node);
  app.footer("Each node setting can also come from its environment variable, the name\n"
             "in capitals with ACTORS_ in front (ACTORS_NUM_CPUS, ACTORS_TOKEN, ...); a flag\n"
             "wins. SIGINT or SIGTERM stops the daemon cleanly. See docs/guide/cluster.md.");
  actors::runtime::parse_command_line(app, argc, argv);
  if (auto* level = app.get_option("--log-level"); level->count() > 0)
    o.log_level = level->as<std::string>();
  // Each setting whose flag was not given from its ACTORS_* variable: a flag wins.
  try {
    actors::runtime::read_node_environment(o.node, true, [&app](const std::string& name) {
      return app.get_option("--" + name)->count() > 0;
    });
  } catch (const actors::error& e) {
    fail(e.what());
  }
  if (o.head == !o.address.empty())
    fail("give exactly one of --head (start a cluster) or --address HOST:PORT (join one)");
  if (!o.node.state_dir.empty() && !o.head)
    fail("--state-dir is for the head (--head): nodes keep no state of the cluster");
  if (!o.node.autoscale.empty()) {
    if (!o.head)
      fail("--autoscale is for the head (--head): the head's autoscaler launches the nodes");
    try {
      actors::runtime::load_autoscale_config(o.node.autoscale); // refused now rather than at start
    } catch (const std::exception& e) {
      fail(e.what());
    }
  }
  return o;
}

} // namespace

int main(int argc, char** argv) {
  // Blocks of data come and go in megabytes: give freed ones back to the system at
  // once (glibc's adaptive threshold would otherwise keep them in the heap, and the
  // node's memory would not follow its object store's limit).
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
  auto o = parse(argc, argv);
  for (const auto& lib : o.libraries)
    if (!dlopen(lib.c_str(), RTLD_NOW | RTLD_GLOBAL))
      fail("cannot load " + lib + ": " + dlerror());

  // SIGINT and SIGTERM stop the node cleanly: the handler writes to a pipe that a
  // thread waits on (a handler may do little else).
  if (::pipe(stop_pipe) != 0)
    fail("cannot create a pipe for signal handling");
  struct sigaction sa{};
  sa.sa_handler = [](int) {
    char c = 1;
    [[maybe_unused]] auto n = ::write(stop_pipe[1], &c, 1);
  };
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  namespace rt = actors::runtime;
  auto make_config = [&o] {
    // The addresses are chosen below, once the role and the head are known.
    auto opts = o.node;
    opts.bind = "127.0.0.1";
    opts.advertise_address.clear();
    auto cfg = rt::resolve(opts);
    cfg.forward_output = true;
    cfg.metrics_sd_file = o.metrics_sd_file;
    cfg.launch_id = o.node.launch_id;
    if (o.head) {
      cfg.role = rt::node_role::head;
      cfg.port = static_cast<std::uint16_t>(o.port);
      cfg.state_dir = o.node.state_dir;
      cfg.token = o.node.token.empty() ? rt::saved_token(cfg.state_dir) : o.node.token;
      cfg.autoscale_file = o.node.autoscale;
      cfg.local_node = [&o](const rt::launch_spec& spec) { return launched_node_command(o, spec); };
    } else {
      cfg.role = rt::node_role::member;
      cfg.head_address = o.address;
      cfg.token = o.node.token;
      if (cfg.token.empty())
        if (auto s = rt::read_session(); s && s->address == o.address)
          cfg.token = s->token;
    }
    rt::resolve_addresses(cfg, o.node.bind, o.node.advertise_address);
    return cfg;
  };
  rt::node* n = nullptr;
  try {
    n = &rt::start_node(make_config());
  } catch (const std::exception& e) {
    fail(e.what());
  }
  if (o.head) {
    try {
      rt::write_session({n->cluster_address, n->config.token, static_cast<long>(::getpid())});
    } catch (const std::exception& e) {
      std::cerr << "actorsd: warning: " << e.what() << "\n";
    }
    // Its own messages, not its tasks' output: to stdout, not to the drivers.
    if (n->metrics)
      rt::print_console("actorsd: metrics on http://" + n->config.advertise + ":" + std::to_string(n->metrics->port())
                        + "/metrics, service discovery on /sd\n");
    rt::print_console("actorsd: head " + n->id.to_string() + " listening on " + n->cluster_address
                      + "\nactorsd: join with: actorsd --address " + n->cluster_address + " --token "
                      + n->config.token + "\n");
  } else {
    rt::print_console("actorsd: node " + n->id.to_string() + " joined " + o.address + "\n");
  }
  std::thread([] {
    char c = 0;
    while (::read(stop_pipe[0], &c, 1) < 0 && errno == EINTR) {
    }
    rt::stop_serving();
  }).detach();
  auto cause = rt::serve_until_stopped(make_config, [&o](const actors::node_id& was, rt::stop_cause why,
                                                         rt::node& now) {
    rt::print_console("actorsd: node " + was.to_string()
                      + (why == rt::stop_cause::declared_dead ? " was declared dead" : " lost a service") + "; joined "
                      + o.address + " again as node " + now.id.to_string() + "\n");
  });
  if (o.head)
    rt::remove_session(::getpid());
  actors::shutdown();
  // A node that lost its head or a service exits non-zero, so that a service
  // manager starts it again.
  return cause == rt::stop_cause::requested ? 0 : 1;
}
