// actors: the command-line view of a running cluster. Reads the head's node
// table through its control store, and each node's actors, tasks and objects
// from its endpoint: `actors status`, `actors list ...`, `actors summary tasks`,
// `actors timeline`, `actors logs`, `actors stop`; and `actors job ...` and
// `actors certs`. The command line is CLI11's, a subcommand per command.

#include "runtime/cli/job_command.hpp"
#include "runtime/cluster/caf_connect.hpp"
#include "runtime/cluster/caf_head_link.hpp"
#include "runtime/secure/certs.hpp"
#include "runtime/secure/tls_gateway.hpp"
#include "runtime/wire/protocol.hpp"
#include "runtime/control_store/control_store.hpp"
#include "runtime/wire/atoms.hpp"
#include "runtime/node/command_line.hpp"
#include "runtime/node/session.hpp"

#include "actors/version.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace rt = actors::runtime;
// Keys stay in the order they are written, so the output reads as before.
using json = nlohmann::ordered_json;

[[noreturn]] void fail(const std::string& why) {
  std::cerr << "actors: " << why << "\n";
  std::exit(2);
}

/// Writes `j` as one line of JSON. Names come from users: bytes that are not
/// UTF-8 become U+FFFD rather than making the output invalid.
void print_json_text(std::ostream& out, const json& j) {
  out << j.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
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

json json_map(const std::map<std::string, double>& m) {
  json out = json::object();
  for (const auto& [name, amount] : m)
    out[name] = amount;
  return out;
}

std::string shape_text(const std::map<std::string, double>& m) {
  std::ostringstream os;
  os << "{";
  bool first = true;
  for (const auto& [name, amount] : m) {
    os << (first ? "" : ", ") << name << ": " << amount;
    first = false;
  }
  os << "}";
  return os.str();
}

/// The autoscaler's part of `actors status`; nothing without an autoscaler.
void print_autoscaler(const rt::wire::cluster_view& v) {
  if (v.autoscaler.empty())
    return;
  auto s = rt::wire::unpack<rt::wire::autoscaler_status>(v.autoscaler, "autoscaler status");
  std::cout << "\nAutoscaler\n";
  std::cout << std::left << std::setw(14) << "NODE TYPE" << std::setw(26) << "RESOURCES" << std::setw(5) << "MIN"
            << std::setw(5) << "MAX" << std::setw(9) << "RUNNING" << "LAUNCHING\n";
  for (const auto& t : s.node_types)
    std::cout << std::left << std::setw(14) << t.name << std::setw(26) << shape_text(t.resources) << std::setw(5)
              << t.min << std::setw(5) << t.max << std::setw(9) << t.running << t.launching << "\n";
  std::cout << "pending demand:";
  if (s.pending.empty())
    std::cout << " none";
  for (std::size_t i = 0; i < s.pending.size(); ++i)
    std::cout << (i ? ", " : " ") << s.pending[i].count << " x " << shape_text(s.pending[i].shape);
  std::cout << "\ninfeasible (no node type holds it):";
  if (s.infeasible.empty())
    std::cout << " none";
  for (std::size_t i = 0; i < s.infeasible.size(); ++i)
    std::cout << (i ? ", " : " ") << shape_text(s.infeasible[i]);
  std::cout << "\nlast events:\n";
  for (const auto& e : s.events)
    std::cout << "  " << e << "\n";
}

/// `actors list nodes --json`: one object per node.
json nodes_json(const rt::wire::cluster_view& v) {
  json out = json::array();
  for (const auto& n : v.nodes)
    out.push_back({{"id", n.id.to_string()},
                   {"address", n.address},
                   {"alive", n.alive},
                   {"head", n.head},
                   {"driver", n.driver},
                   {"pid", n.pid},
                   {"metrics_port", n.metrics_port},
                   {"data_address", n.data_address},
                   {"lane_address", n.lane_address},
                   {"object_store_bytes", n.object_store_bytes},
                   {"resources_total", json_map(n.total)},
                   {"resources_available", json_map(n.available)},
                   {"load", n.load},
                   {"launch_id", n.launch_id},
                   {"draining", n.draining}});
  return out;
}

/// `actors status --json`: {"nodes": [...], "autoscaler": {...} or null}.
json status_json(const rt::wire::cluster_view& v) {
  json out = {{"nodes", nodes_json(v)}, {"autoscaler", nullptr}};
  if (v.autoscaler.empty())
    return out;
  auto s = rt::wire::unpack<rt::wire::autoscaler_status>(v.autoscaler, "autoscaler status");
  json types = json::object();
  for (const auto& t : s.node_types)
    types[t.name] = {{"resources", json_map(t.resources)},
                     {"min", t.min},
                     {"max", t.max},
                     {"running", t.running},
                     {"launching", t.launching}};
  json pending = json::array();
  for (const auto& p : s.pending)
    pending.push_back({{"shape", json_map(p.shape)}, {"count", p.count}});
  json infeasible = json::array();
  for (const auto& shape : s.infeasible)
    infeasible.push_back(json_map(shape));
  out["autoscaler"] = {{"node_types", std::move(types)},
                       {"pending_demand", std::move(pending)},
                       {"infeasible", std::move(infeasible)},
                       {"events", s.events}};
  return out;
}

/// Rows of one kind from every live node, each with its node's id in front.
rt::wire::state_table gather(caf::actor_system& sys, const rt::wire::cluster_view& view, const std::string& what,
                             const std::string& token) {
  rt::wire::state_table all;
  for (const auto& n : view.nodes) {
    if (!n.alive || n.address == "in-process")
      continue;
    auto colon = n.address.rfind(':');
    auto endpoint = rt::connect_within(sys, n.address.substr(0, colon),
                                       static_cast<std::uint16_t>(std::stoi(n.address.substr(colon + 1))));
    if (!endpoint) {
      std::cerr << "actors: node " << n.id.to_string() << " at " << n.address << " did not answer\n";
      continue;
    }
    caf::scoped_actor self{sys};
    self->request(*endpoint, std::chrono::seconds(10), rt::msg::state_atom::value, what, token)
      .receive(
        [&](bool ok, const std::string& blob) {
          if (!ok)
            fail("node " + n.id.to_string() + " refused the query: wrong or missing cluster token (pass "
                 "--token or ACTORS_TOKEN; on the head's machine the session file provides it)");
          auto t = rt::wire::unpack<rt::wire::state_table>(blob, "node state");
          if (all.columns.empty()) {
            all.columns = t.columns;
            all.columns.insert(all.columns.begin(), "NODE");
          }
          for (auto& row : t.rows) {
            row.insert(row.begin(), n.id.to_string());
            all.rows.push_back(std::move(row));
          }
        },
        [&](const caf::error& e) {
          std::cerr << "actors: node " << n.id.to_string() << " did not answer: " << sys.render(e) << "\n";
        });
  }
  return all;
}

/// The head's record of every placement group, as rows.
rt::wire::state_table group_rows(const std::vector<rt::wire::group_record>& groups) {
  static const char* const strategies[] = {"DEFAULT", "SPREAD", "PACK", "STRICT_PACK", "STRICT_SPREAD"};
  rt::wire::state_table t;
  t.columns = {"GROUP", "NAME", "NAMESPACE", "STRATEGY", "BUNDLES", "NODES", "STATE", "CREATOR", "LIFETIME"};
  for (const auto& g : groups) {
    std::ostringstream bundles;
    std::ostringstream nodes;
    for (std::size_t i = 0; i < g.bundles.size(); ++i) {
      bundles << (i ? " {" : "{");
      bool first = true;
      for (const auto& [name, amount] : g.bundles[i]) {
        bundles << (first ? "" : ",") << name << ":" << amount;
        first = false;
      }
      bundles << "}";
      nodes << (i ? " " : "") << (i < g.nodes.size() && g.nodes[i].value ? g.nodes[i].to_string() : "-");
    }
    t.rows.push_back({g.id, g.name, g.ns, g.strategy < 5 ? strategies[g.strategy] : "?", bundles.str(), nodes.str(),
                      g.state, g.creator.to_string(), g.detached ? "detached" : "with_creator"});
  }
  return t;
}

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// A cell of a listing as JSON: counts, sizes and times are numbers, the rest
/// (ids, names, states) strings, whatever they look like.
json cell_json(const std::string& column, const std::string& cell) {
  static const std::set<std::string> numeric{"RESTARTS", "BYTES",  "START_US", "END_US", "WORKER",
                                             "FINISHED", "FAILED", "RUNNING",  "PENDING"};
  if (numeric.count(column) && !cell.empty()) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
    if (ec == std::errc() && end == cell.data() + cell.size())
      return v;
  }
  return cell;
}

