#include "runtime/metrics/metrics_service.hpp"

#include "runtime/autoscaler/autoscaler.hpp"
#include "runtime/common/log.hpp"
#include "runtime/wire/protocol.hpp"

#include "actors/errors.hpp"
#include "actors/metrics.hpp"
#include "actors/version.hpp"

#include <civetweb.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <thread>
#include <sstream>
#include <variant>

namespace actors::runtime {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

ClientMetric with_labels(std::vector<ClientMetric::Label> labels) {
  ClientMetric m;
  m.label = std::move(labels);
  return m;
}

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void add_gauge(MetricFamily& f, std::vector<ClientMetric::Label> labels, double v) {
  auto m = with_labels(std::move(labels));
  m.gauge.value = v;
  f.metric.push_back(std::move(m));
}

void add_counter(MetricFamily& f, std::vector<ClientMetric::Label> labels, double v) {
  auto m = with_labels(std::move(labels));
  m.counter.value = v;
  f.metric.push_back(std::move(m));
}

void add_histogram(MetricFamily& f, std::vector<ClientMetric::Label> labels, const duration_histogram& h) {
  auto s = h.snapshot();
  auto m = with_labels(std::move(labels));
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < duration_histogram::size; ++i) {
    cumulative += s.counts[i];
    m.histogram.bucket.push_back({cumulative, duration_histogram::bounds[i]});
  }
  cumulative += s.counts[duration_histogram::size];
  m.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = s.sum;
  f.metric.push_back(std::move(m));
}

