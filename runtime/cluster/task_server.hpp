#pragma once

#include "runtime/cluster/local_parts.hpp"
#include "runtime/cluster/object_directory.hpp"
#include "runtime/cluster/runtime_env.hpp"
#include "runtime/cluster/task_streams.hpp"
#include "runtime/cluster/transport.hpp"
#include "runtime/wire/protocol.hpp"

#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace actors::runtime {

/// Runs tasks here for the nodes that own them: finds the function (waiting for
/// the libraries of the owner's job to load, if it is a job's), checks that it is
/// the caller's, stands in the objects sent along or located elsewhere, decodes the
/// arguments, runs the task on this node, and answers with its result. Safe for
/// concurrent use.
class task_server {
 public:
  task_server(local_parts local, object_directory& objects, runtime_env& env, task_streams& streams)
    : local_(local), objects_(objects), env_(env), streams_(streams) {}

  /// A task request from another node; the answer goes back to `from`. Large
  /// arguments the owner holds are fetched first: the encoding of them all
  /// before they are decoded, each value it kept back before the task starts.
  void serve(wire::task_request req, const return_address& from);

  /// The result here of the task `owner` sent under `key`, retained for the
  /// caller, or null if it is not running or waiting here (any more).
  detail::object_cell* task_result(const node_id& owner, std::uint64_t key);

 private:
  /// Decodes the arguments of `req`, fetches what the owner kept back of them,
  /// then starts it.
  void run(wire::task_request req, const return_address& from);
  /// As run, once nothing need wait for the files of the owner's job (or on the
  /// thread that may wait for them). `fn` is the function run looked up, or null
  /// to look it up (again) here.
  void run_ready(wire::task_request req, const return_address& from, const detail::function_entry* fn);
  /// Fetches the argument values the owner of `req` kept back into `args`, then
  /// starts it; or answers why not.
  void fetch_withheld(const detail::function_entry& fn, wire::task_request req, detail::args_ptr args,
                      std::vector<detail::withheld_argument> withheld, const return_address& from);
  /// Runs the task `req` with its decoded arguments and answers when it settles.
  void start(const detail::function_entry& fn, wire::task_request req, detail::args_ptr args,
             const return_address& from);

  const local_parts local_;
  object_directory& objects_;
  runtime_env& env_;
  task_streams& streams_;
  // The results of the tasks served here that have not settled, by owner and
  // key (each alive under the count its reply holds); shared with the callbacks
  // that take them out, which may run after this server is gone.
  struct owner_and_key_hash {
    std::size_t operator()(const std::pair<std::uint64_t, std::uint64_t>& k) const noexcept {
      return std::hash<std::uint64_t>{}(k.first * 0x9e3779b97f4a7c15ULL ^ k.second);
    }
  };
  struct unsettled_table {
    std::mutex mu;
    std::unordered_map<std::pair<std::uint64_t, std::uint64_t>, detail::object_cell*, owner_and_key_hash> results;
  };
  std::shared_ptr<unsettled_table> unsettled_ = std::make_shared<unsettled_table>();
};

} // namespace actors::runtime
