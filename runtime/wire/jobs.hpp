#pragma once

/// The payloads of the job service on the head (runtime/jobs/): what `actors job`
/// and the nodes' runtime environments ask it, in `ac_job` requests of an
/// operation (see docs/wire-protocol.md, "Jobs").

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace actors::runtime::wire {

/// A file of a job, by name and content (SHA-256, 64 hex digits).
struct job_file {
  std::string name;
  std::string hash;
  std::uint64_t size = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & name & hash & size;
  }
};

/// What `actors job submit` asks the head to run. Every file is uploaded first.
struct job_spec {
  job_file program;
  std::vector<std::string> args;
  /// Shared libraries, loaded by the program's process and by every node that
  /// runs the job's work, in this order.
  std::vector<job_file> libraries;
  /// The working directory as a tar archive (name "working_dir.tar"); hash empty:
  /// none.
  job_file working_dir;
  std::vector<std::pair<std::string, std::string>> env;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & program & args & libraries & working_dir & env;
  }
};

/// A job as the head knows it.
struct job_info {
  std::string id;
  /// PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED.
  std::string state;
  std::string program;
  std::vector<std::string> args;
  /// The program's exit code (SUCCEEDED, FAILED), or 128 + the signal that ended it.
  std::int32_t exit_code = 0;
  std::int64_t pid = 0;
  /// Milliseconds since the epoch (0: not yet).
  std::int64_t start_ms = 0;
  std::int64_t end_ms = 0;
  /// Why it failed to start, or how it ended.
  std::string message;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & id & state & program & args & exit_code & pid & start_ms & end_ms & message;
  }
};

struct job_list {
  std::vector<job_info> jobs;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & jobs;
  }
};

/// A question about one job, one file or a few files.
struct job_query {
  std::string id;
  std::string hash;
  std::uint64_t offset = 0;
  std::vector<std::string> hashes;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & id & hash & offset & hashes;
  }
};

/// Part of a file, up to `job_chunk_bytes`, uploaded or downloaded at `offset`.
struct file_chunk {
  std::string hash;
  std::uint64_t offset = 0;
  std::string bytes;
  /// The file's last chunk.
  bool last = false;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & hash & offset & bytes & last;
  }
};

inline constexpr std::size_t job_chunk_bytes = 4u << 20;

/// What a node needs to run a job's work: its libraries and working directory.
struct job_env {
  std::vector<job_file> libraries;
  job_file working_dir;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & libraries & working_dir;
  }
};

/// The job's output from `offset`: up to a chunk of it, where the next read
/// starts, and the job as it is now (its output is complete once it ended).
struct log_chunk {
  std::string bytes;
  std::uint64_t next = 0;
  job_info job;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & bytes & next & job;
  }
};

} // namespace actors::runtime::wire
