#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace caf {
class actor;
class actor_system;
} // namespace caf

namespace actors::runtime {

class job_manager;
struct job_manager_settings;

/// The head's jobs: a job_manager, and one actor on a thread of its own (it
/// reads and writes files) that answers `ac_job` requests (op, token, payload)
/// with (ok, answer or error) from it. The head's node endpoint hands it these
/// requests. Every operation needs the cluster token. Destroying it stops the
/// actor, then the jobs still running.
class job_service {
 public:
  /// Throws actors::error if the job directory cannot be made.
  job_service(caf::actor_system& sys, const job_manager_settings& settings);
  ~job_service();

  job_service(const job_service&) = delete;
  job_service& operator=(const job_service&) = delete;

  /// The actor the node endpoint hands job requests to.
  caf::actor handle() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// How a node asks the head's job service (its transport does): the answer's
/// payload, or nullopt with `why` set (refused, unreachable, or no answer within
/// `timeout`).
class job_service_client {
 public:
  virtual ~job_service_client() = default;
  virtual std::optional<std::string> ask_jobs(const std::string& op, std::string payload,
                                              std::chrono::milliseconds timeout, std::string& why) = 0;
};

/// What one operation answers, without the actor (for tests): throws
/// actors::error on a malformed payload or an unknown operation.
std::string serve_job_operation(job_manager& jobs, const std::string& op, const std::string& payload);

} // namespace actors::runtime
