// The runtime's log, through spdlog: one logger with a sink for stderr (the
// descriptor output_capture leaves it on) and, in node processes, a rotating
// file under the session directory.

#include "runtime/common/log.hpp"

#include "actors/errors.hpp"

#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <unistd.h>

namespace actors::runtime {

namespace {

std::atomic<int> log_descriptor{2};
std::atomic<int> console_descriptor{1};

constexpr std::size_t log_file_bytes = std::size_t{10} << 20;
constexpr std::size_t log_files_kept = 3;

spdlog::level::level_enum to_spdlog(log_level l) {
  switch (l) {
    case log_level::error:
      return spdlog::level::err;
    case log_level::warning:
      return spdlog::level::warn;
    case log_level::info:
      return spdlog::level::info;
    default:
      return spdlog::level::debug;
  }
}

/// Lines to a file descriptor, each in one write. Called under process_log's
/// lock, as every sink is.
class descriptor_sink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t out;
    formatter_->format(msg, out);
    write_fully(log_descriptor.load(), out.data(), out.size());
  }
  void flush_() override {}
};

/// The process's logger and its destinations, under one lock: a line is
/// written whole before the next, and the file can be changed between lines.
/// Lines are formatted by each sink with the pattern, which names the node once
/// it is known.
class process_log {
 public:
  static process_log& get() {
    static process_log* l = new process_log; // used until the very end of the process
    return *l;
  }

  log_level most_detailed() const {
    return static_cast<log_level>(most_detailed_.load(std::memory_order_relaxed));
  }

  void set_stderr_level(log_level l) {
    std::lock_guard<std::mutex> guard{mu_};
    stderr_level_ = l;
    stderr_->set_level(to_spdlog(l));
    update_locked();
  }

  void set_node(const std::string& id) {
    std::lock_guard<std::mutex> guard{mu_};
    node_ = id;
    pattern_locked();
  }

  void set_file(const std::filesystem::path& file) {
    std::lock_guard<std::mutex> guard{mu_};
    if (file_sink_) {
      file_sink_->flush();
      logger_.sinks().pop_back();
      file_sink_.reset();
      file_.clear();
    }
    if (!file.empty()) {
      try {
        std::filesystem::create_directories(file.parent_path());
        file_sink_ = std::make_shared<spdlog::sinks::rotating_file_sink_st>(file.string(), log_file_bytes,
                                                                            log_files_kept);
        logger_.sinks().push_back(file_sink_);
        file_ = file;
      } catch (const std::exception& e) {
        std::string line = "actors: cannot write the log file " + file.string() + " (" + e.what()
                           + "); logging to stderr only\n";
        write_fully(log_descriptor.load(), line.data(), line.size());
      }
    }
    pattern_locked();
    update_locked();
  }

  std::filesystem::path file() {
    std::lock_guard<std::mutex> guard{mu_};
    return file_;
  }

  void write(log_level level, const char* component, const std::string& message) {
    std::lock_guard<std::mutex> guard{mu_};
    // The sinks check their own levels; the logger passes everything on.
    logger_.log(to_spdlog(level), "[{}] {}", component, message);
  }

 private:
  process_log() : stderr_(std::make_shared<descriptor_sink>()), logger_("actors", stderr_) {
    stderr_level_ = log_level::warning;
    if (const char* s = std::getenv("ACTORS_LOG_LEVEL")) {
      try {
        stderr_level_ = parse_log_level(s, "ACTORS_LOG_LEVEL");
      } catch (const std::exception&) {
        // Reported by check_log_level_environment() at the program's start.
      }
    }
    stderr_->set_level(to_spdlog(stderr_level_));
    logger_.set_level(spdlog::level::trace);
    // Every line reaches the file at once: a process killed next keeps it.
    logger_.flush_on(spdlog::level::trace);
    pattern_locked();
    update_locked();
  }

  void pattern_locked() {
    // ISO 8601 in UTC with milliseconds, the level, the node, the pid.
    auto pattern = "%Y-%m-%dT%H:%M:%S.%eZ %l node=" + node_ + " pid=%P %v";
    logger_.set_formatter(std::make_unique<spdlog::pattern_formatter>(pattern, spdlog::pattern_time_type::utc));
  }

  void update_locked() {
    auto file_level = std::max(stderr_level_, log_level::info);
    if (file_sink_)
      file_sink_->set_level(to_spdlog(file_level));
    auto most = file_sink_ ? file_level : stderr_level_;
    most_detailed_.store(static_cast<int>(most), std::memory_order_relaxed);
  }

  std::mutex mu_;
  std::shared_ptr<descriptor_sink> stderr_;
  std::shared_ptr<spdlog::sinks::rotating_file_sink_st> file_sink_;
  spdlog::logger logger_;
  log_level stderr_level_;
  std::atomic<int> most_detailed_{static_cast<int>(log_level::warning)};
  std::string node_ = "-";
  std::filesystem::path file_;
};

} // namespace

log_level parse_log_level(const std::string& text, const std::string& what) {
  if (text == "error")
    return log_level::error;
  if (text == "warning")
    return log_level::warning;
  if (text == "info")
    return log_level::info;
  if (text == "debug")
    return log_level::debug;
  throw error(errc::invalid_argument,
              "bad value '" + text + "' for " + what + ": expected error, warning, info or debug");
}

void check_log_level_environment() {
  if (const char* s = std::getenv("ACTORS_LOG_LEVEL"))
    parse_log_level(s, "environment variable ACTORS_LOG_LEVEL");
}

log_level current_log_level() {
  return process_log::get().most_detailed();
}

void set_log_level(log_level level) {
  process_log::get().set_stderr_level(level);
}

void set_log_node(const std::string& node_id) {
  process_log::get().set_node(node_id);
}

void set_log_file(const std::filesystem::path& file) {
  process_log::get().set_file(file);
}

std::filesystem::path log_file() {
  return process_log::get().file();
}

void write_fully(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    auto n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void set_log_descriptor(int fd) {
  log_descriptor.store(fd);
}

void set_console_descriptor(int fd) {
  console_descriptor.store(fd);
}

void print_console(const std::string& text) {
  std::fflush(stdout);
  write_fully(console_descriptor.load(), text.data(), text.size());
}

void write_log(log_level level, const char* component, const std::string& message) {
  process_log::get().write(level, component, message);
}

} // namespace actors::runtime
