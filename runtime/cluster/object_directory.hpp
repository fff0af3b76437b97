#pragma once

#include "runtime/cluster/held_arguments.hpp"
#include "runtime/cluster/local_parts.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/operations.hpp"
#include "runtime/cluster/transport.hpp"
#include "runtime/common/serial_executor.hpp"
#include "runtime/data_plane/data_channel.hpp"
#include "runtime/object_store/shared_memory.hpp"
#include "runtime/wire/protocol.hpp"

#include "actors/detail/failure.hpp"
#include "actors/ids.hpp"

#include <atomic>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace actors::runtime {

/// The encoded value of a ready cell held here, and its type; throws if it has no
/// encoding.
std::pair<std::string, std::string> encoded_value(object_store& store, detail::object_cell* c);

/// Settles `c` with what another node answered for it: the failure, the bytes,
/// or where that node holds the value (and `made_by`, how to make it again).
void settle_answered(object_store& store, detail::object_cell* c, wire::result r,
                     std::shared_ptr<detail::lineage> made_by = nullptr);

/// Makes a value again from its lineage when the node holding it died.
class object_rebuilder {
 public:
  virtual ~object_rebuilder() = default;
  /// Runs again the task that made `c`'s value, which was held by a node that is
  /// gone, and points `c` at the new value. Blocks. False if there is no lineage
  /// or no attempt left.
  virtual bool rebuild(detail::object_cell* c) = 0;
};

/// Tells other nodes when this node frees its side of an object that lives with
/// them: a copy they held for it, or a borrow. Built before the object store,
/// which it listens to; sends nothing once the transport stopped.
class remote_releases final : public remote_release_listener {
 public:
  remote_releases(node_id self, transport& links) : self_(self), links_(links) {}
  void copy_released(const object_cell::remote_copy& where) noexcept override;
  void borrow_released(const object_id& id) noexcept override;

 private:
  const node_id self_;
  transport& links_;
};

/// Values at least this large move over the data channel when the holder has
/// one: below it, the node endpoint's messages cost less than a connection's
/// turn. Over loopback, many 32 KiB values fetched at once came 2.3 times
/// faster over the data channel, 16 KiB ones 1.5 times slower.
inline constexpr std::uint64_t data_channel_threshold = 32 * 1024;

/// Where objects are and how their bytes cross nodes: this node's stand-ins for
/// objects other nodes own (borrowing them from their owners), fetches of values
/// held elsewhere (large ones over the data channel, else in chunks through the
/// node endpoints), the values this node holds for other nodes and serves to
/// them (its data server, which also serves the large arguments this node holds
/// for its tasks), and the nodes borrowing objects this node owns. Safe for
/// concurrent use.
class object_directory final : public membership_listener, public data_source {
 public:
  /// Serves large values on `settings.data_bind` (none if empty), to peers that
  /// show `settings.token`. Throws actors::error if it cannot listen there.
  object_directory(local_parts local, const cluster_settings& settings, transport& links, operations& ops,
                   membership& members, object_rebuilder& rebuilder, held_arguments& held);
  ~object_directory() override;

  object_directory(const object_directory&) = delete;
  object_directory& operator=(const object_directory&) = delete;

  // -- this node's side ---------------------------------------------------------------

  /// The cell standing in for object `id`, owned by another node, fetching its
  /// value from the owner; retained.
  detail::object_cell* resolve_foreign(const object_id& id);

  /// The retained cell standing in for an object another node owns, whose value
  /// `obj.holder` holds: the held value itself if that is this node, else fetched
  /// from the holder directly.
  detail::object_cell* adopt_located(const wire::located_object& obj);

  /// A small object sent along with a task: stands in for it with its bytes;
  /// retained.
  detail::object_cell* adopt_inline(wire::inline_object obj);

  /// Fetches the bytes `obj.holder` holds under `obj.remote_id` (the arguments of a
  /// task it sent here) and calls `done` with them, or with why not.
  void fetch_bytes(const wire::located_object& obj,
                   std::function<void(bool ok, std::string bytes, detail::failure why)> done);

  /// Fetches the argument value `obj.holder` kept back under `obj.remote_id`
  /// (for a task it sent here), received straight into its memory where its type
  /// allows, and gives it to `arg`; then calls `done` with whether it worked.
  /// `arg` must live until then.
  void fetch_argument(const wire::located_object& obj, detail::withheld_argument& arg,
                      std::function<void(bool ok, detail::failure why)> done);

  /// Blocks until the value of `c` (held by another node) is here; if the holder
  /// is gone, makes it again from its lineage. Throws object_lost_error if
  /// neither works. Returns a hold on the copy fetched (null if none): the store
  /// does not drop the copy to make room while the caller keeps it.
  std::shared_ptr<const void> fetch_into(detail::object_cell* c);

  // -- answering other nodes ------------------------------------------------------------

  /// What a settled result answers its requester: the value inline if small, else
  /// a pointer to this node, which holds the value until the requester drops it.
  wire::result result_for(detail::object_cell* c, std::uint64_t key, const node_id& requester);

