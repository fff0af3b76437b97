#pragma once

/// What nodes say to each other. Every message is a CAF message of an atom and
/// built-in types; structured payloads travel in std::string, encoded as
/// codec.hpp says (see docs/wire-protocol.md). Bump protocol_version on any
/// incompatible change.

#include "actors/detail/failure.hpp"
#include "actors/detail/runtime.hpp"
#include "actors/ids.hpp"
#include "actors/serialization.hpp"
#include "runtime/wire/codec.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace actors::runtime::wire {

inline constexpr std::uint32_t protocol_version = 19;

/// Why the head refused a join (the middle field of its `ac_join` answer). The
/// joining node acts on it: a serving node the head declared dead starts again as
/// a new node. A refusal of another protocol version keeps the two-field answer
/// (accepted, reason) that every version reads.
enum class join_refusal : std::uint8_t {
  none = 0,
  wrong_token = 1,
  malformed_record = 2,
  /// The id is a live member already.
  duplicate_id = 3,
  /// The head declared the node with this id dead; ids do not come back.
  declared_dead = 4,
};

/// Work of one resource shape that waits because no live node can take it now,
/// and how many of it: what the autoscaler launches nodes for.
struct resource_demand {
  std::map<std::string, double> shape;
  std::uint64_t count = 0;

  friend bool operator==(const resource_demand&, const resource_demand&) = default;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & shape & count;
  }
};

/// A node as the head's table holds it and its views carry it.
struct node_record {
  node_id id;
  std::string address;
  std::map<std::string, double> total;
  std::map<std::string, double> available;
  bool alive = true;
  bool head = false;
  /// A driver: a user program that joined to submit work, offering no CPUs unless
  /// told to.
  bool driver = false;
  std::int64_t pid = 0;
  /// Milliseconds since the epoch.
  std::int64_t joined_ms = 0;
  std::int64_t died_ms = 0;
  /// Tasks and actor calls queued or running there, at its last report.
  std::uint64_t load = 0;
  /// Port of the node's Prometheus endpoint on its address's host (0: none).
  std::int32_t metrics_port = 0;
  /// Where the node serves large values over its data channel, "host:port"
  /// (empty: it has none; peers fetch through the node endpoint).
  std::string data_address;
  /// The same for the processes of one host (and one network namespace), which
  /// can share memory (runtime/object_store/shared_memory.hpp).
  std::string host_id;
  /// The process moves large values to and from the others of its host through
  /// shared memory (`--shared-memory`, on by default); two processes share a
  /// value only when both do.
  bool shares_memory = true;
  /// A driver started by `actors job submit`: its job's id (empty otherwise).
  /// Nodes fetch that job's libraries and files before they run its work.
  std::string job_id;
  /// Work this process holds that no live node can take now, at its last report.
  std::vector<resource_demand> pending;
  /// Actors hosted there and objects its store holds, at its last report: a node
  /// with either is not idle.
  std::uint64_t actors = 0;
  std::uint64_t objects = 0;
  /// The autoscaler's launch this node answers (`actorsd --launch-id`); empty for
  /// a node started by hand.
  std::string launch_id;
  /// The autoscaler is removing this node: placement sends it no new work.
  bool draining = false;
  /// The node's object store limit (`--object-store-bytes`), in bytes.
  std::uint64_t object_store_bytes = 0;
  /// Where the node's endpoint takes message lanes, "host:port" (empty: none,
  /// as under TLS; peers send over CAF's connections). runtime/cluster/message_lane.hpp.
  std::string lane_address;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & id & address & total & available & alive & head & driver & pid & joined_ms & died_ms & load
      & metrics_port & data_address & host_id & job_id & pending & actors & objects & launch_id & draining
      & shares_memory & object_store_bytes & lane_address;
  }
};

/// The head's table, sent to every node when it changes. The endpoint actors go
/// beside it in the same order (CAF handles cannot enter a payload).
struct cluster_view {
  std::uint64_t version = 0;
  std::vector<node_record> nodes;
  /// The standing `actors::request_resources` bundles (the latest call's).
  std::vector<std::map<std::string, double>> requested;
  /// The autoscaler's status, an encoded wire::autoscaler_status (empty: the
  /// cluster has no autoscaler).
  std::string autoscaler;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & version & nodes & requested & autoscaler;
  }
};

/// A node's periodic report to the head.
struct node_report {
  node_id id;
  std::map<std::string, double> total;
  std::map<std::string, double> available;
  std::uint64_t load = 0;
  std::vector<resource_demand> pending;
  std::uint64_t actors = 0;
  std::uint64_t objects = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & id & total & available & load & pending & actors & objects;
  }
};

/// What the autoscaler shows in `actors status`: per node type, the demand it
/// sees, and its last events.
struct autoscaler_node_type {
  std::string name;
  std::map<std::string, double> resources;
  std::int32_t min = 0;
  std::int32_t max = 0;
  std::int32_t running = 0;
  std::int32_t launching = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & name & resources & min & max & running & launching;
  }
};

