// Throughput of the data channel on loopback: a data_server in this process serves
// one large value, a data_client fetches it --runs times. Prints one JSON line per
// run and one for the median, in GB/s (10^9 bytes per second), like actors_bench;
// and, for scale, a memcpy of the same bytes into the same kind of memory.
//
//   data_channel_bench [--runs N] [--size-mib M] [--socket-buffer BYTES] [--warm]
//
// --socket-buffer 0 leaves the kernel's buffer autotuning on (the default sets 4 MiB).
// Each fetch of a large value reads into fresh memory (glibc maps blocks over
// 32 MiB afresh), as a node's would; on a VM, faulting those pages in costs about as
// much as the copy. --warm has malloc keep freed memory, so that from the second run
// on the fetch lands in pages already mapped: the channel without the page faults.
//
// Between two processes (two hosts, or two network namespaces: see
// tests/perf/netns_transfer.sh), one serves and the other fetches:
//
//   data_channel_bench --serve ADDR:PORT --token T [--size BYTES] [--socket-buffer BYTES]
//   data_channel_bench --fetch ADDR:PORT --token T [--size BYTES] [--runs N] [--name NAME]
//                      [--note TEXT] [--socket-buffer BYTES] [--warm]
//
// --serve listens on ADDR:PORT (PORT 0 picks one, named on stderr) with a value of
// --size bytes (default 256 MiB), prints "ready" on stdout once it listens, and
// serves until its stdin closes or it gets SIGTERM/SIGINT. --fetch fetches that value
// --runs times (default 5), each into fresh memory as a node would, checks its size
// (--size, the same default) and every byte (the value is a pattern both sides derive
// from the size), and prints one JSON line: {"name": NAME, "value": median GB/s,
// "unit": "GB/s", "runs": [GB/s of each run], "seconds": [...], "bytes": size,
// "method": "..."}. NAME defaults to data_channel_netns_<size in MiB>mib; --note is
// appended to the method text. A failure prints {"name": NAME, "value": null,
// "unit": "error", "error": "..."} and exits 1. The socket buffers are the data
// channel's defaults, as on a node.

#include "runtime/data_plane/data_channel.hpp"

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <future>
#include <memory>
#include <pthread.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using namespace actors;
using namespace actors::runtime;
using clk = std::chrono::steady_clock;

class one_object_source : public data_source {
 public:
  one_object_source(object_id id, std::shared_ptr<const std::string> bytes) : id_(id), bytes_(std::move(bytes)) {
  }

  void lookup(const object_id& id, reply done) override {
    if (id == id_)
      done(lookup_result::found("bench_bytes", bytes_));
    else
      done(lookup_result::failed("object " + id.to_string() + " is not held here"));
  }

 private:
  object_id id_;
  std::shared_ptr<const std::string> bytes_;
};

std::uint64_t checksum(const std::string& s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (std::size_t i = 0; i < s.size(); i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, s.data() + i, std::min<std::size_t>(8, s.size() - i));
    h = (h ^ w) * 1099511628211ULL;
  }
  return h;
}

// The value's bytes: 64-bit xorshift words, the last partial word (if any) zero.
// Both sides of --serve/--fetch derive it from the size alone.
void fill_pattern(std::string& s) {
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (std::size_t i = 0; i + 8 <= s.size(); i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(s.data() + i, &x, 8);
  }
}

// checksum() of a pattern of `size` bytes, without making it.
std::uint64_t pattern_checksum(std::size_t size) {
  std::uint64_t h = 1469598103934665603ULL;
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (std::size_t i = 0; i < size; i += 8) {
    std::uint64_t w = 0;
    if (i + 8 <= size) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      w = x;
    }
    h = (h ^ w) * 1099511628211ULL;
  }
  return h;
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  auto n = xs.size();
  return n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

