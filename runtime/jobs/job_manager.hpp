#pragma once

#include "runtime/common/one_shot_threads.hpp"
#include "runtime/jobs/blob_store.hpp"
#include "runtime/wire/jobs.hpp"

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace actors::runtime {

/// The largest working directory a job may bring, as a tar archive.
inline constexpr std::uint64_t max_working_dir_bytes = 100ull << 20;

/// Unpacks a job's working directory (a tar archive) into `into`, made if
/// needed. Throws actors::error saying what failed.
void unpack_working_dir(const std::filesystem::path& archive, const std::filesystem::path& into);

/// Where the job manager keeps its files and how its programs reach the cluster.
struct job_manager_settings {
  /// jobs/ and blobs/ go under it.
  std::filesystem::path root;
  /// The head's HOST:PORT, given to each program as ACTORS_ADDRESS.
  std::string cluster_address;
  /// The cluster's token, given to each program as ACTORS_TOKEN.
  std::string token;
  /// The head's TLS files (empty: plaintext), given to each program as
  /// ACTORS_TLS_CERT, ACTORS_TLS_KEY and ACTORS_TLS_CA: it runs on the head's host.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
};

/// Runs the programs that `actors job submit` sends to the head, each as a driver
/// of the cluster, and keeps what they print. A job's files (program, libraries,
/// working directory) are kept by content hash, so that a file sent once is not
/// sent again, and nodes fetch them from here (runtime_env). Each job gets a
/// directory root/jobs/ID with bin/ (the program), lib/ (its libraries, on its
/// LD_LIBRARY_PATH), work/ (its working directory, where it starts) and
/// output.log (its stdout and stderr). Jobs are not kept across restarts of the
/// head. Safe for concurrent use.
class job_manager {
 public:
  /// Throws actors::error if root cannot be made.
  explicit job_manager(job_manager_settings settings);
  /// Stops the jobs still running (SIGTERM, then SIGKILL after 5 s).
  ~job_manager();

  job_manager(const job_manager&) = delete;
  job_manager& operator=(const job_manager&) = delete;

  blob_store& files() noexcept {
    return files_;
  }

  /// Starts `spec`'s program; its files must have been uploaded. Throws
  /// actors::error saying what is missing or wrong.
  wire::job_info submit(const wire::job_spec& spec);

  std::vector<wire::job_info> list() const;

  /// Throws actors::error if there is no job `id`.
  wire::job_info status(const std::string& id) const;

  /// Up to a chunk of the job's output from `offset`.
  wire::log_chunk logs(const std::string& id, std::uint64_t offset) const;

  /// Ends the job (SIGTERM to its process group, SIGKILL 5 s later); it ends
  /// STOPPED. A job that ended already is left as it is.
  wire::job_info stop(const std::string& id);

  /// The libraries and working directory the nodes need for the job's work.
  wire::job_env env(const std::string& id) const;

 private:
  struct job;
  std::shared_ptr<job> find(const std::string& id) const;
  void watch(std::shared_ptr<job> j);

  job_manager_settings settings_;
  blob_store files_;
  mutable std::mutex mu_;
  std::condition_variable ended_;
  std::map<std::string, std::shared_ptr<job>> jobs_;
  one_shot_threads watchers_;
  bool stopping_ = false;
};

} // namespace actors::runtime