struct autoscaler_status {
  std::vector<autoscaler_node_type> node_types;
  std::vector<resource_demand> pending;
  std::vector<std::map<std::string, double>> infeasible;
  /// The latest last: "TIME text".
  std::vector<std::string> events;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & node_types & pending & infeasible & events;
  }
};

/// Reserve one bundle of a placement group on the receiving node: take `resources`
/// from what it has and offer them again renamed for the bundle only.
struct bundle_request {
  std::uint64_t key = 0;
  std::string group;
  std::uint32_t index = 0;
  std::map<std::string, double> resources;
  /// The node that made the group: the bundle goes when that node is gone,
  /// unless the group is detached.
  node_id creator;
  bool detached = false;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & key & group & index & resources & creator & detached;
  }
};

/// Values up to this size travel with the task or the result that needs them;
/// larger ones stay where they are and are fetched on demand, in chunks.
inline constexpr std::size_t inline_limit = 64 * 1024;
/// Size of one chunk of a large object in transfer.
inline constexpr std::size_t chunk_size = 1024 * 1024;
/// Chunks a fetch keeps in flight.
inline constexpr std::size_t chunk_window = 8;

/// A small ready object sent along with a task that uses it.
struct inline_object {
  object_id id;
  std::string type_name;
  std::string bytes;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & id & type_name & bytes;
  }
};

/// A large ready object a task uses, and the node that holds its value.
struct located_object {
  object_id id;
  node_id holder;
  object_id remote_id;
  std::string type_name;
  std::uint64_t size = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & id & holder & remote_id & type_name & size;
  }
};

/// Run a registered function; the result goes back as a `result` with `key`.
struct task_request {
  std::uint64_t key = 0;
  std::string function;
  /// The caller's type of the function (mangled), checked against the node's.
  std::string signature;
  detail::task_options options;
  std::string args;
  node_id owner;
  std::vector<inline_object> inlined;
  std::vector<located_object> located;
  /// The arguments are too large to come along: `args` is empty, and the owner
  /// holds them as `held_args` (fetched like a large value).
  bool args_held = false;
  located_object held_args;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & key & function & signature & options & args & owner & inlined & located & args_held & held_args;
  }
};

/// Several task requests to one node, in one message.
struct task_batch {
  std::vector<task_request> tasks;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & tasks;
  }
};

/// Build an actor from a registered factory on the receiving node.
struct actor_create_request {
  std::uint64_t key = 0;
  actor_id id;
  std::string factory;
  std::string signature;
  std::string args;
  detail::actor_options options;
  /// How many times the actor was rebuilt before (its node died).
  std::int32_t restarts = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & key & id & factory & signature & args & options & restarts;
  }
};

/// Call a method of an actor hosted on the receiving node.
struct actor_call {
  std::uint64_t key = 0;
  actor_id id;
  std::string method;
  std::string signature;
  std::string args;
  /// A generator method's stream (zero for other calls), and how many unread
  /// items pause it (0: none).
  object_id stream;
  std::uint64_t max_buffered = 0;
  /// The calling node: it holds the call's large arguments (`args` names them,
  /// and the actor's node fetches them from it).
  node_id caller;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & key & id & method & signature & args & stream & max_buffered & caller;
  }
};

/// Send bytes [offset, offset + chunk_size) of the encoded value of an object the
/// receiving node owns or holds.
struct fetch_request {
  std::uint64_t key = 0;
  object_id id;
  std::uint64_t offset = 0;
  /// The fetcher runs on the holder's host: a large value may come as a shared
  /// memory segment (`result::shm_name`) instead of bytes.
  bool same_host = false;
  /// The fetcher can fetch the value over the holder's data channel: if it is
  /// large, the answer is its size and no bytes (`result::location` is the
  /// holder itself).
  bool by_data_channel = false;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & key & id & offset & same_host & by_data_channel;
  }
};

/// The answer to a task, an actor call, an actor creation or a fetch: an encoded
/// value of the named type (whole, or the chunk at `offset` of `size` bytes), a
/// pointer to the node that holds it (`location`, `remote_id`), or a failure.
struct result {
  std::uint64_t key = 0;
  bool ok = false;
  std::string type_name;
  std::string bytes;
  detail::failure why;
  std::uint64_t size = 0;
  std::uint64_t offset = 0;
  node_id location;
  object_id remote_id;
  /// The whole value's encoding is in this shared memory segment of the holder's
  /// host (the answer to a same-host fetch); `bytes` is empty.
  std::string shm_name;
  /// The node gave the task back without running it (spillback: other nodes
  /// have room now); its owner places it again.
  bool given_back = false;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & key & ok & type_name & bytes & why & size & offset & location & remote_id & shm_name & given_back;
  }
};

/// Lines that tasks printed on a node, for a driver whose work runs there.
struct output_lines {
  node_id node;
  std::int64_t pid = 0;
  /// (stream, line): 1 stdout, 2 stderr; lines without their newline.
  std::vector<std::pair<std::uint8_t, std::string>> lines;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & node & pid & lines;
  }
};

/// Several encoded `result`s to one node, in one message, in the order made.
struct result_batch {
  std::vector<std::string> results;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & results;
  }
};

