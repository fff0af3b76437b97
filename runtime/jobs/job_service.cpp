#include "runtime/jobs/job_service.hpp"

#include "runtime/common/log.hpp"
#include "runtime/jobs/job_manager.hpp"
#include "runtime/wire/atoms.hpp"
#include "runtime/wire/protocol.hpp"

#include "actors/errors.hpp"

#include <caf/all.hpp>

#include <tuple>

namespace actors::runtime {

std::string serve_job_operation(job_manager& jobs, const std::string& op, const std::string& payload) {
  using namespace wire;
  if (op == "missing") {
    auto q = unpack<job_query>(payload, "job file query");
    job_query missing;
    for (const auto& h : q.hashes)
      if (!jobs.files().has(h))
        missing.hashes.push_back(h);
    return pack(missing);
  }
  if (op == "upload") {
    auto chunk = unpack<file_chunk>(payload, "job file chunk");
    auto why = jobs.files().write(chunk.hash, chunk.offset, chunk.bytes, chunk.last);
    if (!why.empty())
      throw error(errc::invalid_argument, why);
    return {};
  }
  if (op == "download") {
    auto q = unpack<job_query>(payload, "job file query");
    file_chunk chunk;
    chunk.hash = q.hash;
    chunk.offset = q.offset;
    chunk.bytes = jobs.files().read(q.hash, q.offset, job_chunk_bytes, chunk.last);
    return pack(chunk);
  }
  if (op == "submit")
    return pack(jobs.submit(unpack<job_spec>(payload, "job")));
  if (op == "list")
    return pack(job_list{jobs.list()});
  auto q = unpack<job_query>(payload, "job query");
  if (op == "status")
    return pack(jobs.status(q.id));
  if (op == "logs")
    return pack(jobs.logs(q.id, q.offset));
  if (op == "stop")
    return pack(jobs.stop(q.id));
  if (op == "env")
    return pack(jobs.env(q.id));
  throw error(errc::invalid_argument, "unknown job operation '" + op.substr(0, 40)
                                        + "': is `actors` of the same version as the head?");
}

namespace {

// Not supervised: it ends with the job_service that spawned it (an exit message).
caf::behavior serve_jobs(caf::event_based_actor*, job_manager* jobs, std::string token) {
  return {
    [=](msg::job_atom, const std::string& op, const std::string& given, const std::string& payload)
      -> std::tuple<bool, std::string> {
      if (given != token) {
        log(log_level::warning, "jobs", "refused a job request (", op.substr(0, 20), ") with a wrong cluster token");
        return {false, "wrong cluster token: pass the head's token with --token or ACTORS_TOKEN"};
      }
      try {
        return {true, serve_job_operation(*jobs, op, payload)};
      } catch (const std::exception& e) {
        return {false, e.what()};
      }
    },
  };
}

} // namespace

struct job_service::impl {
  job_manager jobs;
  caf::actor actor;

  explicit impl(const job_manager_settings& settings) : jobs(settings) {}
};

job_service::job_service(caf::actor_system& sys, const job_manager_settings& settings)
  : impl_(std::make_unique<impl>(settings)) {
  impl_->actor = sys.spawn<caf::detached>(serve_jobs, &impl_->jobs, settings.token);
}

job_service::~job_service() {
  caf::scoped_actor self{impl_->actor.home_system()};
  self->send_exit(impl_->actor, caf::exit_reason::user_shutdown);
  self->wait_for(impl_->actor);
}

caf::actor job_service::handle() const {
  return impl_->actor;
}

} // namespace actors::runtime