/// The node's own metrics, read from its services at each scrape.
std::vector<MetricFamily> node_metrics(const metrics_sources& n) {
  const ClientMetric::Label node_label{"node", n.node.to_string()};
  auto labels = [&](std::initializer_list<ClientMetric::Label> more) {
    std::vector<ClientMetric::Label> v{node_label};
    v.insert(v.end(), more);
    return v;
  };
  std::vector<MetricFamily> out;
  // Which build each node runs, as the usual *_build_info gauge of 1.
  auto build = family("actors_build_info", "The version of actors this node runs and its wire protocol",
                      MetricType::Gauge);
  add_gauge(build,
            labels({{"version", actors::version()},
                    {"protocol", std::to_string(wire::protocol_version)}}),
            1);
  out.push_back(std::move(build));
  auto sched = n.sched.stats();
  auto store = n.store.stats();
  auto hosted = n.host.stats();
  auto traffic = n.net.traffic();

  auto tasks = family("actors_tasks_total", "Task and actor method executions on this node, by outcome",
                      MetricType::Counter);
  add_counter(tasks, labels({{"state", "submitted"}}), static_cast<double>(n.tasks.submitted_total()));
  add_counter(tasks, labels({{"state", "started"}}), static_cast<double>(n.tasks.started_total()));
  add_counter(tasks, labels({{"state", "finished"}}), static_cast<double>(n.tasks.finished_total()));
  add_counter(tasks, labels({{"state", "failed"}}), static_cast<double>(n.tasks.failed_total()));
  add_counter(tasks, labels({{"state", "retried"}}), static_cast<double>(n.tasks.retried_total()));
  out.push_back(std::move(tasks));

  auto queued = family("actors_tasks", "Work queued or running on this node now", MetricType::Gauge);
  add_gauge(queued, labels({{"state", "pending"}}), static_cast<double>(sched.pending));
  add_gauge(queued, labels({{"state", "infeasible"}}), static_cast<double>(sched.infeasible));
  add_gauge(queued, labels({{"state", "running"}}), static_cast<double>(sched.running));
  out.push_back(std::move(queued));

  auto run = family("actors_task_run_seconds", "How long task and method executions ran", MetricType::Histogram);
  add_histogram(run, labels({}), n.tasks.run_time());
  out.push_back(std::move(run));
  auto latency = family("actors_task_latency_seconds", "From a task's submission on this node to its end",
                        MetricType::Histogram);
  add_histogram(latency, labels({}), n.tasks.latency());
  out.push_back(std::move(latency));

  auto actors_now = family("actors_actors", "Actors hosted on this node, by state", MetricType::Gauge);
  add_gauge(actors_now, labels({{"state", "alive"}}), static_cast<double>(hosted.alive));
  add_gauge(actors_now, labels({{"state", "pending"}}), static_cast<double>(hosted.creating));
  add_gauge(actors_now, labels({{"state", "dead"}}), static_cast<double>(hosted.dead));
  out.push_back(std::move(actors_now));
  auto restarts = family("actors_actor_restarts_total", "Actor restarts on this node", MetricType::Counter);
  add_counter(restarts, labels({}), static_cast<double>(hosted.restarts_total));
  out.push_back(std::move(restarts));

  auto bytes = family("actors_object_store_bytes", "Bytes of values the object store holds in memory",
                      MetricType::Gauge);
  add_gauge(bytes, labels({}), static_cast<double>(store.bytes_in_memory));
  out.push_back(std::move(bytes));
  auto limit = family("actors_object_store_limit_bytes", "The object store's memory limit before spilling",
                      MetricType::Gauge);
  add_gauge(limit, labels({}), static_cast<double>(store.bytes_limit));
  out.push_back(std::move(limit));
  auto objects = family("actors_objects", "Objects this node holds, by location", MetricType::Gauge);
  add_gauge(objects, labels({{"location", "memory"}}),
            static_cast<double>(store.objects - std::min(store.objects, store.spilled_objects)));
  add_gauge(objects, labels({{"location", "spilled"}}), static_cast<double>(store.spilled_objects));
  out.push_back(std::move(objects));
  auto spilled = family("actors_object_store_spilled_bytes_total", "Bytes written to the spill directory",
                        MetricType::Counter);
  add_counter(spilled, labels({}), static_cast<double>(store.spilled_bytes_total));
  out.push_back(std::move(spilled));
  auto restored = family("actors_object_store_restored_bytes_total", "Bytes read back from the spill directory",
                         MetricType::Counter);
  add_counter(restored, labels({}), static_cast<double>(store.restored_bytes_total));
  out.push_back(std::move(restored));
  auto dropped = family("actors_object_store_dropped_copy_bytes_total",
                        "Bytes of copies of other nodes' values dropped to make room (fetched again when read)",
                        MetricType::Counter);
  add_counter(dropped, labels({}), static_cast<double>(store.dropped_copy_bytes_total));
  out.push_back(std::move(dropped));
  auto refused = family("actors_object_store_refused_total",
                        "Values refused because the store was full and nothing could spill", MetricType::Counter);
  add_counter(refused, labels({}), static_cast<double>(store.refused_total));
  out.push_back(std::move(refused));

  auto resources = family("actors_resources", "This node's resources, total and available", MetricType::Gauge);
  auto add_resources = [&](const resource_set& r, const char* kind) {
    add_gauge(resources, labels({{"resource", "CPU"}, {"kind", kind}}), r.cpu);
    for (const auto& [name, amount] : r.custom)
      add_gauge(resources, labels({{"resource", name}, {"kind", kind}}), amount);
  };
  add_resources(sched.total, "total");
  add_resources(sched.available, "available");
  out.push_back(std::move(resources));

  auto messages = family("actors_network_messages_total", "Messages this node exchanged with other nodes",
                         MetricType::Counter);
  add_counter(messages, labels({{"direction", "sent"}}), static_cast<double>(traffic.messages_sent));
  add_counter(messages, labels({{"direction", "received"}}), static_cast<double>(traffic.messages_received));
  out.push_back(std::move(messages));
  auto payload = family("actors_network_bytes_total", "Payload bytes this node exchanged with other nodes",
                        MetricType::Counter);
  add_counter(payload, labels({{"direction", "sent"}}), static_cast<double>(traffic.bytes_sent));
  add_counter(payload, labels({{"direction", "received"}}), static_cast<double>(traffic.bytes_received));
  out.push_back(std::move(payload));
  auto lanes = family("actors_network_lane_messages_total",
                      "Of those messages, the ones that went over message lanes rather than CAF's connections",
                      MetricType::Counter);
  add_counter(lanes, labels({{"direction", "sent"}}), static_cast<double>(traffic.lane_messages_sent));
  add_counter(lanes, labels({{"direction", "received"}}), static_cast<double>(traffic.lane_messages_received));
  out.push_back(std::move(lanes));

  if (n.counts_nodes) {
    auto nodes = family("actors_nodes", "Nodes of the cluster by state (head only)", MetricType::Gauge);
    double alive = 0;
    double dead = 0;
    for (const auto& i : n.net.members().nodes())
      (i.alive ? alive : dead) += 1;
    add_gauge(nodes, labels({{"state", "alive"}}), alive);
    add_gauge(nodes, labels({{"state", "dead"}}), dead);
    out.push_back(std::move(nodes));
  }
  return out;
}