void print_rows(const rt::wire::state_table& t, bool as_json, const std::string& state_filter) {
  std::size_t state_col = t.columns.size();
  for (std::size_t i = 0; i < t.columns.size(); ++i)
    if (t.columns[i] == "STATE" || t.columns[i] == "WHERE")
      state_col = i;
  auto keep = [&](const std::vector<std::string>& row) {
    return state_filter.empty() || (state_col < row.size() && lower(row[state_col]).rfind(lower(state_filter), 0) == 0);
  };
  if (as_json) {
    json out = json::array();
    for (const auto& row : t.rows) {
      if (!keep(row))
        continue;
      json object = json::object();
      for (std::size_t i = 0; i < row.size() && i < t.columns.size(); ++i)
        object[lower(t.columns[i])] = cell_json(t.columns[i], row[i]);
      out.push_back(std::move(object));
    }
    print_json_text(std::cout, out);
    return;
  }
  std::vector<std::size_t> width(t.columns.size());
  for (std::size_t i = 0; i < t.columns.size(); ++i)
    width[i] = t.columns[i].size();
  for (const auto& row : t.rows)
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  for (std::size_t i = 0; i < t.columns.size(); ++i)
    std::cout << std::left << std::setw(static_cast<int>(width[i] + 2)) << t.columns[i];
  std::cout << "\n";
  for (const auto& row : t.rows) {
    if (!keep(row))
      continue;
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i)
      std::cout << std::left << std::setw(static_cast<int>(width[i] + 2)) << row[i];
    std::cout << "\n";
  }
}