  /// Answers `to` with the result of `c` once it settles (releases one count of
  /// `c` then), or, if `given_back` is set by then, that the task was given back.
  void reply_when_settled(detail::object_cell* c, std::uint64_t key, const return_address& to,
                          const node_id& requester, std::shared_ptr<std::atomic<bool>> given_back = nullptr);
  /// The same at once, for a settled `c`.
  void reply_settled(detail::object_cell* c, std::uint64_t key, const return_address& to, const node_id& requester,
                     const std::shared_ptr<std::atomic<bool>>& given_back);

  /// Answers `to` that request `key` failed.
  void reply_failure(std::uint64_t key, const return_address& to, detail::failure why);

  /// A node asks for a chunk of an object this node owns or holds.
  void serve_fetch(const wire::fetch_request& req, const return_address& from);

  /// The requester dropped a value this node held for it.
  void serve_release(const wire::release_request& req);

  /// A node starts or stops borrowing an object this node owns.
  void serve_borrow(const wire::borrow_notice& notice);

  /// Releases what this node held for, or lent to, node `id`, and fails the
  /// data-channel fetches from it.
  void node_lost(const node_id& id, const std::string& why) override;

  /// The data server's bytes of object `id` (data_source).
  void lookup(const object_id& id, reply done) override;

  /// Where this node serves large values, "host:port"; empty if it serves none.
  std::string data_address() const;

  /// Drops every hold and transfer; fetches still running fail through `ops`.
  void stop();

 private:
  /// A fetched value: its bytes, or a mapping of the holder's segment.
  /// What a fetch brought: an encoding (`type`, `bytes`), a mapping of the
  /// holder's segment, or the value itself, received straight into its memory.
  struct fetched_value {
    std::string type;
    std::string bytes;
    std::shared_ptr<const shm_mapping> mapping;
    detail::value_box value;
  };
  struct fetch_state;
  struct fetch_wait;
  class fetch_op;

  detail::object_cell* foreign(const object_id& id, bool& created);
  /// Why held arguments `id` cannot be sent: they were dropped.
  std::string arguments_gone(const object_id& id) const;
  /// Fetches `fs` from its holder: over the data channel if the value is known to
  /// be large (`size`, 0 if unknown) and the holder has one, else in chunks.
  /// On the holder's host (unless `may_share` is false: held arguments are not
  /// objects of its store) the value comes as a shared memory segment.
  void start_fetch(std::shared_ptr<fetch_state> fs, std::uint64_t size = 0, bool may_share = true);
  /// Whether `peer` and this node pass large values through shared memory: same
  /// host, and both share memory.
  bool shares_memory_with(const wire::node_record& peer) const;
  /// Settles the stand-in `c` with what a fetch brought, or why it failed.
  void settle_fetched(detail::object_cell* c, bool ok, fetched_value v, detail::failure why);
  /// The address (host, port) of `holder`'s data channel, if it has one and
  /// this node can fetch over it.
  std::optional<std::pair<std::string, std::uint16_t>> data_channel_of(const node_id& holder) const;
  /// Fetches the whole value over the holder's data channel; falls back to
  /// chunks if the channel cannot serve it.
  bool fetch_over_data_channel(const std::shared_ptr<fetch_state>& fs);
  void send_chunk_request(const std::shared_ptr<fetch_state>& fs, std::uint64_t offset);
  void on_chunk(const std::shared_ptr<fetch_state>& fs, wire::result r);
  void hold_for(detail::object_cell* c, const node_id& requester);
  /// Answers fetch `req` of the value of `c` (settled): a segment of this node's
  /// shared memory for a same-host fetcher, else a chunk of its encoding.
  void answer_fetch(detail::object_cell* c, const wire::fetch_request& req, const return_address& from);
  wire::result chunk_of(detail::object_cell* c, const wire::fetch_request& req);
  /// One chunk of `bytes` of type `type` for a fetch.
  static wire::result chunk_of(const std::string& type, const std::string& bytes, const wire::fetch_request& req);

  const local_parts local_;
  transport& links_;
  operations& ops_;
  membership& members_;
  object_rebuilder& rebuilder_;
  held_arguments& arguments_;
  // This process's host (same for every node sharing its memory); empty when
  // this node does not share memory (--shared-memory false).
  const std::string host_;
  std::string data_host_;
  std::unique_ptr<data_server> data_server_;
  std::unique_ptr<data_client> data_client_;

  // Guards everything below.
  std::mutex mu_;
  std::condition_variable fetched_;
  // Large results kept here for the node that owns them, until it drops them.
  struct held_object {
    detail::object_cell* cell;
    node_id owner;
  };
  std::unordered_map<object_id, held_object> held_;
  // Encodings of values being sent in chunks, so that each chunk does not encode
  // again; dropped after the last chunk.
  std::unordered_map<object_id, std::shared_ptr<const std::string>> transfers_;
  // Objects owned here that other nodes borrow: one hold per borrow.
  std::map<std::pair<object_id, node_id>, std::vector<detail::object_cell*>> borrowed_;
  // Fetches into cells whose value another node holds: one per cell at a time.
  std::unordered_map<detail::object_cell*, std::shared_ptr<fetch_wait>> located_fetches_;
  // Fetches over the data channel, by holder: failed at once if it dies.
  std::unordered_multimap<node_id, std::weak_ptr<fetch_state>> channel_fetches_;
  // Answers the fetches of large values (serve_fetch), off the endpoint's thread.
  serial_executor bulk_;
};

} // namespace actors::runtime
