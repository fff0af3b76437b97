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

#include "runtime/data_plane/data_channel.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <future>
#include <memory>
#include <string>
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
  std::fprintf(stderr, "usage: data_channel_bench [--runs N] [--size-mib M] [--socket-buffer BYTES] [--warm]\n");
}

} // namespace

int main(int argc, char** argv) {
  int runs = 5;
  std::size_t size_mib = 256;
  int socket_buffer = data_client_options{}.socket_buffer_bytes;
  bool warm = false;
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
    else if (a == "--size-mib")
      size_mib = static_cast<std::size_t>(std::atoll(argv[++i]));
    else if (a == "--socket-buffer")
      socket_buffer = std::atoi(argv[++i]);
    else {
      usage();
      return 2;
    }
  }
  if (runs < 1 || size_mib < 1) {
    usage();
    return 2;
  }

  const std::size_t size = size_mib << 20;
  if (warm) {
    // Large blocks from the heap instead of their own mappings, and never given back.
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_MMAP_MAX, 0);
  }
  auto value = std::make_shared<std::string>(size, '\0');
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (std::size_t i = 0; i + 8 <= size; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(value->data() + i, &x, 8);
  }
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