/// Chrome trace JSON: one complete event per execution, a process per node and a
/// thread per worker.
void write_timeline(const rt::wire::state_table& t, const std::string& path) {
  std::ofstream out(path);
  if (!out)
    fail("cannot write " + path);
  std::map<std::string, int> pids;
  json events = json::array();
  for (const auto& row : t.rows) {
    // NODE NAME STATE START_US END_US WORKER
    if (row.size() < 6 || row[3].empty())
      continue;
    auto pid = pids.emplace(row[0], static_cast<int>(pids.size()) + 1).first->second;
    long long start = std::stoll(row[3]);
    long long end = row[4].empty() || row[4] == "0" ? start : std::stoll(row[4]);
    events.push_back({{"name", row[1]},
                      {"cat", lower(row[2])},
                      {"ph", "X"},
                      {"ts", start},
                      {"dur", end - start},
                      {"pid", pid},
                      {"tid", cell_json("WORKER", row[5])}});
  }
  for (const auto& [node, pid] : pids)
    events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", pid}, {"args", {{"name", "node " + node}}}});
  print_json_text(out, json{{"traceEvents", std::move(events)}});
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

/// The node of `view` whose id starts with `given` (the head when `given` is
/// empty or "head"); fails naming the candidates when none or several match.
const rt::wire::node_record& pick_node(const rt::wire::cluster_view& view, const std::string& given) {
  std::vector<const rt::wire::node_record*> found;
  for (const auto& n : view.nodes)
    if ((given.empty() || given == "head") ? n.head && n.alive : n.id.to_string().rfind(lower(given), 0) == 0)
      found.push_back(&n);
  if (found.size() == 1)
    return *found.front();
  if (found.empty() && (given.empty() || given == "head"))
    fail("the node table lists no live head");
  std::string ids;
  for (const auto* n : found)
    ids.append(" ").append(n->id.to_string());
  if (found.empty())
    for (const auto& n : view.nodes)
      ids.append(" ").append(n.id.to_string());
  fail(std::string(found.empty() ? "no node's id starts with '" : "more than one node's id starts with '") + given
       + "'; the " + (found.empty() ? "nodes" : "candidates") + " are:" + ids + " (see actors status)");
}

/// `actors logs`: a node's log file, read through the head's endpoint (which
/// asks the node), so it works from any host that reaches the head.
int print_node_log(caf::actor_system& sys, const rt::wire::cluster_view& view, const std::string& token,
                   const std::string& node, bool follow, std::uint32_t tail) {
  const auto& target = pick_node(view, node);
  if (!target.alive)
    fail("node " + target.id.to_string() + " is dead; its log stays on its host, in the session directory's logs/"
         + " (default /tmp/actors/logs)");
  const rt::wire::node_record* head = nullptr;
  for (const auto& n : view.nodes)
    if (n.head && n.alive)
      head = &n;
  if (!head)
    fail("the node table lists no live head to read the log through");
  auto colon = head->address.rfind(':');
  auto endpoint = rt::connect_within(sys, head->address.substr(0, colon),
                                     static_cast<std::uint16_t>(std::stoi(head->address.substr(colon + 1))));
  if (!endpoint)
    fail("the head's node at " + head->address + " did not answer: " + sys.render(endpoint.error()));
  std::uint64_t from = 0;
  std::uint64_t inode = 0;
  caf::scoped_actor self{sys};
  for (;;) {
    bool more = false;
    self->request(*endpoint, std::chrono::seconds(20), rt::msg::log_atom::value, target.id.value, token, from, inode,
                  tail)
      .receive(
        [&](bool ok, const std::string& text, std::uint64_t next, std::uint64_t file) {
          if (!ok)
            fail("cannot read the log of node " + target.id.to_string() + ": " + text);
          std::cout << text << std::flush;
          more = tail == 0 && next != from && !text.empty();
          from = next;
          inode = file;
        },
        [&](const caf::error& e) {
          fail("the head did not answer for the log of node " + target.id.to_string() + ": " + sys.render(e));
        });
    tail = 0;
    if (more)
      continue;
    if (!follow)
      return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

/// The node table, from the head's control store.
rt::wire::cluster_view node_table(caf::actor_system& sys, const std::string& address, const std::string& token) {
  auto control = rt::connect_control_store(sys, address);
  return rt::wire::unpack<rt::wire::cluster_view>(control->view(token), "node table");
}

} // namespace

int main(int argc, char** argv) {
  std::string address;
  std::string token;
  if (const char* t = std::getenv("ACTORS_TOKEN"))
    token = t;
  if (const char* a = std::getenv("ACTORS_ADDRESS"))
    address = a;
  auto tls = rt::tls_settings::from_environment();

  CLI::App app{"The command-line view of a running actors cluster.", "actors"};
  app.set_version_flag("--version",
                       "actors " + std::string(actors::version()) + " (wire protocol "
                         + std::to_string(rt::wire::protocol_version) + ")",
                       "print the version and the wire protocol, and exit");
  app.fallthrough(); // --address, --token and the TLS files go before or after the command
  app.get_formatter()->column_width(34);
  app.add_option("--address", address,
                 "the cluster's head (default: ACTORS_ADDRESS, or the cluster\n"
                 "started on this machine, from its session file)")
    ->type_name("HOST:PORT");
  app.add_option("--token", token, "the cluster's token (default: ACTORS_TOKEN, or the session file)")
    ->type_name("TOKEN");
  app.add_option("--tls-cert", tls.cert,
                 "for a TLS cluster: this client's certificate, its key and the\n"
                 "cluster's CA (PEM; also ACTORS_TLS_CERT, _KEY, _CA)")
    ->type_name("FILE")
    ->group("TLS");
  app.add_option("--tls-key", tls.key, "this client's private key")->type_name("FILE")->group("TLS");
  app.add_option("--tls-ca", tls.ca, "the cluster's CA certificate")->type_name("FILE")->group("TLS");

  // What the command the user gave does, once connected.
  rt::cluster_command run;
  bool json_out = false;
  auto json_flag = [&json_out](CLI::App* cmd, const char* what) { cmd->add_flag("--json", json_out, what); };

  auto* status = app.add_subcommand("status",
                                    "nodes, alive and dead, with free/total resources; the\n"
                                    "autoscaler's node types, demand and last events");
  json_flag(status, "the same as one JSON object");
  status->callback([&] {
    run = [&](caf::actor_system& sys, const std::string& at, const std::string& tok) {
      auto view = node_table(sys, at, tok);
      if (json_out) {
        print_json_text(std::cout, status_json(view));
        return 0;
      }
      std::size_t alive = 0;
      for (const auto& n : view.nodes)
        alive += n.alive;
      std::cout << "cluster at " << at << ": " << alive << " nodes alive, " << view.nodes.size() - alive << " dead\n";
      print_table(view);
      print_autoscaler(view);
      return 0;
    };
  });

  std::string listed;
  std::string state_filter;
  auto* list = app.add_subcommand("list",
                                  "one line (or JSON object) per node, actor, recent task,\n"
                                  "object or placement group, over every node");
  list->add_option("what", listed, "what to list")
    ->required()
    ->check(CLI::IsMember({"nodes", "actors", "tasks", "objects", "placement-groups"}))
    ->type_name("WHAT");
  list->add_option("--state", state_filter, "keep the rows whose state starts with STATE, e.g. failed")
    ->type_name("STATE");
  json_flag(list, "a JSON array of objects, numbers as numbers");
  list->callback([&] {
    run = [&](caf::actor_system& sys, const std::string& at, const std::string& tok) {
      if (listed == "placement-groups") {
        auto control = rt::connect_control_store(sys, at);
        print_rows(group_rows(control->groups(tok)), json_out, state_filter);
        return 0;
      }
      auto view = node_table(sys, at, tok);
      if (listed == "nodes") {
        if (json_out)
          print_json_text(std::cout, nodes_json(view));
        else
          print_table(view);
      } else {
        print_rows(gather(sys, view, listed, tok), json_out, state_filter);
      }
      return 0;
    };
  });

  std::string summarized;
  auto* summary = app.add_subcommand("summary", "task counts by name and state, over every node");
  summary->add_option("what", summarized, "what to count")
    ->required()
    ->check(CLI::IsMember({"tasks"}))
    ->type_name("WHAT");
  json_flag(summary, "a JSON array of objects");
  summary->callback([&] {
    run = [&](caf::actor_system& sys, const std::string& at, const std::string& tok) {
      auto t = gather(sys, node_table(sys, at, tok), "tasks", tok);
      std::map<std::string, std::map<std::string, std::size_t>> counts;
      for (const auto& row : t.rows)
        if (row.size() >= 3)
          ++counts[row[1]][row[2]];
      rt::wire::state_table out;
      out.columns = {"NAME", "FINISHED", "FAILED", "RUNNING", "PENDING"};
      for (auto& [name, by_state] : counts)
        out.rows.push_back({name, std::to_string(by_state["FINISHED"]), std::to_string(by_state["FAILED"]),
                            std::to_string(by_state["RUNNING"]), std::to_string(by_state["PENDING"])});
      print_rows(out, json_out, "");
      return 0;
    };
  });

  std::string output;
  auto* timeline = app.add_subcommand("timeline",
                                      "recent task and method executions as Chrome trace JSON\n"
                                      "(open in Perfetto or chrome://tracing)");
  timeline->add_option("-o,--output", output, "the file to write")->required()->type_name("FILE");
  timeline->callback([&] {
    run = [&](caf::actor_system& sys, const std::string& at, const std::string& tok) {
      auto t = gather(sys, node_table(sys, at, tok), "tasks", tok);
      write_timeline(t, output);
      std::cout << "wrote " << t.rows.size() << " executions to " << output << "\n";
      return 0;
    };
  });

  std::string log_node;
  bool follow = false;
  std::uint32_t tail = 0;
  auto* logs = app.add_subcommand("logs",
                                  "a node's log file (the head's by default), read through\n"
                                  "the head from any host");
  logs->add_option("node", log_node, "the node: its id or the start of it, as actors status shows it,\nor head")
    ->type_name("NODE");
  logs->add_flag("-f,--follow", follow, "keep printing lines as the node writes them (Ctrl-C stops)");
  logs->add_option("--tail", tail, "start with the last N lines (default: the whole file)")
    ->type_name("N")
    ->check(rt::whole_number(1, 1'000'000));
  logs->callback([&] {
    run = [&](caf::actor_system& sys, const std::string& at, const std::string& tok) {
      return print_node_log(sys, node_table(sys, at, tok), tok, log_node, follow, tail);
    };
  });

  app.add_subcommand("stop", "every node of the cluster exits cleanly")->callback([&] {
    run = [](caf::actor_system& sys, const std::string& at, const std::string& tok) {
      auto control = rt::connect_control_store(sys, at);
      if (!control->stop_cluster(tok))
        fail("the head refused to stop: wrong or missing token (--token or ACTORS_TOKEN)");
      std::cout << "asked every node of " << at << " to stop\n";
      return 0;
    };
  });

  rt::add_job_commands(app, run);

  // certs makes files; it talks to no cluster.
  std::string certs_out;
  std::vector<std::string> certs_hosts;
  int certs_days = 825;
  auto* certs = app.add_subcommand("certs",
                                   "make a CA and a certificate per host (and one named client,\n"
                                   "for drivers and this command) for a TLS cluster");
  certs->add_option("--out", certs_out, "the directory the files go to")->required()->type_name("DIR");
  certs->add_option("--hosts", certs_hosts, "the hosts' names or addresses")->delimiter(',')->type_name("H1,H2,...");
  certs->add_option("--days", certs_days, "how long the certificates are valid (default 825)")
    ->type_name("N")
    ->check(rt::whole_number(1, 36500));

  // Set last, so that the subcommands do not inherit it.
  app.footer("Without --address, the cluster whose head runs on this machine is used (its\n"
             "session file in $ACTORS_SESSION_DIR or /tmp/actors). Every command needs the\n"
             "cluster's token. `actors COMMAND --help` describes a command.");
  rt::parse_command_line(app, argc, argv);
  if (certs->parsed())
    return rt::make_certs(certs_out, certs_hosts, certs_days);
  if (!run)
    fail(app.got_subcommand("job") ? "job needs a command: submit, list, status, logs or stop; see actors job --help"
                                   : "no command given; see actors --help");
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
  std::unique_ptr<rt::tls_gateway> gateway;
  try {
    if (tls.wanted()) {
      tls.check("TLS ");
      gateway = std::make_unique<rt::tls_gateway>(tls);
      rt::tls_gateway::use_for_this_process(gateway.get());
    }
    return run(sys, address, token);
  } catch (const std::exception& e) {
    fail(e.what());
  }
}