std::string jnum(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string jarr(const std::vector<double>& xs) {
  std::string out = "[";
  for (std::size_t i = 0; i < xs.size(); ++i)
    out += (i ? ", " : "") + jnum(xs[i]);
  return out + "]";
}

void usage() {
  std::fprintf(stderr,
               "usage: data_channel_bench [--runs N] [--size-mib M] [--socket-buffer BYTES] [--warm]\n"
               "       data_channel_bench --serve ADDR:PORT --token T [--size BYTES] [--socket-buffer BYTES]\n"
               "       data_channel_bench --fetch ADDR:PORT --token T [--size BYTES] [--runs N] [--name NAME]\n"
               "                          [--note TEXT] [--socket-buffer BYTES] [--warm]\n");
}

// "10.0.0.1:7000" or "[::1]:7000" -> host and port; false if malformed.
bool split_endpoint(const std::string& s, std::string& host, std::uint16_t& port) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size())
    return false;
  host = s.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  char* end = nullptr;
  auto p = std::strtoul(s.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || p > 65535)
    return false;
  port = static_cast<std::uint16_t>(p);
  return true;
}

std::string jstr(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\', out += c;
    else if (static_cast<unsigned char>(c) < 0x20)
      out += ' ';
    else
      out += c;
  }
  return out + "\"";
}

void malloc_keeps_memory() {
  // Large blocks from the heap instead of their own mappings, and never given back.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_MMAP_MAX, 0);
}

// --serve: one value at ADDR:PORT until stdin closes or SIGTERM/SIGINT.
int serve(const std::string& endpoint, const std::string& token, std::size_t size, int socket_buffer) {
  data_server_options sopts;
  if (!split_endpoint(endpoint, sopts.bind_address, sopts.port)) {
    std::fprintf(stderr, "data_channel_bench: --serve %s: expected ADDR:PORT\n", endpoint.c_str());
    return 2;
  }
  // The server's thread and the stdin watcher inherit this mask: the signals wait
  // for sigwait() below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto value = std::make_shared<std::string>(size, '\0');
  fill_pattern(*value);
  const object_id id{1, 42};
  one_object_source source{id, value};
  sopts.token = token;
  sopts.socket_buffer_bytes = socket_buffer;
  std::string error;
  auto server = data_server::start(source, sopts, error);
  if (!server) {
    std::fprintf(stderr, "data_channel_bench: %s\n", error.c_str());
    return 1;
  }
  std::thread([] {
    char buf[256];
    while (true) {
      auto n = ::read(STDIN_FILENO, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EINTR))
        break;
    }
    ::kill(::getpid(), SIGTERM);
  }).detach();
  std::fprintf(stderr, "data_channel_bench: serving %zu bytes on %s:%u\n", size, sopts.bind_address.c_str(),
               static_cast<unsigned>(server->port()));
  std::printf("ready\n");
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  auto st = server->stats();
  server->stop();
  std::fprintf(stderr,
               "data_channel_bench: stopping on %s; %llu connection(s), %llu refused, %llu value(s) served, "
               "%llu bytes\n",
               sig == SIGTERM ? "SIGTERM or the end of stdin" : strsignal(sig),
               static_cast<unsigned long long>(st.connections_accepted),
               static_cast<unsigned long long>(st.handshakes_refused),
               static_cast<unsigned long long>(st.objects_served), static_cast<unsigned long long>(st.bytes_served));
  return 0;
}

