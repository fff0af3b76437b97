// actors: the command-line view of a running cluster. Reads the head's tables
// through its control store: `actors status`, `actors list nodes [--json]`,
// `actors stop`.

#include "runtime/cluster/cluster.hpp"
#include "runtime/cluster/protocol.hpp"
#include "runtime/control_store/control_store.hpp"
#include "runtime/node/session.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace rt = actors::runtime;

const char* usage = R"(usage: actors [--address HOST:PORT] [--token TOKEN] COMMAND

commands:
  status               nodes, their resources (free/total), alive and dead
  list nodes [--json]  one line (or JSON object) per node
  stop                 every node of the cluster exits cleanly

Without --address, the cluster whose head runs on this machine is used (its
session file in $ACTORS_SESSION_DIR or /tmp/actors).
)";

[[noreturn]] void fail(const std::string& why) {
  std::cerr << "actors: " << why << "\n";
  std::exit(2);
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out;
}

std::string resources(const std::map<std::string, double>& avail, const std::map<std::string, double>& total) {
  std::ostringstream os;
  bool first = true;
  for (const auto& [name, amount] : total) {
    auto a = avail.find(name);
    os << (first ? "" : ", ") << name << " " << (a == avail.end() ? 0.0 : a->second) << "/" << amount;
    first = false;
  }
  return os.str();
}

std::string age(std::int64_t since_ms) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  auto s = (now - since_ms) / 1000;
  std::ostringstream os;
  if (s < 120)
    os << s << "s";
  else if (s < 7200)
    os << s / 60 << "m";
  else
    os << s / 3600 << "h";
  return os.str();
}

void print_json(const rt::wire::cluster_view& v) {
  std::cout << "[";
  for (std::size_t i = 0; i < v.nodes.size(); ++i) {
    const auto& n = v.nodes[i];
    std::cout << (i ? ",\n " : "") << "{\"id\":\"" << n.id.to_string() << "\",\"address\":\""
              << json_escape(n.address) << "\",\"alive\":" << (n.alive ? "true" : "false")
              << ",\"head\":" << (n.head ? "true" : "false")
              << ",\"driver\":" << (n.driver ? "true" : "false") << ",\"pid\":" << n.pid
              << ",\"resources_total\":{";
    bool first = true;
    for (const auto& [name, amount] : n.total) {
      std::cout << (first ? "" : ",") << "\"" << json_escape(name) << "\":" << amount;
      first = false;
    }
    std::cout << "},\"resources_available\":{";
    first = true;
    for (const auto& [name, amount] : n.available) {
      std::cout << (first ? "" : ",") << "\"" << json_escape(name) << "\":" << amount;
      first = false;
    }
    std::cout << "},\"load\":" << n.load << "}";
  }
  std::cout << "]\n";
}

void print_table(const rt::wire::cluster_view& v) {
  std::cout << std::left << std::setw(18) << "NODE" << std::setw(23) << "ADDRESS" << std::setw(7) << "STATE"
            << std::setw(7) << "ROLE" << std::setw(8) << "PID" << std::setw(7) << "AGE"
            << "RESOURCES (free/total)\n";
  for (const auto& n : v.nodes)
    std::cout << std::left << std::setw(18) << n.id.to_string() << std::setw(23) << n.address << std::setw(7)
              << (n.alive ? "ALIVE" : "DEAD") << std::setw(7) << (n.head ? "head" : n.driver ? "driver" : "node") << std::setw(8)
              << n.pid << std::setw(7) << age(n.alive ? n.joined_ms : n.died_ms)
              << (n.alive ? resources(n.available, n.total) : std::string("-")) << "\n";
}

} // namespace

int main(int argc, char** argv) {
  std::string address;
  std::string token;
  if (const char* t = std::getenv("ACTORS_TOKEN"))
    token = t;
  if (const char* a = std::getenv("ACTORS_ADDRESS"))
    address = a;
  std::vector<std::string> words;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      return 0;
    } else if (arg == "--json") {
      json = true;
    } else if (arg == "--address" && i + 1 < argc) {
      address = argv[++i];
    } else if (arg.rfind("--address=", 0) == 0) {
      address = arg.substr(10);
    } else if (arg == "--token" && i + 1 < argc) {
      token = argv[++i];
    } else if (arg.rfind("--token=", 0) == 0) {
      token = arg.substr(8);
    } else if (arg.rfind("--", 0) == 0) {
      fail("unknown option '" + arg + "'; see actors --help");
    } else {
      words.push_back(arg);
    }
  }
  if (words.empty())
    fail("no command given; see actors --help");
  if (address.empty() || token.empty()) {
    auto s = rt::read_session();
    if (address.empty()) {
      if (!s)
        fail("no running cluster found on this machine (no live head in " + rt::session_dir().string()
             + "); start one with `actorsd --head`, or pass --address HOST:PORT");
      address = s->address;
    }
    if (token.empty() && s && s->address == address)
      token = s->token;
  }

  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", std::size_t{1});
  cfg.set("middleman.workers", std::size_t{0});
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  try {
    auto control = rt::connect_control_store(sys, address);
    const auto& cmd = words[0];
    if (cmd == "status" || (cmd == "list" && words.size() >= 2 && words[1] == "nodes")) {
      auto view = rt::wire::unpack<rt::wire::cluster_view>(control->view(), "node table");
      if (json) {
        print_json(view);
      } else {
        if (cmd == "status") {
          std::size_t alive = 0;
          for (const auto& n : view.nodes)
            alive += n.alive;
          std::cout << "cluster at " << address << ": " << alive << " nodes alive, "
                    << view.nodes.size() - alive << " dead\n";
        }
        print_table(view);
      }
    } else if (cmd == "list") {
      fail(words.size() < 2 ? "list what? actors list nodes"
                            : "cannot list '" + words[1] + "' yet: actors list nodes");
    } else if (cmd == "stop") {
      if (!control->stop_cluster(token))
        fail("the head refused to stop: wrong or missing token (--token or ACTORS_TOKEN)");
      std::cout << "asked every node of " << address << " to stop\n";
    } else {
      fail("unknown command '" + cmd + "'; see actors --help");
    }
  } catch (const std::exception& e) {
    fail(e.what());
  }
  return 0;
}
