#include "runtime/cluster/cluster.hpp"

#include "runtime/common/log.hpp"

#include "actors/errors.hpp"

namespace actors::runtime {

cluster::cluster(local_parts local, cluster_settings settings, transport& links, head_link& head,
                 actor_names& names, group_records& records, job_service_client& jobs)
  : local_(local),
    links_(links),
    members_(local, settings, head, links),
    ops_(members_),
    place_(local.id, local.sched, local.host, members_, ops_),
    env_(local.id, members_, jobs, settings.job_cache),
    submitter_(local, links, ops_, members_, place_, held_),
    objects_(local, settings, links, ops_, members_, submitter_, held_),
    streams_(local, links, objects_),
    served_(local, objects_, env_, streams_),
    cancels_(local, links, ops_, served_),
    actors_(std::make_shared<actor_calls>(local, links, ops_, members_, place_, objects_, held_, names, env_,
                                          streams_)),
    groups_(local, links, ops_, members_, place_, records),
    output_(local.id, links, members_, settings.print_task_output),
    forget_dead_(links),
    spillback_(local, members_) {
  // The order matters: see the class comment.
  members_.add_listener(*actors_);
  members_.add_listener(ops_);
  members_.add_listener(objects_);
  members_.add_listener(forget_dead_);
  members_.add_listener(submitter_);
  members_.add_demand_source(submitter_);
  members_.add_demand_source(*actors_);
  members_.add_listener(groups_);
  members_.add_demand_source(groups_);
  members_.add_listener(env_);
  members_.add_listener(spillback_);
}

cluster::~cluster() {
  stop();
}

void cluster::join(const wire::node_record& rec) {
  members_.join(rec);
}

void cluster::service_failed(const std::string& why) {
  log(log_level::error, "node", "node ", local_.id.to_string(), " stops: ", why);
  members_.end_serving(stop_cause::service_failed);
}

void cluster::stop() {
  // Membership first: from then on nothing is retried or rebuilt, so failing the
  // requests in flight settles everything that waits for another node.
  members_.stop();
  output_.stop();
  ops_.stop();
  submitter_.stop();
  actors_->stop();
  streams_.stop();
  objects_.stop();
  env_.stop();
}

// -- the router: what arrives goes to the part that owns it --------------------------------

void cluster::on_message(message_kind kind, const std::string& payload, const return_address& from) {
  switch (kind) {
    case message_kind::task:
      if (auto req = decode_payload<wire::task_request>(payload, "task request")) {
        output_.work_from(req->owner);
        served_.serve(std::move(*req), from);
      }
      return;
    case message_kind::task_batch:
      if (auto batch = decode_payload<wire::task_batch>(payload, "task batch")) {
        if (!batch->tasks.empty())
          output_.work_from(batch->tasks.front().owner);
        for (auto& req : batch->tasks)
          served_.serve(std::move(req), from);
      }
      return;
    case message_kind::actor_call:
      if (auto call = decode_payload<wire::actor_call>(payload, "actor call")) {
        // The actor's creator: calls carry no caller.
        output_.work_from(node_id{call->id.owner});
        actors_->serve_call(std::move(*call), from);
      }
      return;
    case message_kind::task_output:
      if (auto lines = decode_payload<wire::output_lines>(payload, "task output"))
        output_.print(*lines);
      return;
    case message_kind::result:
      if (auto r = decode_payload<wire::result>(payload, "result"))
        ops_.answer(std::move(*r));
      return;
    case message_kind::result_batch:
      if (auto batch = decode_payload<wire::result_batch>(payload, "result batch"))
        for (const auto& one : batch->results)
          if (auto r = decode_payload<wire::result>(one, "result"))
            ops_.answer(std::move(*r));
      return;
    case message_kind::fetch:
      if (auto req = decode_payload<wire::fetch_request>(payload, "fetch request"))
        objects_.serve_fetch(*req, from);
      return;
    case message_kind::release:
      if (auto req = decode_payload<wire::release_request>(payload, "release request"))
        objects_.serve_release(*req);
      return;
    case message_kind::borrow:
      if (auto notice = decode_payload<wire::borrow_notice>(payload, "borrow"))
        objects_.serve_borrow(*notice);
      return;
    case message_kind::actor_borrow:
      if (auto notice = decode_payload<wire::actor_borrow>(payload, "actor borrow"))
        actors_->serve_borrow(*notice);
      return;
    case message_kind::drop_actor:
      if (auto ref = decode_payload<wire::actor_ref>(payload, "actor drop"))
        actors_->serve_drop(*ref);
      return;
    case message_kind::bundle_reserve:
      if (auto req = decode_payload<wire::bundle_request>(payload, "bundle request"))
        groups_.serve_reserve(std::move(*req), from);
      return;
    case message_kind::cancel_task:
      if (auto req = decode_payload<wire::cancel_request>(payload, "task cancel"))
        cancels_.serve(*req);
      return;
    case message_kind::stream_item:
      if (auto item = decode_payload<wire::stream_item>(payload, "stream item"))
        streams_.serve_item(std::move(*item));
      return;
    case message_kind::stream_item_batch:
      if (auto batch = decode_payload<wire::stream_item_batch>(payload, "stream item batch"))
        for (const auto& one : batch->items)
          if (auto item = decode_payload<wire::stream_item>(one, "stream item"))
            streams_.serve_item(std::move(*item));
      return;
    case message_kind::stream_ack:
      if (auto ack = decode_payload<wire::stream_ack>(payload, "stream ack"))
        streams_.serve_ack(*ack);
      return;
    case message_kind::bundle_remove:
      if (auto ref = decode_payload<wire::bundle_ref>(payload, "bundle removal"))
        groups_.serve_remove(*ref);
      return;
  }
  log(log_level::warning, "cluster", "dropped a message of unknown kind ", static_cast<int>(kind),
      ": is the peer of the same version?");
}

std::string cluster::on_request(request_kind kind, const std::string& payload) {
  wire::request_answer answer;
  switch (kind) {
    case request_kind::create_actor:
      if (auto req = decode_payload<wire::actor_create_request>(payload, "actor creation"))
        answer = actors_->serve_create(std::move(*req));
      else
        answer = {false, "node " + local_.id.to_string() + " cannot read the actor creation request"};
      return wire::pack(answer);
    case request_kind::locate_actor:
      if (auto ref = decode_payload<wire::actor_ref>(payload, "actor location request"))
        return wire::pack(actors_->serve_locate(*ref));
      return wire::pack(wire::actor_location{{}, false, "node " + local_.id.to_string()
                                                          + " cannot read the actor location request"});
    case request_kind::kill_actor:
      if (auto req = decode_payload<wire::kill_request>(payload, "actor kill"))
        answer = actors_->serve_kill(*req);
      else
        answer = {false, "node " + local_.id.to_string() + " cannot read the kill request"};
      return wire::pack(answer);
    case request_kind::ping:
      return wire::pack(wire::request_answer{true, {}});
  }
  log(log_level::warning, "cluster", "refused a request of unknown kind ", static_cast<int>(kind),
      ": is the peer of the same version?");
  return wire::pack(wire::request_answer{false, "unknown request kind " + std::to_string(static_cast<int>(kind))});
}

void cluster::on_view(wire::cluster_view view) {
  members_.apply_view(std::move(view));
}

void cluster::on_peer_down(const node_id& id) {
  members_.connection_closed(id);
}

void cluster::on_peer_unlisted(const node_id& id) {
  members_.node_down(id, "no node table from the head listed it in time; messages for it were dropped");
}

void cluster::on_head_down() {
  members_.head_lost();
}

void cluster::on_tick() {
  members_.report();
}

void cluster::on_stop_request() {
  members_.end_serving();
}

wire::state_table cluster::on_state_query(const std::string& what) {
  wire::state_table t;
  if (what == "actors") {
    t.columns = {"ACTOR", "CLASS", "NAME", "STATE", "RESTARTS"};
    t.rows = local_.host.describe();
  } else if (what == "objects") {
    t.columns = {"OBJECT", "BYTES", "WHERE", "TYPE"};
    t.rows = local_.store.describe(10000);
  } else if (what == "tasks") {
    t.columns = {"NAME", "STATE", "START_US", "END_US", "WORKER"};
    for (const auto& e : local_.tasks.snapshot())
      t.rows.push_back({e.name, e.state == "running" ? "RUNNING" : e.state == "finished" ? "FINISHED" : "FAILED",
                        std::to_string(e.start_us), std::to_string(e.end_us), std::to_string(e.worker)});
    for (const auto& name : local_.sched.pending_names(10000))
      t.rows.push_back({name, "PENDING", "", "", ""});
  }
  return t;
}

} // namespace actors::runtime
