#pragma once

#include "runtime/cluster/held_arguments.hpp"
#include "runtime/cluster/local_parts.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/object_directory.hpp"
#include "runtime/cluster/operations.hpp"
#include "runtime/cluster/placement.hpp"
#include "runtime/cluster/runtime_env.hpp"
#include "runtime/cluster/task_streams.hpp"
#include "runtime/cluster/transport.hpp"
#include "runtime/common/one_shot_threads.hpp"
#include "runtime/control_store/control_store.hpp"
#include "runtime/wire/protocol.hpp"

#include "actors/detail/runtime.hpp"
#include "actors/ids.hpp"

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace actors::runtime {

/// Actors across nodes. The creator's side: creates actors on other nodes, sends
/// their calls, kills them, and rebuilds those whose node died on another node
/// (up to max_restarts), sending again the calls that were in flight (up to
/// max_task_retries) and holding new ones until the new instance exists. The
/// host's side: creates, calls, kills and drops actors here for the nodes that
/// created them. Held by a shared_ptr: remote actor cells hold it weakly, to tell
/// it when their last handle goes. Safe for concurrent use.
class actor_calls final : public membership_listener,
                          public demand_source,
                          public detail::remote_actor_creator,
                          public std::enable_shared_from_this<actor_calls> {
 public:
  actor_calls(local_parts local, transport& links, operations& ops, membership& members, placer& place,
              object_directory& objects, held_arguments& held, actor_names& names, runtime_env& env,
              task_streams& streams);
  ~actor_calls() override;

  actor_calls(const actor_calls&) = delete;
  actor_calls& operator=(const actor_calls&) = delete;

  // -- the creator's side --------------------------------------------------------------

  /// Has node `where` create an actor with id `id`; returns its cell (one
  /// reference). Throws actors::error if the node refuses or cannot be reached.
  detail::actor_cell* create(node_id where, const detail::function_entry& factory, const detail::args_holder& args,
                             const detail::actor_options& opts, const actor_id& id);

  /// Records an actor that no live node can host yet: it is created on the first
  /// node that can (a new node table may bring one, say from the autoscaler), and
  /// calls made meanwhile wait for it. Returns its cell (one reference).
  detail::actor_cell* create_when_placed(const detail::function_entry& factory, const detail::args_holder& args,
                                         const detail::actor_options& opts, const actor_id& id);

  /// Places the actors waiting for a node that can host them.
  void view_changed() override;

  /// The actors waiting for a node, by demand shape.
  void count_waiting(std::map<std::map<std::string, double>, std::uint64_t>& shapes) const override;

  /// Sends a method call to the node hosting remote actor `a`; returns the
  /// retained cell of its result. A generator method's items go to this node's
  /// stream `stream`, pausing at `max_buffered` unread.
  detail::object_cell* call(detail::actor_cell* a, const detail::method_entry& m, detail::args_ptr args,
                            object_id stream = {}, std::uint64_t max_buffered = 0);

  /// Kills remote actor `a`; returns once its node has done it.
  void kill(detail::actor_cell* a, bool no_restart);

  /// The last handle to an actor this node created elsewhere went, or the last
  /// cell borrowing an actor another node created.
  void handles_released(const detail::actor_cell& cell) noexcept override;

  // -- borrowing ------------------------------------------------------------------------

  /// A handle to actor `id`, hosted elsewhere on node `location`, was read here;
  /// returns its cell (one reference). The creator's own cell if this node
  /// created the actor; otherwise a cell that borrows the actor from its creator
  /// while it lives, so that the actor outlives the creator's handles.
  detail::actor_cell* adopt_handle(const actor_id& id, const node_id& location);
  /// A node starts or stops borrowing an actor this node created: the actor is
  /// kept (one hold per borrowing node) until it stops or dies.
  void serve_borrow(const wire::actor_borrow& notice);

  /// Rebuilds elsewhere the actors this node created on node `id`.
  void node_lost(const node_id& id, const std::string& why) override;

  /// Tells a restarted head the names of the actors hosted here.
  void rejoined() override;

  // -- the host's side -------------------------------------------------------------------

  wire::request_answer serve_create(wire::actor_create_request req);
  void serve_call(wire::actor_call req, const return_address& from);
  wire::request_answer serve_kill(const wire::kill_request& req);
  /// Where an actor this node created lives now (asked by nodes holding handles).
  wire::actor_location serve_locate(const wire::actor_ref& ref);
  void serve_drop(const wire::actor_ref& ref);

  /// The host's side: an actor hosted here for a node that is gone for good ends
  /// with it, unless it is detached.
  void node_gone_for_good(const node_id& id) override;

  /// Drops the actors hosted here for their creators, fails calls waiting for a
  /// rebuild, and waits for the rebuilding threads.
  void stop();

 private:
  /// A call's large arguments, kept here for the actor's node to fetch until
  /// the call is answered or given up (when the last pending_call holding them
  /// goes).
  struct kept_arguments {
    held_arguments& held;
    std::vector<object_id> ids;
    explicit kept_arguments(held_arguments& h) : held(h) {}
    kept_arguments(const kept_arguments&) = delete;
    kept_arguments& operator=(const kept_arguments&) = delete;
    ~kept_arguments() {
      for (const auto& id : ids)
        held.drop(id);
    }
  };
  /// A call to a remote actor: what it takes to send it again to a new instance.
  struct pending_call {
    wire::actor_call call;
    detail::object_cell* result = nullptr; // retained until settled
    detail::args_ptr args;                 // keeps argument objects alive until answered
    std::shared_ptr<kept_arguments> kept;  // null: none was large
    /// Times it was sent again after its actor's node died (through a handle
    /// this node was given; the creator counts its own calls per restart).
    int retries_used = 0;
  };
  class call_op;
  /// A call that arrived for an actor hosted here, on its way to the actor: its
  /// large arguments are fetched from the caller first.
  struct arriving_call {
    wire::actor_call req;
    return_address from;
    detail::actor_cell* actor = nullptr; // retained until delivered
    const detail::method_entry* method = nullptr;
    detail::args_ptr args;
    std::vector<detail::withheld_argument> withheld;

    arriving_call() = default;
    arriving_call(const arriving_call&) = delete;
    arriving_call& operator=(const arriving_call&) = delete;
    ~arriving_call() {
      if (actor)
        detail::release(actor);
    }
  };
  /// Calls of one caller to one actor that wait behind one whose arguments are
  /// being fetched, in the order they came.
  using arrival_key = std::pair<actor_id, node_id>;
  /// Fetches `call`'s withheld arguments, then delivers it (or fails it alone)
  /// and goes on with the calls that queued behind it.
  void fetch_then_deliver(const arrival_key& key, std::shared_ptr<arriving_call> call);
  /// Hands the call `req` to actor `a` (whose count it takes over) and answers
  /// the caller when its result settles.
  void deliver(detail::actor_cell* a, const detail::method_entry& m, detail::args_ptr args,
               const wire::actor_call& req, const return_address& from);
  void deliver(arriving_call& call) {
    deliver(std::exchange(call.actor, nullptr), *call.method, std::move(call.args), call.req, call.from);
  }
  /// Delivers the calls queued under `key` until one needs a fetch.
  void deliver_queued(const arrival_key& key);
  /// An actor this node created on another node: what it takes to build it
  /// again elsewhere when its node dies.
  struct created_actor {
    const detail::function_entry* factory = nullptr;
    std::string args;
    detail::actor_options opts;
    int restarts = 0;
    node_id location;
    bool restarting = false;
    std::string death;                 // set once it is dead for good
    std::vector<pending_call> waiting; // calls made while it restarts
    int call_retries_left = 0;
    /// Not created anywhere yet: no live node could host it (create_when_placed).
    bool unplaced = false;
    /// A thread is creating the unplaced actor on a node now.
    bool placing = false;
    /// The creator's cell, which every handle here shares, while one lives.
    detail::actor_cell* cell = nullptr;
  };

  /// The last cell here borrowing actor `id` went.
  void borrow_ended(const actor_id& id) noexcept;
  /// Tells actor `id`'s creator that this node starts or stops borrowing it.
  /// Called under borrow_mu_.
  void tell_creator(const actor_id& id, bool borrow) noexcept;
  void send_call(const node_id& target, pending_call pc);
  void fail_call(pending_call& pc, const std::string& why);
  /// A call in flight to an actor whose node `lost` died: sent again to the new
  /// instance if its retries allow.
  void requeue(pending_call pc, const node_id& lost, const std::string& why);
  /// A call whose node was known dead before it went out: it never ran, so it
  /// waits for (or goes to) the actor's next instance without spending a retry.
  void redirect_unsent(pending_call pc, const node_id& dead);
  /// requeue() for a call through a handle another node created: asks the
  /// creator where the actor is now and sends it there, if the actor's
  /// max_task_retries allow when the call had gone out (`spends_retry`). Blocks.
  void resend_elsewhere(pending_call pc, const node_id& lost, const std::string& why, bool spends_retry);
  /// Actor `aid`'s instance on node `id` is gone: it restarts if its
  /// max_restarts allow, else it is dead. Called under mu_.
  void lose_instance(const actor_id& aid, created_actor& a, const node_id& id, const std::string& why);
  void restart(const actor_id& aid);
  /// Creates unplaced actor `aid` on a node that can host it now, if any.
  void place_unplaced(const actor_id& aid);
  /// What it takes to build actor `aid` (factory, arguments, options, restarts).
  created_actor recipe_of(const actor_id& aid);
  /// Asks node `where` to build actor `aid` from `a` as its `restarts`-th
  /// instance; false with `why` if it refused or did not answer.
  bool create_there(const node_id& where, const actor_id& aid, const created_actor& a, int restarts,
                    std::string& why);
  /// The node an actor another node created was last known on here: where the
  /// handle was made, or where `locate` found it since. Called under mu_.
  node_id last_known_location(const detail::actor_cell& a) const;
  /// Where an actor another node created lives now, once the node this one last
  /// knew for it died: asked of its creator, waiting out a restart (up to
  /// relocate_timeout). Nullopt with `why` if it is dead or cannot be found.
  /// Sets `max_task_retries` (if given) to the actor's, as the creator said.
  std::optional<node_id> locate(const actor_id& aid, std::string& why, int* max_task_retries = nullptr);

  const local_parts local_;
  transport& links_;
  operations& ops_;
  membership& members_;
  placer& place_;
  object_directory& objects_;
  held_arguments& held_;
  actor_names& names_;
  runtime_env& env_;
  task_streams& streams_;

  // Guards everything below.
  mutable std::mutex mu_;
  bool stopping_ = false;
  std::unordered_map<actor_id, created_actor> created_;
  // Where actors other nodes created live now, as their creators said after the
  // node this one knew for them died.
  std::unordered_map<actor_id, node_id> relocated_;
  // Actors hosted here on behalf of the remote node that created them.
  std::unordered_map<actor_id, detail::actor_cell*> creator_holds_;
  // Threads rebuilding actors (creation blocks); stop waits for them.
  one_shot_threads restarters_;
  // Holds on actors this node created (or hosts) for the nodes borrowing them:
  // one per actor and borrower.
  std::map<std::pair<actor_id, node_id>, detail::actor_cell*> lent_;

  // Guards borrowing_; held while a borrow notice is sent, so that the notices
  // for one actor leave in the order its count changed.
  std::mutex borrow_mu_;
  // Cells here borrowing actors other nodes created, per actor.
  std::unordered_map<actor_id, std::size_t> borrowing_;

  // Guards arriving_.
  std::mutex arriving_mu_;
  // Per caller and actor hosted here with a call fetching its arguments: the
  // calls that came after it. Absent when none fetches.
  std::map<arrival_key, std::deque<std::shared_ptr<arriving_call>>> arriving_;
};

} // namespace actors::runtime
