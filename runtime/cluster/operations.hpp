#pragma once

#include "runtime/cluster/membership.hpp"
#include "runtime/wire/protocol.hpp"

#include "actors/ids.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace actors::detail {
class object_cell;
} // namespace actors::detail

namespace actors::runtime {

/// A request sent to another node whose answer this node waits for: a task, an
/// actor call, a chunk of a fetch, a bundle reservation. Each kind handles its
/// own answer and the loss of its node.
class operation {
 public:
  virtual ~operation() = default;
  /// The node answered (on the thread the answer arrived on).
  virtual void answered(wire::result r) = 0;
  /// The node died, or could not be reached, before it answered (`why`).
  virtual void lost(const node_id& node, const std::string& why) = 0;
  /// The node was known dead before the request went out: it never reached it.
  /// A kind that may go elsewhere without spending a retry says so here.
  virtual void not_sent(const node_id& node) {
    lost(node, "it died before the request could be sent");
  }
  /// The object this request makes there (a task's result), if it makes one.
  virtual const detail::object_cell* makes() const noexcept {
    return nullptr;
  }
};

/// Where a request went, and under which key.
struct sent_request {
  std::uint64_t key = 0;
  node_id target;
};

/// The requests in flight from this node, by key: each answer goes to its
/// operation once, and the loss of a node reaches every operation sent there,
/// once. Safe for concurrent use.
class operations final : public membership_listener {
 public:
  explicit operations(const membership& members) : members_(members) {}
  ~operations() override;

  operations(const operations&) = delete;
  operations& operator=(const operations&) = delete;

  /// A fresh key for a request.
  std::uint64_t next_key() noexcept {
    return next_key_.fetch_add(1, std::memory_order_relaxed);
  }

  /// Registers `op`, sent (or about to be sent) to node `target` under `key`. If
  /// that node is dead already, or this table stopped, `op` hears it at once.
  void add(std::uint64_t key, const node_id& target, std::unique_ptr<operation> op);

  /// An answer: goes to the operation with its key, if one still waits (a late
  /// answer after its node was declared dead is dropped).
  void answer(wire::result r);

  /// Every operation sent to node `id` is lost.
  void node_lost(const node_id& id, const std::string& why) override;

  /// The request in flight that makes `result` (a task run on another node).
  std::optional<sent_request> find_making(const detail::object_cell* result) const;

  /// Requests to node `id` not answered yet.
  std::size_t in_flight(const node_id& id) const;

  /// Requests to each of `ids` not answered yet, under one lock.
  std::vector<std::size_t> in_flight(const std::vector<node_id>& ids) const;

  /// Every operation still waiting is lost, and later ones are lost at once:
  /// this node stops.
  void stop();

 private:
  struct entry {
    node_id target;
    std::unique_ptr<operation> op;
  };
  /// The operation with `key`, taken out of the table (null if gone).
  std::unique_ptr<operation> take(std::uint64_t key);

  const membership& members_;
  std::atomic<std::uint64_t> next_key_{1};
  // Guards everything below.
  mutable std::mutex mu_;
  std::unordered_map<std::uint64_t, entry> ops_;
  std::unordered_map<node_id, std::size_t> in_flight_;
  bool stopped_ = false;
};

} // namespace actors::runtime
