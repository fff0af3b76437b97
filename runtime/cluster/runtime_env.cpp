#include "runtime/cluster/runtime_env.hpp"

#include "runtime/common/log.hpp"
#include "runtime/jobs/job_manager.hpp"
#include "runtime/wire/jobs.hpp"
#include "runtime/wire/protocol.hpp"

#include "actors/errors.hpp"

#include <algorithm>
#include <dlfcn.h>
#include <thread>

namespace actors::runtime {

namespace {

constexpr auto job_request_timeout = std::chrono::seconds(60);

} // namespace

runtime_env::runtime_env(node_id self, membership& members, job_service_client& head, std::filesystem::path cache)
  : self_(self), members_(members), head_(head), cache_(std::move(cache)), files_(cache_ / "blobs") {}

runtime_env::~runtime_env() {
  stop();
}

void runtime_env::stop() {
  {
    std::lock_guard<std::mutex> guard{mu_};
    stopped_ = true;
  }
  loaded_.notify_all();
  loaders_.wait_all();
  waiting_.stop();
}

bool runtime_env::ready_for(const node_id& owner, bool has_function) const {
  if (has_function && !any_jobs_.load(std::memory_order_acquire))
    return true;
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (stopped_)
      return true;
    if (auto job = jobs_of_.find(owner); job != jobs_of_.end())
      return done_.count(job->second) > 0;
  }
  if (has_function)
    return true;
  // Not known here as a job's driver: only a listed owner without a job has
  // nothing to wait for.
  auto rec = members_.record(owner);
  return rec && rec->job_id.empty();
}

void runtime_env::run_waiting(std::function<void()> work) {
  waiting_.post(std::move(work));
}

void runtime_env::view_changed() {
  for (const auto& rec : members_.records())
    if (rec.alive && rec.driver && !rec.job_id.empty() && rec.id != self_) {
      {
        std::lock_guard<std::mutex> guard{mu_};
        jobs_of_.emplace(rec.id, rec.job_id);
        any_jobs_.store(true, std::memory_order_release);
      }
      start_loading(rec.job_id);
    }
}

std::shared_ptr<const std::string> runtime_env::working_dir_for(const node_id& owner,
                                                                 std::chrono::milliseconds limit) {
  if (!any_jobs_.load(std::memory_order_acquire))
    return nullptr;
  std::unique_lock<std::mutex> lock{mu_};
  auto job = jobs_of_.find(owner);
  if (job == jobs_of_.end())
    return nullptr;
  const auto id = job->second;
  loaded_.wait_for(lock, limit, [&] { return stopped_ || done_.count(id) > 0; });
  auto dir = working_dirs_.find(id);
  return dir == working_dirs_.end() ? nullptr : dir->second;
}

void runtime_env::start_loading(const std::string& job) {
  std::lock_guard<std::mutex> guard{mu_};
  if (stopped_ || !started_.insert(job).second)
    return;
  loaders_.start([this, job] {
    try {
      load(job);
    } catch (const std::exception& e) {
      log(log_level::warning, "jobs", "could not load the libraries of job ", job, ": ", e.what(),
          "; its work fails here with the function not registered");
    }
    {
      std::lock_guard<std::mutex> guard{mu_};
      done_.insert(job);
    }
    loaded_.notify_all();
  });
}

bool runtime_env::prepare_for(const node_id& owner, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  // The owner's record may reach this node a moment after its first work does;
  // an owner no node table lists after 2 s is not waited for longer.
  auto listed_by = std::min(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(2));
  auto stopping = [&] {
    std::lock_guard<std::mutex> guard{mu_};
    return stopped_;
  };
  std::optional<wire::node_record> rec;
  while (!(rec = members_.record(owner)) && std::chrono::steady_clock::now() < listed_by && !stopping())
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!rec || rec->job_id.empty())
    return false;
  start_loading(rec->job_id);
  std::unique_lock<std::mutex> lock{mu_};
  return loaded_.wait_until(lock, deadline, [&] { return stopped_ || done_.count(rec->job_id) > 0; }) && !stopped_;
}

std::filesystem::path runtime_env::fetch(const wire::job_file& file) {
  if (!is_sha256_hex(file.hash))
    throw error(errc::invalid_argument, "the head named a file with a malformed hash");
  if (file.name.empty() || file.name.find('/') != std::string::npos || file.name == "." || file.name == "..")
    throw error(errc::invalid_argument, "the head named a file '" + file.name + "' that is not a plain file name");
  std::uint64_t offset = 0;
  while (!files_.has(file.hash)) {
    std::string why;
    auto answer = head_.ask_jobs("download", wire::pack(wire::job_query{{}, file.hash, offset, {}}),
                                 job_request_timeout, why);
    if (!answer)
      throw error(errc::invalid_argument, "cannot fetch " + file.name + ": " + why);
    auto chunk = wire::unpack<wire::file_chunk>(*answer, "job file chunk");
    auto problem = files_.write(file.hash, offset, chunk.bytes, chunk.last);
    if (!problem.empty())
      throw error(errc::invalid_argument, "cannot keep " + file.name + ": " + problem);
    offset += chunk.bytes.size();
    if (chunk.bytes.empty() && !chunk.last)
      throw error(errc::invalid_argument, "the head sent an empty chunk of " + file.name);
  }
  // Under its own name, in a directory of its hash: a library's name is how
  // the libraries that need it find it.
  auto dir = cache_ / file.hash;
  auto named = dir / file.name;
  std::error_code ec;
  if (!std::filesystem::exists(named, ec)) {
    std::filesystem::create_directories(dir, ec);
    std::filesystem::copy_file(files_.path(file.hash), named, ec);
    if (ec)
      throw error(errc::invalid_argument, "cannot place " + file.name + " in " + dir.string() + ": " + ec.message());
  }
  return named;
}

void runtime_env::load(const std::string& job) {
  std::string why;
  auto answer = head_.ask_jobs("env", wire::pack(wire::job_query{job, {}, 0, {}}), job_request_timeout, why);
  if (!answer)
    throw error(errc::invalid_argument, "cannot ask the head for the job's files: " + why);
  auto env = wire::unpack<wire::job_env>(*answer, "job environment");
  for (const auto& lib : env.libraries) {
    {
      std::lock_guard<std::mutex> guard{mu_};
      if (stopped_)
        return;
    }
    auto path = fetch(lib);
    // Loaded for good: the functions it registers may run here at any time.
    if (!dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL))
      throw error(errc::invalid_argument, "cannot load " + lib.name + ": " + dlerror());
  }
  if (!env.working_dir.hash.empty()) {
    auto archive = fetch(env.working_dir);
    auto dir = cache_ / ("work-" + env.working_dir.hash);
    std::error_code ec;
    if (!std::filesystem::exists(dir, ec)) {
      // Unpacked beside it, then renamed: a directory there is whole.
      auto partial = cache_ / ("work-" + env.working_dir.hash + ".part");
      std::filesystem::remove_all(partial, ec);
      unpack_working_dir(archive, partial);
      std::filesystem::rename(partial, dir, ec);
      if (ec)
        throw error(errc::invalid_argument, "cannot keep the working directory at " + dir.string() + ": "
                                              + ec.message());
    }
    std::lock_guard<std::mutex> guard{mu_};
    working_dirs_[job] = std::make_shared<const std::string>(dir.string());
  }
  log(log_level::info, "jobs", "loaded the ", env.libraries.size(), " libraries of job ", job,
      env.working_dir.hash.empty() ? "" : " and its working directory");
}

} // namespace actors::runtime