/// The head's autoscaler: its nodes, the demand that waits, and what it did.
std::vector<MetricFamily> autoscaler_metrics(const autoscaler_figures& a) {
  std::vector<MetricFamily> out;
  auto nodes = family("actors_autoscaler_nodes", "Nodes the autoscaler launched, by node type and state",
                      MetricType::Gauge);
  for (const auto& [type, states] : a.nodes)
    for (const auto& [state, n] : states)
      add_gauge(nodes, {{"node_type", type}, {"state", state}}, n);
  out.push_back(std::move(nodes));
  auto pending = family("actors_autoscaler_pending_demand",
                        "Resources that waiting work needs and no live node offers now, summed by resource",
                        MetricType::Gauge);
  for (const auto& [resource, amount] : a.pending)
    add_gauge(pending, {{"resource", resource}}, amount);
  out.push_back(std::move(pending));
  auto launches = family("actors_autoscaler_launches_total", "Nodes the autoscaler launched, by node type",
                         MetricType::Counter);
  for (const auto& [type, n] : a.launches)
    add_counter(launches, {{"node_type", type}}, static_cast<double>(n));
  out.push_back(std::move(launches));
  auto failures = family("actors_autoscaler_launch_failures_total",
                         "Launches that failed or whose node never joined, by node type", MetricType::Counter);
  for (const auto& [type, n] : a.launch_failures)
    add_counter(failures, {{"node_type", type}}, static_cast<double>(n));
  out.push_back(std::move(failures));
  auto ends = family("actors_autoscaler_terminations_total",
                     "Launched nodes that went, by node type and reason (idle: removed; died: ended on its own)",
                     MetricType::Counter);
  for (const auto& [type, reasons] : a.terminations)
    for (const auto& [reason, n] : reasons)
      add_counter(ends, {{"node_type", type}, {"reason", reason}}, static_cast<double>(n));
  out.push_back(std::move(ends));
  return out;
}

} // namespace

prometheus::Registry& user_registry() {
  static auto* registry = new prometheus::Registry();
  return *registry;
}

struct metrics_service::impl {
  explicit impl(metrics_sources sources) : n(sources) {}

  metrics_sources n;
  mg_context* ctx = nullptr;
  std::string host;
  int port = 0;
  // Guards `closed` and `discovery`; a scrape holds it, so closing waits for the
  // scrapes in progress and no later one touches the node.
  std::mutex mu;
  bool closed = false;
  std::function<std::string()> discovery;
  std::function<autoscaler_figures()> autoscaling;

  static int reply(mg_connection* conn, const char* type, const std::string& body) {
    mg_printf(conn,
              "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
              type, body.size());
    mg_write(conn, body.data(), body.size());
    return 200;
  }

  static int unavailable(mg_connection* conn, int code) {
    mg_printf(conn, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", code,
              code == 404 ? "Not Found" : "Service Unavailable");
    return code;
  }

  static int on_metrics(mg_connection* conn, void* self) {
    auto* d = static_cast<impl*>(self);
    std::unique_lock<std::mutex> lock{d->mu};
    if (d->closed)
      return unavailable(conn, 503);
    auto text = d->scrape();
    lock.unlock();
    return reply(conn, "text/plain; version=0.0.4; charset=utf-8", text);
  }

  static int on_discovery(mg_connection* conn, void* self) {
    auto* d = static_cast<impl*>(self);
    std::unique_lock<std::mutex> lock{d->mu};
    if (d->closed)
      return unavailable(conn, 503);
    if (!d->discovery)
      return unavailable(conn, 404);
    auto list = d->discovery();
    lock.unlock();
    return reply(conn, "application/json", list);
  }

  std::string scrape() const {
    auto families = node_metrics(n);
    if (autoscaling) {
      auto more = autoscaler_metrics(autoscaling());
      families.insert(families.end(), more.begin(), more.end());
    }
    auto user = user_registry().Collect();
    families.insert(families.end(), user.begin(), user.end());
    std::ostringstream os;
    prometheus::TextSerializer{}.Serialize(os, families);
    return os.str();
  }
};

metrics_service::metrics_service(metrics_sources sources, const std::string& bind, int port)
  : impl_(new impl(sources)) {
  impl_->host = bind == "0.0.0.0" ? "127.0.0.1" : bind;
  static std::once_flag init_once;
  std::call_once(init_once, [] { mg_init_library(0); });
  auto listen = bind + ":" + std::to_string(port);
  // civetweb gives each connection a thread until its request has arrived. With its
  // default 30 s request timeout two silent connections kept every scrape waiting
  // for half a minute; four threads and 2 s bound that wait (docs/security.md).
  const char* options[] = {"listening_ports", listen.c_str(), "num_threads", "4",
                           "request_timeout_ms", "2000", "linger_timeout_ms", "0", nullptr};
  mg_callbacks callbacks{};
  // civetweb reports errors through a callback; keep them for the message below.
  impl_->ctx = mg_start(&callbacks, impl_.get(), options);
  if (!impl_->ctx)
    throw error(errc::invalid_argument, "cannot serve metrics on " + listen
                                          + ": the port is taken or the address is not local; choose "
                                            "another with --metrics-port (0 picks a free one)");
  mg_server_port ports[4] = {};
  if (mg_get_server_ports(impl_->ctx, 4, ports) > 0)
    impl_->port = ports[0].port;
  mg_set_request_handler(impl_->ctx, "/metrics", &impl::on_metrics, impl_.get());
  mg_set_request_handler(impl_->ctx, "/sd", &impl::on_discovery, impl_.get());
}

