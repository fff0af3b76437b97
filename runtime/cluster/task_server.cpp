#include "runtime/cluster/task_server.hpp"

#include "runtime/scheduler/local_tasks.hpp"

#include "actors/errors.hpp"

namespace actors::runtime {

namespace {

// How long work of a job waits for the job's libraries to load on this node.
constexpr auto job_libraries_wait = std::chrono::seconds(60);

} // namespace

std::string signature_mismatch(const char* kind, const std::string& name, const node_id& here, const char* ours,
                               const std::string& theirs) {
  return std::string(kind) + " '" + name + "' on node " + here.to_string() + " is a " + detail::demangle(ours)
         + ", but the caller's is a " + detail::demangle(theirs.c_str()) + ": two are registered under one name; rename one";
}

void task_server::serve(wire::task_request req, const return_address& from) {
  if (!req.args_held) {
    run(std::move(req), from);
    return;
  }
  auto held = req.held_args;
  auto shared = std::make_shared<wire::task_request>(std::move(req));
  objects_.fetch_bytes(held, [this, shared, from](bool ok, std::string bytes, detail::failure why) {
    if (!ok) {
      objects_.reply_failure(shared->key, from,
                             detail::failure{why.code,
                                             "the arguments of task '" + shared->function
                                               + "' could not be fetched from its owner: " + why.message,
                                             {}, {}});
      return;
    }
    shared->args = std::move(bytes);
    shared->args_held = false;
    run(std::move(*shared), from);
  });
}

void task_server::run(wire::task_request req, const return_address& from) {
  const auto* fn = detail::function_named(req.function);
  if (!env_.ready_for(req.owner, fn != nullptr)) {
    // The files of the owner's job are loading here: the task waits for them on
    // the environment's thread, not on the endpoint's.
    auto waiting = std::make_shared<wire::task_request>(std::move(req));
    env_.run_waiting([this, waiting, from] { run_ready(std::move(*waiting), from, nullptr); });
    return;
  }
  run_ready(std::move(req), from, fn);
}

void task_server::run_ready(wire::task_request req, const return_address& from, const detail::function_entry* fn) {
  if (!fn)
    fn = detail::function_named(req.function);
  if (!fn && env_.prepare_for(req.owner, job_libraries_wait))
    fn = detail::function_named(req.function);
  if (!fn) {
    objects_.reply_failure(req.key, from,
                           detail::failure{errc::task_failed,
                                           "function '" + req.function + "' is not registered on node "
                                             + local_.id.to_string()
                                             + ": every node must run a program or load a library whose "
                                               "ACTORS_REMOTE lists it",
                                           req.function, local_.id.to_string()});
    return;
  }
  // Objects sent along: stand them in before the arguments that name them are
  // decoded, so that no fetch is needed.
  std::vector<detail::object_cell*> adopted;
  for (auto& obj : req.inlined)
    adopted.push_back(objects_.adopt_inline(std::move(obj)));
  auto release_adopted = [&] {
    for (auto* c : adopted)
      detail::release(c);
  };
  if (req.signature != fn->signature) {
    release_adopted();
    objects_.reply_failure(req.key, from,
                           detail::failure{errc::task_failed,
                                           signature_mismatch("function", req.function, local_.id, fn->signature,
                                                              req.signature),
                                           req.function, local_.id.to_string()});
    return;
  }
  for (const auto& obj : req.located)
    adopted.push_back(objects_.adopt_located(obj));
  detail::args_ptr args;
  try {
    args = fn->decode_args(req.args);
    release_adopted();
  } catch (const std::exception& e) {
    release_adopted();
    objects_.reply_failure(req.key, from,
                           detail::failure{errc::serialization_failed,
                                           "the arguments of task '" + req.function + "' cannot be decoded on node "
                                             + local_.id.to_string() + ": " + e.what(),
                                           {}, {}});
    return;
  }
  std::vector<detail::withheld_argument> withheld;
  args->withheld(withheld);
  if (withheld.empty())
    start(*fn, std::move(req), std::move(args), from);
  else
    fetch_withheld(*fn, std::move(req), std::move(args), std::move(withheld), from);
}

void task_server::fetch_withheld(const detail::function_entry& fn, wire::task_request req, detail::args_ptr args,
                                 std::vector<detail::withheld_argument> withheld, const return_address& from) {
  struct fetching {
    wire::task_request req;
    detail::args_ptr args;
    std::vector<detail::withheld_argument> withheld;
    std::mutex mu;
    std::size_t left = 0;
    bool failed = false;
  };
  auto f = std::make_shared<fetching>();
  f->left = withheld.size();
  f->req = std::move(req);
  f->args = std::move(args);
  f->withheld = std::move(withheld);
  const node_id owner = f->req.owner;
  const std::size_t count = f->withheld.size();
  for (std::size_t i = 0; i < count; ++i) {
    auto& arg = f->withheld[i];
    wire::located_object where{arg.id, owner, arg.id, arg.ops->name, arg.size};
    objects_.fetch_argument(where, arg, [this, &fn, f, from](bool ok, detail::failure why) {
      bool report = false;
      bool last = false;
      {
        std::lock_guard<std::mutex> guard{f->mu};
        report = !ok && !f->failed;
        f->failed = f->failed || !ok;
        last = --f->left == 0;
      }
      if (report)
        objects_.reply_failure(f->req.key, from,
                               detail::failure{why.code,
                                               "an argument of task '" + f->req.function
                                                 + "' could not be fetched from its owner: " + why.message,
                                               {}, {}});
      if (last && !f->failed)
        start(fn, std::move(f->req), std::move(f->args), from);
    });
  }
}

void task_server::start(const detail::function_entry& fn, wire::task_request req, detail::args_ptr args,
                        const return_address& from) {
  auto* result = local_.store.create_pending();
  detail::retain(result); // one for the task, one for the reply
  // Listed until it settles (under the reply's count), for the owner's cancel.
  const auto listed = std::make_pair(req.owner.value, req.key);
  {
    std::lock_guard<std::mutex> guard{unsettled_->mu};
    unsettled_->results[listed] = result;
  }
  // A task bound to nothing here may go back to its owner while it waits, when
  // other nodes have room (spillback.hpp).
  // One allocation: the hook captures only the flag the reply reads.
  std::shared_ptr<std::atomic<bool>> given_back;
  std::function<void()> give_back;
  if (!req.options.placement.affinity.value && req.options.placement.group.empty()) {
    given_back = std::make_shared<std::atomic<bool>>(false);
    give_back = [flag = given_back] { flag->store(true); };
  }
  // A generator's items go to its owner as they come.
  std::shared_ptr<item_sink> items;
  if (fn.yields)
    items = streams_.sink_for(req.options.stream, req.options.max_buffered, from);
  submit_local_task(local_.store, local_.sched, local_.tasks, local_.id, fn, std::move(args),
                    std::move(req.options), result, env_.working_dir_for(req.owner, job_libraries_wait),
                    std::move(give_back), std::move(items));
  result->on_settled([this, table = std::weak_ptr<unsettled_table>(unsettled_), listed, result, from,
                      owner = req.owner, given_back = std::move(given_back)] {
    if (auto t = table.lock()) {
      std::lock_guard<std::mutex> guard{t->mu};
      auto i = t->results.find(listed);
      if (i != t->results.end() && i->second == result)
        t->results.erase(i);
    }
    objects_.reply_settled(result, listed.second, from, owner, given_back);
  });
}

detail::object_cell* task_server::task_result(const node_id& owner, std::uint64_t key) {
  std::lock_guard<std::mutex> guard{unsettled_->mu};
  auto i = unsettled_->results.find({owner.value, key});
  if (i == unsettled_->results.end())
    return nullptr;
  detail::retain(i->second);
  return i->second;
}

} // namespace actors::runtime
