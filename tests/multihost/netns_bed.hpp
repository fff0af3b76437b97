#pragma once

// Hosts on one machine for the multi-host tests: one network namespace per host,
// each joined by a veth pair to a bridge that has an address of its own. The bed
// only ever addresses hosts inside the namespaces it made, removes its namespaces
// and links when destroyed (also when a test fails), and removes what a killed
// earlier run left behind before it makes its own. One bed at a time on a machine
// (a lock in /run/lock): its names are fixed.
//
// Faults: a host's link set down (cut, both ways), a blackhole route in one host to
// another (one-way cut), and a tbf rate limit on a host's link (this kernel has no
// netem, so no latency or loss).

#include "tests/support/processes.hpp"

#include <sys/file.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace actors::test {

/// The `ip` program (iproute2).
inline std::string ip_program() {
  for (const char* p : {"/usr/sbin/ip", "/usr/bin/ip", "/sbin/ip", "/bin/ip"})
    if (::access(p, X_OK) == 0)
      return p;
  throw std::runtime_error("the multi-host tests need iproute2's ip program: apt-get install iproute2");
}

class netns_bed {
 public:
  /// Makes `hosts` hosts named PREFIX-h1.. with addresses NET.11.. on bridge
  /// PREFIX-br (NET.1). `net` is the first three octets of a private /24. Throws
  /// with the failing command's output if the bed cannot be made (and removes what
  /// it made).
  netns_bed(std::string prefix, std::string net, int hosts, std::string log_dir)
    : prefix_(std::move(prefix)), net_(std::move(net)), dir_(std::move(log_dir)), ip_(ip_program()) {
    if (::geteuid() != 0)
      throw std::runtime_error("the multi-host tests must run as root: they make network namespaces, veth links "
                               "and a bridge (CI runs them as root; run ./dev test with sudo)");
    lock_ = ::open(("/run/lock/" + prefix_ + "-netns.lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (lock_ < 0 || !locked_within(std::chrono::seconds(120)))
      throw std::runtime_error("another multi-host run still holds /run/lock/" + prefix_ + "-netns.lock");
    for (int i = 1; i <= hosts; ++i)
      names_.push_back(prefix_ + "-h" + std::to_string(i));
    remove_all(hosts + 4); // left behind by a killed earlier run
    try {
      ip({"link", "add", bridge(), "type", "bridge"});
      ip({"link", "set", bridge(), "up"});
      ip({"addr", "add", net_ + ".1/24", "dev", bridge()});
      for (int i = 1; i <= hosts; ++i) {
        ip({"netns", "add", ns(i)});
        ip({"link", "add", veth(i), "type", "veth", "peer", "name", "eth0", "netns", ns(i)});
        ip({"link", "set", veth(i), "master", bridge(), "up"});
        ip({"-n", ns(i), "addr", "add", address(i) + "/24", "dev", "eth0"});
        ip({"-n", ns(i), "link", "set", "eth0", "up"});
        ip({"-n", ns(i), "link", "set", "lo", "up"});
      }
    } catch (...) {
      remove_all(hosts);
      throw;
    }
  }

  netns_bed(const netns_bed&) = delete;
  netns_bed& operator=(const netns_bed&) = delete;

  ~netns_bed() {
    // Processes first (by pid): a namespace goes only when nothing lives in it.
    processes_.clear();
    remove_all(static_cast<int>(names_.size()));
    if (lock_ >= 0)
      ::close(lock_);
  }

  int hosts() const {
    return static_cast<int>(names_.size());
  }

  /// Host i's namespace (1-based).
  std::string ns(int i) const {
    return names_.at(static_cast<std::size_t>(i - 1));
  }

  /// Host i's address.
  std::string address(int i) const {
    return net_ + "." + std::to_string(10 + i);
  }

  /// Starts `args` on host i with its output in log_dir/NAME.log; the bed kills
  /// it (SIGKILL) when destroyed, if it is still running.
  process& start(int i, const std::string& name, std::vector<std::string> args) {
    args.insert(args.begin(), {ip_, "netns", "exec", ns(i)});
    processes_.push_back(std::make_unique<process>(std::move(args), log(name)));
    return *processes_.back();
  }

  /// Runs `args` on host i to completion (bounded by `timeout`); its exit code
  /// (-1 on timeout, after a SIGKILL) and output.
  std::pair<int, std::string> run(int i, const std::string& name, std::vector<std::string> args,
                                  std::chrono::milliseconds timeout) {
    args.insert(args.begin(), {ip_, "netns", "exec", ns(i)});
    return actors::test::run(std::move(args), log(name), timeout);
  }

  std::string log(const std::string& name) const {
    return dir_ + "/" + name + ".log";
  }

  /// What the process started or run as `name` printed so far.
  std::string process_output(const std::string& name) const {
    std::ifstream in(log(name));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  /// Host i's link to the bridge goes down: it can neither send nor receive, and
  /// its established connections go silent.
  void cut(int i) {
    ip({"link", "set", veth(i), "down"});
  }

  void heal(int i) {
    ip({"link", "set", veth(i), "up"});
  }

  /// Host `from` can no longer send to host `to` (a blackhole route in `from`);
  /// `to` still sends to `from`.
  void cut_one_way(int from, int to) {
    ip({"-n", ns(from), "route", "add", "blackhole", address(to) + "/32"});
  }

  void heal_one_way(int from, int to) {
    ip({"-n", ns(from), "route", "del", "blackhole", address(to) + "/32"});
  }

  /// The bridge every host's link is on (in this test's own namespace).
  std::string bridge() const {
    return prefix_ + "-br";
  }

 private:

  std::string veth(int i) const {
    return prefix_ + "-v" + std::to_string(i);
  }

  bool locked_within(std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (::flock(lock_, LOCK_EX | LOCK_NB) != 0) {
      if (std::chrono::steady_clock::now() >= deadline)
        return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return true;
  }

  void ip(std::vector<std::string> args, bool must = true) {
    args.insert(args.begin(), ip_);
    auto [code, out] = actors::test::run(std::move(args), dir_ + "/ip.log", std::chrono::seconds(20));
    if (code != 0 && must)
      throw std::runtime_error("ip command failed (exit " + std::to_string(code) + "): " + out);
  }

  // Removes the namespaces, links and bridge of this prefix, whether or not they
  // exist (the first `count` hosts' names).
  void remove_all(int count) {
    for (int i = 1; i <= count; ++i) {
      ip({"netns", "del", prefix_ + "-h" + std::to_string(i)}, false);
      // The kernel may keep the host side of a pair for a moment after its peer's
      // namespace went.
      ip({"link", "del", veth(i)}, false);
    }
    ip({"link", "del", bridge()}, false);
  }

  std::string prefix_;
  std::string net_;
  std::string dir_;
  std::string ip_;
  int lock_ = -1;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<process>> processes_;
};

} // namespace actors::test