metrics_service::~metrics_service() {
  {
    std::lock_guard<std::mutex> guard{impl_->mu};
    impl_->closed = true;
    impl_->discovery = nullptr;
    impl_->autoscaling = nullptr;
  }
  if (!impl_->ctx)
    return;
  // civetweb's listener notices a stop only when its poll wakes, which can take
  // two seconds: stop it on a thread of its own and wake it with connections.
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    mg_stop(impl_->ctx);
    stopped = true;
  });
  for (int i = 0; i < 400 && !stopped; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(impl_->port));
    ::inet_pton(AF_INET, impl_->host.c_str(), &addr.sin_addr);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::close(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stopper.join();
}

int metrics_service::port() const noexcept {
  return impl_->port;
}

std::string metrics_service::scrape() const {
  std::lock_guard<std::mutex> guard{impl_->mu};
  return impl_->scrape();
}

void metrics_service::serve_discovery(std::function<std::string()> list) {
  std::lock_guard<std::mutex> guard{impl_->mu};
  impl_->discovery = std::move(list);
}

void metrics_service::serve_autoscaler(std::function<autoscaler_figures()> figures) {
  std::lock_guard<std::mutex> guard{impl_->mu};
  impl_->autoscaling = std::move(figures);
}

} // namespace actors::runtime

namespace actors::metrics::detail {

// A user metric: which prometheus-cpp metric it is.
struct handle {
  std::variant<prometheus::Counter*, prometheus::Gauge*, prometheus::Histogram*> metric;
};

namespace {

std::mutex handles_mu;

template <class Builder, class Family>
Family& family_of(const std::string& name, const std::string& help, Builder builder) {
  // prometheus-cpp refuses a second family of one name: keep each one once.
  static std::map<std::string, Family*> families;
  auto i = families.find(name);
  if (i != families.end())
    return *i->second;
  auto& f = builder.Name(name).Help(help).Register(actors::runtime::user_registry());
  families.emplace(name, &f);
  return f;
}

/// The one handle of a prometheus-cpp metric: a metric made again (a counter
/// built inside a function called per block, say) gets the same, so that
/// handles stay as many as the metrics. Called under handles_mu.
template <class Metric>
handle* handle_of(Metric* metric) {
  static std::map<const void*, std::unique_ptr<handle>> handles;
  auto& h = handles[metric];
  if (!h)
    h.reset(new handle{metric});
  return h.get();
}

} // namespace

handle* counter_handle(const std::string& name, const std::string& help,
                       const std::map<std::string, std::string>& labels) {
  std::lock_guard<std::mutex> guard{handles_mu};
  auto& f = family_of<decltype(prometheus::BuildCounter()), prometheus::Family<prometheus::Counter>>(
    name, help, prometheus::BuildCounter());
  return handle_of(&f.Add(labels));
}

handle* gauge_handle(const std::string& name, const std::string& help,
                     const std::map<std::string, std::string>& labels) {
  std::lock_guard<std::mutex> guard{handles_mu};
  auto& f = family_of<decltype(prometheus::BuildGauge()), prometheus::Family<prometheus::Gauge>>(
    name, help, prometheus::BuildGauge());
  return handle_of(&f.Add(labels));
}

handle* histogram_handle(const std::string& name, const std::string& help,
                         const std::map<std::string, std::string>& labels, const std::vector<double>& buckets) {
  std::lock_guard<std::mutex> guard{handles_mu};
  auto& f = family_of<decltype(prometheus::BuildHistogram()), prometheus::Family<prometheus::Histogram>>(
    name, help, prometheus::BuildHistogram());
  return handle_of(&f.Add(labels, prometheus::Histogram::BucketBoundaries(buckets)));
}

void add(handle* h, double v) {
  if (auto** c = std::get_if<prometheus::Counter*>(&h->metric))
    (*c)->Increment(v);
  else if (auto** g = std::get_if<prometheus::Gauge*>(&h->metric))
    (*g)->Increment(v);
}

void set(handle* h, double v) {
  if (auto** g = std::get_if<prometheus::Gauge*>(&h->metric))
    (*g)->Set(v);
}

void observe(handle* h, double v) {
  if (auto** hist = std::get_if<prometheus::Histogram*>(&h->metric))
    (*hist)->Observe(v);
}

} // namespace actors::metrics::detail
