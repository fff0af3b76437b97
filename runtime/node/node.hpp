#pragma once

#include "runtime/actor_host/actor_host.hpp"
#include "runtime/control_store/control_store.hpp"
#include "runtime/object_store/object_store.hpp"
#include "runtime/scheduler/scheduler.hpp"
#include "runtime/scheduler/worker_pool.hpp"

#include "actors/ids.hpp"
#include "actors/init.hpp"

#include <filesystem>
#include <memory>

namespace actors::runtime {

/// Options with every default resolved.
struct node_config {
  double num_cpus = 1;
  resource_set resources;
  std::size_t object_store_bytes = 0;
  std::filesystem::path spill_dir;
  /// The spill directory was made by the node and goes with it.
  bool owns_spill_dir = false;
};

/// Fills in the defaults of `opts` (CPUs, store size, spill directory) and checks
/// them; throws actors::error naming a bad value.
node_config resolve(const init_options& opts);

/// One node: a CAF actor system with the node's service actors, and the object
/// store, scheduler, worker pool and actor host that serve this process's tasks
/// and actors. In an embedded cluster the node is also the head (it runs the
/// control store). Built by actors::init, destroyed by actors::shutdown.
class node {
 public:
  explicit node(node_config cfg);
  ~node();

  node(const node&) = delete;
  node& operator=(const node&) = delete;

  const node_id id;
  const node_config config;

 private:
  struct caf_system;
  std::unique_ptr<caf_system> caf_;

 public:
  // Declared in the order they start; they stop in reverse.
  object_store store;
  worker_pool pool;
  scheduler sched;
  control_store control;
  actor_host host;
};

/// The node of this process, or null outside init/shutdown.
node* current_node() noexcept;

} // namespace actors::runtime