/// Tells a node that held an object for the sender that the sender dropped it.
struct release_request {
  object_id id;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & id;
  }
};

/// Tells an object's owner that node `borrower` starts (or stops) borrowing it:
/// the owner keeps the object while any node borrows it.
struct borrow_notice {
  object_id id;
  node_id borrower;
  bool borrow = true;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & id & borrower & borrow;
  }
};

/// Tells an actor's creator that node `borrower` starts (or stops) holding
/// handles to it: the creator keeps the actor while any node borrows it.
struct actor_borrow {
  actor_id id;
  node_id borrower;
  bool borrow = true;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & id & borrower & borrow;
  }
};

/// One item of a generator running on the sender, for the stream's owner
/// (message_kind::stream_item). Sent the way the task came, before its result.
struct stream_item {
  /// The stream (task_options::stream): its owner's id for it.
  object_id stream;
  /// The node that made the item (where acks go).
  node_id from;
  /// Its place in the stream, from 0; a run again sends the first ones again.
  std::uint64_t index = 0;
  /// The item, as a task's result: inline if small, else held by `from`.
  result item;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & stream & from & index & item;
  }
};

/// Several encoded `stream_item`s to one node, in one message, in the order made.
struct stream_item_batch {
  std::vector<std::string> items;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & items;
  }
};

/// The owner of a stream has read this many of its items and received those
/// before `received` (message_kind::stream_ack), so that a generator that waits
/// for room (max_buffered, or its items in flight) goes on; or it dropped the
/// stream (`closed`), and the generator stops.
struct stream_ack {
  object_id stream;
  std::uint64_t read = 0;
  /// The index of the next item the owner waits for: the items before it came.
  std::uint64_t received = 0;
  bool closed = false;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & stream & read & received & closed;
  }
};

/// The owner cancelled a task it sent the receiving node (message_kind::cancel_task).
struct cancel_request {
  /// The task's owner and the key it sent the task under.
  node_id owner;
  std::uint64_t key = 0;
  /// Cancel the tasks it submitted too.
  bool recursive = false;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & owner & key & recursive;
  }
};

/// An actor hosted on the receiving node (its creator dropped its last handle).
struct actor_ref {
  actor_id id;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & id;
  }
};

/// Where an actor lives now, as its creator knows it (request_kind::locate_actor).
struct actor_location {
  /// The node hosting the current instance (none while restarting or dead).
  node_id node;
  /// Being rebuilt on another node: ask again shortly.
  bool restarting = false;
  /// Why it is dead for good; empty if it lives.
  std::string death;
  /// Its max_task_retries: how many times a call through a handle elsewhere is
  /// sent again after the actor's node died.
  std::int32_t max_task_retries = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & node & restarting & death & max_task_retries;
  }
};

/// Kill an actor hosted on the receiving node.
struct kill_request {
  actor_id id;
  bool no_restart = true;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & id & no_restart;
  }
};

/// One bundle of a placement group, to give back.
struct bundle_ref {
  std::string group;
  std::uint32_t index = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & group & index;
  }
};

/// The answer to a request its sender waits for (actor creation, kill): whether
/// it was done, and why not.
struct request_answer {
  bool ok = false;
  std::string reason;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & ok & reason;
  }
};

/// A named actor as the control store holds it.
struct named_actor {
  actor_id id;
  std::string class_name;
  node_id location;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & id & class_name & location;
  }
};

/// A placement group as the head records it (`ac_pgput`, `ac_pglist`): its
/// creator keeps the record current, and the head forgets it when the group is
/// removed or its creator is gone (unless it is detached).
struct group_record {
  std::string id;
  /// Empty for an unnamed group; unique in its namespace otherwise.
  std::string name;
  std::string ns;
  node_id creator;
  bool detached = false;
  std::vector<std::map<std::string, double>> bundles;
  /// An actors::scheduling_strategy.
  std::uint8_t strategy = 0;
  /// Where each bundle went; 0 for one that waits for a node that can hold it.
  std::vector<node_id> nodes;
  /// PENDING, CREATED, or FAILED followed by the reason.
  std::string state;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & id & name & ns & creator & detached & bundles & strategy & nodes & state;
  }
};

/// Rows of a node's state for the CLI (`actors list ...`, `actors timeline`).
struct state_table {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & columns & rows;
  }
};

/// Encodes a payload (codec.hpp).
template <class T>
std::string pack(const T& x) {
  std::string out;
  out.reserve(256);
  writer w(out);
  w & x;
  return out;
}

/// Decodes a payload from another process; throws actors::error with
/// errc::serialization_failed naming `what` on malformed bytes.
template <class T>
T unpack(const std::string& bytes, const char* what) {
  try {
    reader r(bytes.data(), bytes.size());
    T x{};
    r & x;
    r.expect_end();
    return x;
  } catch (const std::exception& e) {
    throw error(errc::serialization_failed,
                std::string("malformed ") + what + " (" + std::to_string(bytes.size())
                  + " bytes): " + e.what() + "; is the peer of the same version?");
  }
}

} // namespace actors::runtime::wire