// --fetch: the value at ADDR:PORT, `runs` times; one JSON line.
int fetch(const std::string& endpoint, const std::string& token, std::size_t size, int runs, std::string name,
          const std::string& note, int socket_buffer, bool warm) {
  std::string host;
  std::uint16_t port = 0;
  if (!split_endpoint(endpoint, host, port) || port == 0) {
    std::fprintf(stderr, "data_channel_bench: --fetch %s: expected ADDR:PORT\n", endpoint.c_str());
    return 2;
  }
  if (warm)
    malloc_keeps_memory();
  if (name.empty())
    name = "data_channel_netns_"
         + (size % (1 << 20) == 0 ? std::to_string(size >> 20) + "mib" : std::to_string(size) + "b");
  auto fail = [&name](const std::string& why) {
    std::fprintf(stderr, "data_channel_bench: %s\n", why.c_str());
    std::printf("{\"name\": %s, \"value\": null, \"unit\": \"error\", \"error\": %s}\n", jstr(name).c_str(),
                jstr(why).c_str());
    std::fflush(stdout);
    return 1;
  };
  data_client_options copts;
  copts.token = token;
  copts.socket_buffer_bytes = socket_buffer;
  copts.max_object_size = size; // a larger value fails at once rather than after the transfer
  data_client client{copts};
  const object_id id{1, 42};

  const std::uint64_t expect = pattern_checksum(size);
  std::vector<double> rates, seconds;
  for (int run = 0; run < runs; ++run) {
    std::promise<fetch_result> got;
    auto fut = got.get_future();
    auto t0 = clk::now();
    client.fetch(host, port, id, [&got](fetch_result r) { got.set_value(std::move(r)); });
    if (fut.wait_for(std::chrono::seconds{60}) != std::future_status::ready) {
      client.stop();
      return fail("run " + std::to_string(run + 1) + " took over 60 s");
    }
    auto t1 = clk::now();
    auto r = fut.get();
    if (!r.ok())
      return fail("run " + std::to_string(run + 1) + ": " + r.what);
    if (r.bytes.size() != size)
      return fail("run " + std::to_string(run + 1) + ": the server sent " + std::to_string(r.bytes.size())
                  + " bytes, not the " + std::to_string(size) + " expected (--size)");
    if (checksum(r.bytes) != expect)
      return fail("run " + std::to_string(run + 1) + ": the bytes differ from the value served");
    double s = std::chrono::duration<double>(t1 - t0).count();
    double rate = static_cast<double>(size) / 1e9 / s;
    rates.push_back(rate);
    seconds.push_back(s);
    std::fprintf(stderr, "data_channel_bench: run %d: %zu bytes in %.4f s, %.4g GB/s\n", run + 1, size, s, rate);
  }
  char mib[32];
  std::snprintf(mib, sizeof mib, "%.4g", static_cast<double>(size) / (1 << 20));
  std::string method = "median of " + std::to_string(runs) + " fetches of " + mib + " MiB from a data_server in "
                     + "another process at " + endpoint + " (data_client over one reused TCP connection; socket "
                     + "buffers " + (socket_buffer > 0 ? std::to_string(socket_buffer) + " bytes" : "autotuned")
                     + (warm ? "; destination memory reused (--warm)" : "; destination in fresh memory, as a node's")
                     + "; every byte checked, untimed)";
  if (!note.empty())
    method += "; " + note;
  std::printf("{\"name\": %s, \"value\": %s, \"unit\": \"GB/s\", \"runs\": %s, \"seconds\": %s, "
              "\"bytes\": %zu, \"method\": %s}\n",
              jstr(name).c_str(), jnum(median(rates)).c_str(), jarr(rates).c_str(), jarr(seconds).c_str(), size,
              jstr(method).c_str());
  std::fflush(stdout);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  int runs = 5;
  std::size_t size_mib = 256;
  int socket_buffer = data_client_options{}.socket_buffer_bytes;
  bool warm = false;
  std::string serve_at, fetch_from, token, name, note;
  long long size_bytes = 256LL << 20;
  bool size_mib_given = false, size_given = false, name_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--warm") {
      warm = true;
      continue;
    }
    if (i + 1 >= argc) {
      usage();
      return 2;
    }
    if (a == "--runs")
      runs = std::atoi(argv[++i]);
    else if (a == "--size-mib") {
      size_mib = static_cast<std::size_t>(std::atoll(argv[++i]));
      size_mib_given = true;
    } else if (a == "--socket-buffer")
      socket_buffer = std::atoi(argv[++i]);
    else if (a == "--serve")
      serve_at = argv[++i];
    else if (a == "--fetch")
      fetch_from = argv[++i];
    else if (a == "--token")
      token = argv[++i];
    else if (a == "--size") {
      size_bytes = std::atoll(argv[++i]);
      size_given = true;
    } else if (a == "--name") {
      name = argv[++i];
      name_given = true;
    } else if (a == "--note")
      note = argv[++i];
    else {
      usage();
      return 2;
    }
  }
  if (runs < 1 || size_mib < 1) {
    usage();
    return 2;
  }
  if (!serve_at.empty() || !fetch_from.empty()) {
    if (!serve_at.empty() && !fetch_from.empty()) {
      std::fprintf(stderr, "data_channel_bench: --serve and --fetch are two processes: give one of them\n");
      return 2;
    }
    if (token.empty() || size_mib_given || (!serve_at.empty() && (warm || name_given || !note.empty()))
        || size_bytes < 1) {
      usage();
      return 2;
    }
    if (!serve_at.empty())
      return serve(serve_at, token, static_cast<std::size_t>(size_bytes), socket_buffer);
    return fetch(fetch_from, token, static_cast<std::size_t>(size_bytes), runs, name, note, socket_buffer, warm);
  }
  if (!token.empty() || size_given || name_given || !note.empty()) {
    usage();
    return 2;
  }

  const std::size_t size = size_mib << 20;
  if (warm)
    malloc_keeps_memory();
  auto value = std::make_shared<std::string>(size, '\0');
  fill_pattern(*value);
  const auto expect = checksum(*value);
  const object_id id{1, 42};
  one_object_source source{id, value};

  data_server_options sopts;
  sopts.bind_address = "127.0.0.1";
  sopts.token = "bench-token";
  sopts.socket_buffer_bytes = socket_buffer;
  std::string error;
  auto server = data_server::start(source, sopts, error);
  if (!server) {
    std::fprintf(stderr, "data_channel_bench: %s\n", error.c_str());
    return 1;
  }
  data_client_options copts;
  copts.token = sopts.token;
  copts.socket_buffer_bytes = socket_buffer;
  data_client client{copts};

  const double gb = static_cast<double>(size) / 1e9;
  const std::string method = "one fetch of " + std::to_string(size_mib) + " MiB over loopback, server and client "
                           + "in one process; socket buffers " + (socket_buffer > 0 ? std::to_string(socket_buffer) + " bytes" : "autotuned")
                           + (warm ? "; destination memory reused (--warm)" : "; destination in fresh memory");
  std::vector<double> rates;
  for (int run = 0; run < runs; ++run) {
    std::promise<fetch_result> got;
    auto fut = got.get_future();
    auto t0 = clk::now();
    client.fetch("127.0.0.1", server->port(), id, [&got](fetch_result r) { got.set_value(std::move(r)); });
    if (fut.wait_for(std::chrono::seconds{60}) != std::future_status::ready) {
      std::fprintf(stderr, "data_channel_bench: run %d took over 60 s\n", run);
      return 1;
    }
    auto t1 = clk::now();
    auto r = fut.get();
    if (!r.ok()) {
      std::fprintf(stderr, "data_channel_bench: %s\n", r.what.c_str());
      return 1;
    }
    if (r.bytes.size() != size || checksum(r.bytes) != expect) {
      std::fprintf(stderr, "data_channel_bench: run %d: the bytes differ\n", run);
      return 1;
    }
    double s = std::chrono::duration<double>(t1 - t0).count();
    rates.push_back(gb / s);
    std::printf("{\"name\": \"data_channel_fetch\", \"value\": %s, \"unit\": \"GB/s\", \"run\": %d, \"seconds\": %s}\n",
                jnum(gb / s).c_str(), run + 1, jnum(s).c_str());
    std::fflush(stdout);
  }
  std::printf("{\"name\": \"data_channel_fetch_median\", \"value\": %s, \"unit\": \"GB/s\", \"runs_gb_s\": %s, "
              "\"method\": \"%s\"}\n",
              jnum(median(rates)).c_str(), jarr(rates).c_str(), method.c_str());

  // For scale: the same bytes copied into memory of the same kind as the fetch's
  // destination (glibc maps blocks over 32 MiB afresh each time, so the page faults
  // count; or reused with --warm).
  std::vector<double> copies;
  for (int run = 0; run < runs; ++run) {
    auto t0 = clk::now();
    std::string copy(*value);
    auto t1 = clk::now();
    if (copy.size() != size)
      return 1;
    copies.push_back(gb / std::chrono::duration<double>(t1 - t0).count());
  }
  std::printf("{\"name\": \"memcpy_median\", \"value\": %s, \"unit\": \"GB/s\", \"runs_gb_s\": %s, "
              "\"destination\": \"%s\"}\n",
              jnum(median(copies)).c_str(), jarr(copies).c_str(), warm ? "reused (--warm)" : "malloc's default");
  return 0;
}
