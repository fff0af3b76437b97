#pragma once

#include "runtime/cluster/membership.hpp"
#include "runtime/jobs/blob_store.hpp"
#include "runtime/jobs/job_service.hpp"
#include "runtime/wire/jobs.hpp"

#include "actors/ids.hpp"

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace actors::runtime {

/// The libraries of the jobs whose drivers are in the node table, loaded here:
/// when a driver started by `actors job submit` (its record has a job id) shows
/// up, this node fetches the job's libraries from the head's job service by
/// content hash, keeps them in its cache directory, and loads them
/// (RTLD_GLOBAL), so that the functions and actor classes they register can run
/// here. Work of a job that arrives while they load waits for them (see
/// prepare_for). Safe for concurrent use.
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

  /// Stops loading; waits for the loading threads.
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
  std::vector<std::thread> loaders_;
  bool stopped_ = false;
};

} // namespace actors::runtime
