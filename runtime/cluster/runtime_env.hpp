#pragma once

#include "runtime/cluster/membership.hpp"
#include "runtime/common/one_shot_threads.hpp"
#include "runtime/common/serial_executor.hpp"
#include "runtime/jobs/blob_store.hpp"
#include "runtime/jobs/job_service.hpp"
#include "runtime/wire/jobs.hpp"

#include "actors/ids.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace actors::runtime {

/// The files of the jobs whose drivers are in the node table, here: when a
/// driver started by `actors job submit` (its record has a job id) shows up,
/// this node fetches the job's libraries and working directory from the head's
/// job service by content hash and keeps them in its cache directory; it loads
/// the libraries (RTLD_GLOBAL), so that the functions and actor classes they
/// register can run here, and unpacks the working directory, where the job's
/// tasks and actors find their files (actors::working_dir). Work of a job that
/// arrives while they load waits for them (prepare_for, working_dir_for). Safe
/// for concurrent use.
class runtime_env final : public membership_listener {
 public:
  /// `cache` is made if needed and holds the fetched files. Every reference must
  /// outlive this object.
  runtime_env(node_id self, membership& members, job_service_client& head, std::filesystem::path cache);
  ~runtime_env() override;

  runtime_env(const runtime_env&) = delete;
  runtime_env& operator=(const runtime_env&) = delete;

  void view_changed() override;

  /// Work submitted by `owner` names a function this node does not have: if the
  /// owner is a job's driver, waits (at most `limit`) for that job's libraries to
  /// load here. True if they are loaded (look the function up again).
  bool prepare_for(const node_id& owner, std::chrono::milliseconds limit);

  /// The working directory of `owner`'s job on this node, once its files are here
  /// (waiting at most `limit`); null if `owner` is not a job's driver in this
  /// node's table, or its job brought none. Cheap for other owners.
  std::shared_ptr<const std::string> working_dir_for(const node_id& owner, std::chrono::milliseconds limit);

  /// Whether work from `owner` can start here without waiting for a job's files
  /// (prepare_for, working_dir_for): false while the files of the owner's job are
  /// loading, and, when the function it names is missing (`has_function` false),
  /// while the owner is not listed yet or is a job's driver. Never blocks.
  bool ready_for(const node_id& owner, bool has_function) const;

  /// Runs `work` on this object's waiting thread, after the work queued before it:
  /// the place for work that must wait for a job's files, which the node endpoint
  /// never does (it runs on the thread of the node's network I/O). Work still
  /// queued at stop() is dropped.
  void run_waiting(std::function<void()> work);

  /// Stops loading; waits for the loading threads and the waiting thread.
  void stop();

 private:
  void start_loading(const std::string& job);
  void load(const std::string& job);
  std::filesystem::path fetch(const wire::job_file& file);

  const node_id self_;
  membership& members_;
  job_service_client& head_;
  const std::filesystem::path cache_;
  blob_store files_;

  mutable std::mutex mu_;
  std::condition_variable loaded_;
  // Jobs whose loading started, and those whose loading ended (well or not).
  std::set<std::string> started_;
  std::set<std::string> done_;
  // The job of each driver seen in the node table, and each job's working
  // directory here (once unpacked).
  std::map<node_id, std::string> jobs_of_;
  // jobs_of_ is not empty: until a job's driver shows up, working_dir_for
  // answers without the lock (it is asked for every task that arrives).
  std::atomic<bool> any_jobs_{false};
  std::map<std::string, std::shared_ptr<const std::string>> working_dirs_;
  one_shot_threads loaders_;
  bool stopped_ = false;
  // Runs the work that waits for a job's files (run_waiting).
  serial_executor waiting_;
};

} // namespace actors::runtime
