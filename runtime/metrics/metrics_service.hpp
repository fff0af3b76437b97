#pragma once

#include "runtime/actor_host/actor_host.hpp"
#include "runtime/cluster/cluster.hpp"
#include "runtime/object_store/object_store.hpp"
#include "runtime/scheduler/scheduler.hpp"
#include "runtime/scheduler/task_log.hpp"

#include "actors/ids.hpp"

#include <functional>
#include <memory>
#include <string>

namespace prometheus {
class Registry;
}

namespace actors::runtime {

struct autoscaler_figures;

/// What a node's metrics are read from at each scrape.
struct metrics_sources {
  node_id node;
  const object_store& store;
  const scheduler& sched;
  const actor_host& host;
  const task_log& tasks;
  const cluster& net;
  /// Head or embedded node: it exports the node table's counts.
  bool counts_nodes = false;
};

/// The registry of user metrics (actors::metrics), one per process: it outlives
/// every node, so user metric objects stay valid across init and shutdown.
prometheus::Registry& user_registry();

/// One node's HTTP endpoint for Prometheus: `/metrics` in the text format (the
/// node's own metrics, read from its services at scrape time, and the user
/// metrics), and on the head `/sd`, the http_sd_configs list of every live node's
/// endpoint. Serves from its own threads; safe for concurrent scrapes.
class metrics_service {
 public:
  /// Listens on `bind`:`port` (0 picks a free port). Throws actors::error saying
  /// what to change if the port cannot be opened.
  metrics_service(metrics_sources sources, const std::string& bind, int port);
  ~metrics_service();

  metrics_service(const metrics_service&) = delete;
  metrics_service& operator=(const metrics_service&) = delete;

  /// The port it listens on.
  int port() const noexcept;

  /// The text `/metrics` answers now.
  std::string scrape() const;

  /// Makes `/sd` answer with what `list` returns (JSON); the head sets it.
  void serve_discovery(std::function<std::string()> list);

  /// Adds the autoscaler's metrics (actors_autoscaler_*) from what `figures`
  /// returns at each scrape; the head with an autoscaler sets it, and clears it
  /// (nullptr) before the autoscaler goes.
  void serve_autoscaler(std::function<autoscaler_figures()> figures);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace actors::runtime
