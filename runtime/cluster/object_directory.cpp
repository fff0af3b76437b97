#include "runtime/cluster/object_directory.hpp"

#include "runtime/actor_host/actor_host.hpp"
#include "runtime/common/log.hpp"

#include "actors/errors.hpp"

#include <algorithm>

namespace actors::runtime {

void settle_answered(object_store& store, detail::object_cell* c, wire::result r,
                     std::shared_ptr<detail::lineage> made_by) {
  if (!r.ok)
    store.settle(c, std::move(r.why));
  else if (r.location.value)
    store.settle_remote(c, {r.location, r.remote_id, std::move(r.type_name), r.size, std::move(made_by)});
  else
    store.settle_encoded(c, std::move(r.type_name), std::move(r.bytes));
}


std::pair<std::string, std::string> encoded_value(object_store& store, detail::object_cell* c) {
  const detail::type_ops* ops = nullptr;
  {
    std::lock_guard<std::mutex> guard{c->mu};
    if (!c->value.value && c->encoded)
      return {c->encoded->type_name, std::string(c->encoded->view())};
    ops = c->value.value ? c->value.ops : c->spilled ? c->spilled->ops : nullptr;
    // A copy of another node's value that was dropped to make room.
    if (!ops && c->remote)
      throw object_lost_error("object " + c->id.to_string() + " is not in memory here: node "
                              + c->remote->node.to_string() + " holds it");
  }
  auto value = store.value(c, ops);
  if (!ops->encode)
    detail::throw_not_serializable(ops->name);
  return {ops->name, ops->encode(value.get())};
}

namespace {

/// The type name of the value `c` holds in memory, as a value or as an
/// encoding; empty if it holds neither (spilled, or only a pointer to another
/// node). Call with `c.mu` held.
std::string type_in_memory(const detail::object_cell& c) {
  return c.value.value ? c.value.ops->name : c.encoded ? c.encoded->type_name : std::string();
}

/// How the data channel sends a value that lies in memory as a vector of
/// numbers: from that memory, behind its encoding's short head (kept alive by
/// the answer); nullopt for a value of any other type.
std::optional<lookup_result> sent_in_place(std::string& type, detail::value_box& value) {
  auto in_place = value.value ? value.ops->in_place(value.value.get()) : std::nullopt;
  if (!in_place)
    return std::nullopt;
  return lookup_result::found_in_place(std::move(type), std::move(in_place->head),
                                       std::string_view(in_place->body, in_place->body_size), std::move(value.value));
}

} // namespace

// -- telling other nodes what this node freed -------------------------------------------

void remote_releases::copy_released(const object_cell::remote_copy& where) noexcept {
  try {
    links_.send(where.node, message_kind::release, wire::pack(wire::release_request{where.id}));
  } catch (const std::exception& e) {
    log(log_level::warning, "cluster", "could not tell node ", where.node.to_string(), " to free object ",
        where.id.to_string(), ": ", e.what());
  }
}

void remote_releases::borrow_released(const object_id& id) noexcept {
  try {
    links_.send(node_id{id.owner}, message_kind::borrow, wire::pack(wire::borrow_notice{id, self_, false}));
  } catch (const std::exception& e) {
    log(log_level::warning, "cluster", "could not tell the owner of object ", id.to_string(),
        " that this node dropped it: ", e.what());
  }
}

// -- fetching values from the nodes that hold them ----------------------------------------

/// One fetch of an object's bytes from the node holding it, in chunks. Chunks
/// arrive one at a time (on the endpoint's thread); the loss of the node may be
/// told from another thread, so `mu` orders the end.
struct object_directory::fetch_state {
  /// The object's id on the node asked, and that node; a redirect changes both.
  object_id id;
  node_id holder;
  std::string type_name;
  std::uint64_t size = 0;
  std::string buffer;
  std::uint64_t received = 0;
  std::uint64_t next_offset = 0;
  std::mutex mu;
  bool finished = false;
  /// The fetcher and the holder share a host: ask for a shared memory segment.
  bool same_host = false;
  /// The holder's data channel could not serve this fetch: the node endpoint's
  /// chunks bring the value whatever its size.
  bool chunks_only = false;
  /// The fetch is for a cell: a value whose type allows it may be received
  /// straight into its memory (fetched_value::value) rather than as bytes.
  bool into_value = true;
  /// Called once, on success or failure.
  std::function<void(bool ok, fetched_value value, detail::failure why)> done;

  /// Ends the fetch with the value (`type`, `bytes`) or with `why`; only the
  /// first end counts.
  void finish(bool ok, detail::failure why, std::string type = {}, std::string bytes = {}) {
    finish_with(ok, std::move(why), fetched_value{std::move(type), std::move(bytes), nullptr, {}});
  }

  void finish_with(bool ok, detail::failure why, fetched_value value) {
    {
      std::lock_guard<std::mutex> guard{mu};
      if (finished)
        return;
      finished = true;
    }
    done(ok, std::move(value), std::move(why));
  }

  bool over() {
    std::lock_guard<std::mutex> guard{mu};
    return finished;
  }
};

/// A value received over the data channel straight into its memory: the
/// encoding's head into a small buffer, the rest into the value (a vector of
/// numbers), which grows a step ahead of the bytes read.
class value_destination final : public payload_destination {
 public:
  /// A destination for a payload of `size` bytes of the type named `type_name`,
  /// if this process knows that type and its values can be received in place;
  /// else null (the payload goes into a string, decoded later).
  static std::unique_ptr<payload_destination> for_type(const std::string& type_name, std::uint64_t size) {
    const auto* ops = detail::type_ops_named(type_name);
    if (!ops || !ops->receive_in_place)
      return nullptr;
    auto receiving = ops->receive_in_place(static_cast<std::size_t>(size));
    if (!receiving)
      return nullptr;
    return std::unique_ptr<payload_destination>(new value_destination(ops, std::move(*receiving)));
  }

  std::pair<char*, std::size_t> writable(std::uint64_t offset) override {
    if (offset < r_.head_size)
      return {head_.data() + offset, r_.head_size - offset};
    const std::size_t body = static_cast<std::size_t>(offset) - r_.head_size;
    const std::size_t through = std::min(r_.body_size, body + step);
    char* data = r_.grow(r_.value.get(), through, r_.body_size);
    return {data + body, through - body};
  }

  /// The value, once every byte arrived; empty if its head does not say what
  /// the bytes are.
  detail::value_box take() {
    if (!r_.head_matches(r_.value.get(), head_, r_.body_size))
      return {};
    return detail::value_box{std::move(r_.value), ops_};
  }

 private:
  // How far ahead of the bytes read the value grows: zeroing a step just before
  // the socket fills it costs little, since it is still in cache.
  static constexpr std::size_t step = std::size_t{4} << 20;

  value_destination(const detail::type_ops* ops, detail::receiving_in_place r)
    : ops_(ops), r_(std::move(r)), head_(r_.head_size, '\0') {}

  const detail::type_ops* ops_;
  detail::receiving_in_place r_;
  std::string head_;
};

/// A thread waiting for a fetch into a cell whose value another node holds.
struct object_directory::fetch_wait {
  bool finished = false;
  bool ok = false;
  detail::failure why;
  /// The copy fetched, held for the readers who waited for it.
  std::shared_ptr<const void> hold;
};

/// One chunk request of a fetch.
class object_directory::fetch_op final : public operation {
 public:
  fetch_op(object_directory& d, std::shared_ptr<fetch_state> fs) : d_(d), fs_(std::move(fs)) {}

  void answered(wire::result r) override {
    d_.on_chunk(fs_, std::move(r));
  }

  void lost(const node_id& node, const std::string& why) override {
    fs_->finish(false, detail::failure{errc::object_lost,
                                       "object " + fs_->id.to_string() + " lived on node " + node.to_string()
                                         + ", which is gone (" + why + ")",
                                       {}, {}});
  }

 private:
  object_directory& d_;
  std::shared_ptr<fetch_state> fs_;
};

object_directory::object_directory(local_parts local, const cluster_settings& settings, transport& links,
                                   operations& ops, membership& members, object_rebuilder& rebuilder,
                                   held_arguments& held)
  : local_(local),
    links_(links),
    ops_(ops),
    members_(members),
    rebuilder_(rebuilder),
    arguments_(held),
    host_(settings.shared_memory ? host_id() : std::string()),
    data_host_(settings.data_advertise) {
  // A node alone in its process (no bind address) has no peers: no channel.
  if (settings.data_bind.empty())
    return;
  data_client_options client;
  client.token = settings.token;
  data_client_ = std::make_unique<data_client>(client);
  data_server_options server;
  server.bind_address = settings.data_bind;
  server.token = settings.token;
  std::string why;
  data_server_ = data_server::start(*this, server, why);
  if (!data_server_)
    throw error(errc::invalid_argument, "cannot serve the data channel: " + why);
}

std::string object_directory::data_address() const {
  return data_server_ ? data_host_ + ":" + std::to_string(data_server_->port()) : std::string();
}

object_directory::~object_directory() {
  stop();
}

detail::object_cell* object_directory::foreign(const object_id& id, bool& created) {
  auto* c = local_.store.find_or_make_foreign(id, created);
  if (created)
    links_.send(node_id{id.owner}, message_kind::borrow, wire::pack(wire::borrow_notice{id, local_.id, true}));
  return c;
}

detail::object_cell* object_directory::resolve_foreign(const object_id& id) {
  bool created = false;
  auto* c = foreign(id, created);
  if (!created)
    return c;
  detail::retain(c); // one for the caller, one for the fetch
  auto fs = std::make_shared<fetch_state>();
  fs->id = id;
  fs->holder = node_id{id.owner};
  fs->done = [this, c](bool ok, fetched_value v, detail::failure why) {
    settle_fetched(c, ok, std::move(v), std::move(why));
    detail::release(c);
  };
  start_fetch(fs);
  return c;
}

detail::object_cell* object_directory::adopt_inline(wire::inline_object obj) {
  bool created = false;
  auto* c = foreign(obj.id, created);
  local_.store.settle_encoded(c, std::move(obj.type_name), std::move(obj.bytes));
  return c;
}

detail::object_cell* object_directory::adopt_located(const wire::located_object& obj) {
  bool created = false;
  auto* c = foreign(obj.id, created);
  if (!created)
    return c;
  if (obj.holder == local_.id) {
    // Held here under another id: reads go to that cell (which this one keeps),
    // so the value is neither counted twice nor kept from spilling meanwhile.
    if (auto* held_cell = local_.store.find(obj.remote_id)) {
      if (held_cell->current() == detail::object_cell::state::ready) {
        if (!local_.store.settle_remote(c, {local_.id, obj.remote_id, obj.type_name, obj.size, nullptr, held_cell}))
          detail::release(held_cell);
        return c;
      }
      detail::release(held_cell);
    }
  }
  detail::retain(c); // for the fetch
  auto fs = std::make_shared<fetch_state>();
  fs->id = obj.remote_id;
  fs->holder = obj.holder;
  fs->done = [this, c](bool ok, fetched_value v, detail::failure why) {
    settle_fetched(c, ok, std::move(v), std::move(why));
    detail::release(c);
  };
  start_fetch(fs, obj.size);
  return c;
}

void object_directory::fetch_bytes(const wire::located_object& obj,
                                   std::function<void(bool ok, std::string bytes, detail::failure why)> done) {
  auto fs = std::make_shared<fetch_state>();
  fs->id = obj.remote_id;
  fs->holder = obj.holder;
  fs->into_value = false;
  fs->done = [done = std::move(done)](bool ok, fetched_value v, detail::failure why) {
    if (v.mapping) // held arguments never come this way; copy them if they do
      v.bytes.assign(reinterpret_cast<const char*>(v.mapping->data()), v.mapping->size());
    done(ok, std::move(v.bytes), std::move(why));
  };
  start_fetch(fs, obj.size, /*may_share=*/false);
}

void object_directory::fetch_argument(const wire::located_object& obj, detail::withheld_argument& arg,
                                      std::function<void(bool ok, detail::failure why)> done) {
  auto fs = std::make_shared<fetch_state>();
  fs->id = obj.remote_id;
  fs->holder = obj.holder;
  auto* into = &arg;
  fs->done = [into, holder = obj.holder, done = std::move(done)](bool ok, fetched_value v, detail::failure why) {
    if (!ok) {
      done(false, std::move(why));
      return;
    }
    const std::string& sent = v.value.value ? std::string(v.value.ops->name) : v.type;
    auto wrong_type = [&] {
      return detail::failure{errc::serialization_failed,
                             "node " + holder.to_string() + " sent argument " + into->id.to_string() + " as a "
                               + detail::demangle(sent.c_str()) + ", but the function takes a "
                               + detail::demangle(into->ops->name),
                             {}, {}};
    };
    if (sent != into->ops->name) {
      done(false, wrong_type());
      return;
    }
    try {
      if (v.value.value) {
        if (!into->adopt(v.value)) {
          done(false, wrong_type());
          return;
        }
      } else if (v.mapping) {
        into->decode(reinterpret_cast<const char*>(v.mapping->data()), v.mapping->size());
      } else {
        into->decode(v.bytes.data(), v.bytes.size());
      }
    } catch (const std::exception& e) {
      done(false, detail::failure{errc::serialization_failed,
                                  "argument " + into->id.to_string() + " from node " + holder.to_string()
                                    + " does not decode: " + e.what(),
                                  {}, {}});
      return;
    }
    done(true, {});
  };
  // Not through shared memory: the argument is no object of the holder's store.
  start_fetch(fs, obj.size, /*may_share=*/false);
}

bool object_directory::shares_memory_with(const wire::node_record& peer) const {
  return !host_.empty() && peer.host_id == host_ && peer.shares_memory;
}

void object_directory::start_fetch(std::shared_ptr<fetch_state> fs, std::uint64_t size, bool may_share) {
  // On one host a large value comes as a shared memory segment: the first
  // request through the node endpoint asks for it. A smaller one, or one the
  // holder cannot share, comes over the data channel.
  auto holder = members_.record(fs->holder);
  fs->same_host = may_share && holder && shares_memory_with(*holder) && fs->holder != local_.id
                  && (size == 0 || size >= shared_memory_threshold);
  if (!fs->same_host && size >= data_channel_threshold && fetch_over_data_channel(fs))
    return;
  send_chunk_request(fs, 0);
}

void object_directory::settle_fetched(detail::object_cell* c, bool ok, fetched_value v, detail::failure why) {
  if (!ok)
    local_.store.settle(c, std::move(why));
  else if (v.mapping)
    local_.store.settle_shared(c, std::move(v.type), std::move(v.mapping));
  else if (v.value.value)
    local_.store.settle(c, std::move(v.value));
  else
    local_.store.settle_encoded(c, std::move(v.type), std::move(v.bytes));
}

std::optional<std::pair<std::string, std::uint16_t>> object_directory::data_channel_of(const node_id& holder) const {
  auto rec = members_.record(holder);
  if (!data_client_ || !rec || rec->data_address.empty())
    return std::nullopt;
  auto colon = rec->data_address.rfind(':');
  if (colon == std::string::npos)
    return std::nullopt;
  return std::pair{rec->data_address.substr(0, colon),
                   static_cast<std::uint16_t>(std::atoi(rec->data_address.c_str() + colon + 1))};
}

bool object_directory::fetch_over_data_channel(const std::shared_ptr<fetch_state>& fs) {
  auto channel = data_channel_of(fs->holder);
  if (!channel)
    return false;
  auto& [host, port] = *channel;
  auto holder = fs->holder;
  {
    std::lock_guard<std::mutex> guard{mu_};
    channel_fetches_.emplace(holder, fs);
  }
  choose_destination into_value;
  if (fs->into_value)
    into_value = [](const std::string& type_name, std::uint64_t size) {
      return value_destination::for_type(type_name, size);
    };
  data_client_->fetch(host, port, fs->id, [this, fs, holder](fetch_result r) {
    {
      std::lock_guard<std::mutex> guard{mu_};
      auto [first, last] = channel_fetches_.equal_range(holder);
      for (auto i = first; i != last; ++i)
        if (i->second.lock() == fs) {
          channel_fetches_.erase(i);
          break;
        }
    }
    if (r.ok() && r.destination) {
      auto value = static_cast<value_destination&>(*r.destination).take();
      if (!value.value) {
        fs->finish(false, detail::failure{errc::object_lost,
                                          "fetching object " + fs->id.to_string() + " from node " + holder.to_string()
                                            + " over the data channel failed: the head of its "
                                            + detail::demangle(r.type_name.c_str())
                                            + " does not match its size (corrupt stream)",
                                          {}, {}});
        return;
      }
      fs->finish_with(true, {}, fetched_value{std::move(r.type_name), {}, nullptr, std::move(value)});
      return;
    }
    if (r.ok()) {
      fs->finish(true, {}, std::move(r.type_name), std::move(r.bytes));
      return;
    }
    // The holder has no channel for this (it only knows who holds the value, or
    // does not serve one): the node endpoint's chunks can still do it.
    if (r.error == fetch_errc::connect_failed || r.error == fetch_errc::refused || r.error == fetch_errc::peer_error) {
      if (!fs->over()) {
        fs->chunks_only = true;
        send_chunk_request(fs, 0);
      }
      return;
    }
    fs->finish(false, detail::failure{errc::object_lost, r.what, {}, {}});
  }, std::move(into_value));
  return true;
}

void object_directory::send_chunk_request(const std::shared_ptr<fetch_state>& fs, std::uint64_t offset) {
  wire::fetch_request req;
  req.id = fs->id;
  req.offset = offset;
  req.same_host = fs->same_host && offset == 0;
  // A value whose size is not known yet: if it is large (and not shared, on
  // this host), the holder says so instead of sending its first chunk, and it
  // comes over the data channel.
  req.by_data_channel = offset == 0 && !fs->chunks_only && data_channel_of(fs->holder).has_value();
  req.key = ops_.next_key();
  auto holder = fs->holder;
  ops_.add(req.key, holder, std::make_unique<fetch_op>(*this, fs));
  if (!links_.send(holder, message_kind::fetch, wire::pack(req)))
    members_.node_down(holder, "it cannot be reached (dead, or this node is stopping)");
}

void object_directory::on_chunk(const std::shared_ptr<fetch_state>& fs, wire::result r) {
  if (fs->over())
    return;
  if (!r.ok) {
    fs->finish(false, std::move(r.why));
    return;
  }
  if (!r.shm_name.empty()) {
    // The holder shares this host's memory: map its segment and read from it.
    auto mapping = open_shm_segment(r.shm_name);
    if (mapping) {
      fs->finish_with(true, {},
                      fetched_value{std::move(r.type_name), {},
                                    std::make_shared<const shm_mapping>(std::move(*mapping)), {}});
      return;
    }
    log(log_level::warning, "cluster", "cannot map object ", fs->id.to_string(), " from node ", fs->holder.to_string(),
        " (", mapping.error().message, "): fetching it through the network instead");
    fs->same_host = false;
    start_fetch(fs, r.size);
    return;
  }
  if (r.location == fs->holder && r.remote_id == fs->id && r.bytes.empty() && r.size > 0) {
    // The holder says how large the value is, for its data channel.
    fs->same_host = false;
    if (!fetch_over_data_channel(fs)) {
      fs->chunks_only = true;
      send_chunk_request(fs, 0);
    }
    return;
  }
  if (r.location.value && r.bytes.empty() && r.size > 0) {
    // The node asked does not hold the value: it says who does.
    fs->holder = r.location;
    fs->id = r.remote_id;
    start_fetch(fs, r.size);
    return;
  }
  if (r.offset == 0) {
    fs->type_name = std::move(r.type_name);
    fs->size = r.size;
    if (r.bytes.size() >= r.size) {
      fs->finish(true, {}, std::move(fs->type_name), std::move(r.bytes));
      return;
    }
    fs->buffer.resize(r.size);
    fs->next_offset = r.bytes.size();
    for (std::size_t i = 0; i < wire::chunk_window && fs->next_offset < fs->size; ++i) {
      send_chunk_request(fs, fs->next_offset);
      fs->next_offset += wire::chunk_size;
    }
  }
  if (r.offset + r.bytes.size() > fs->buffer.size()) {
    fs->finish(false,
               {errc::object_lost, "a chunk of object " + fs->id.to_string() + " does not fit its size", {}, {}});
    return;
  }
  std::copy(r.bytes.begin(), r.bytes.end(), fs->buffer.begin() + static_cast<std::ptrdiff_t>(r.offset));
  fs->received += r.bytes.size();
  if (fs->received >= fs->size) {
    fs->finish(true, {}, std::move(fs->type_name), std::move(fs->buffer));
    return;
  }
  if (r.offset != 0 && fs->next_offset < fs->size) {
    send_chunk_request(fs, fs->next_offset);
    fs->next_offset += wire::chunk_size;
  }
}

std::shared_ptr<const void> object_directory::fetch_into(detail::object_cell* c) {
  std::shared_ptr<fetch_wait> w;
  bool start = false;
  detail::object_cell::remote_copy where;
  {
    std::lock_guard<std::mutex> guard{c->mu};
    if (!c->remote)
      return nullptr;
    where = *c->remote;
  }
  {
    std::lock_guard<std::mutex> guard{mu_};
    auto& slot = located_fetches_[c];
    if (!slot) {
      slot = std::make_shared<fetch_wait>();
      start = true;
    }
    w = slot;
  }
  if (start) {
    auto fs = std::make_shared<fetch_state>();
    fs->id = where.id;
    fs->holder = where.node;
    detail::retain(c);
    auto size = where.size;
    fs->done = [this, c, w, where](bool ok, fetched_value v, detail::failure why) {
      std::shared_ptr<const void> hold;
      if (ok && v.mapping) {
        hold = v.mapping;
        local_.store.fill_shared(c, std::move(v.mapping));
      } else if (ok && v.value.value) {
        const std::string sent = v.value.ops->name;
        hold = v.value.value;
        if (!local_.store.fill_value(c, std::move(v.value))) {
          ok = false;
          why = detail::failure{errc::object_lost,
                                "node " + where.node.to_string() + " sent object " + where.id.to_string() + " as a "
                                  + detail::demangle(sent.c_str()) + ", but it holds a "
                                  + detail::demangle(where.type_name.c_str()),
                                {}, {}};
        }
      } else if (ok) {
        hold = local_.store.fill(c, std::move(v.bytes));
      }
      {
        std::lock_guard<std::mutex> guard{mu_};
        w->finished = true;
        w->ok = ok;
        w->why = std::move(why);
        w->hold = std::move(hold);
        located_fetches_.erase(c);
      }
      fetched_.notify_all();
      detail::release(c);
    };
    start_fetch(fs, size);
  }
  {
    blocking_scope blocked;
    std::unique_lock<std::mutex> lock{mu_};
    fetched_.wait(lock, [&] { return w->finished; });
  }
  if (w->ok)
    return w->hold;
  // The holder is gone: make the value again from its lineage, then read it.
  if (rebuilder_.rebuild(c))
    return nullptr;
  throw object_lost_error("cannot fetch object " + c->id.to_string() + " from node " + where.node.to_string()
                          + ", and it cannot be made again: " + w->why.message);
}

// -- answering other nodes ----------------------------------------------------------------

void object_directory::hold_for(detail::object_cell* c, const node_id& requester) {
  local_.store.publish(c);
  detail::retain(c);
  std::lock_guard<std::mutex> guard{mu_};
  held_.emplace(c->id, held_object{c, requester});
}

wire::result object_directory::result_for(detail::object_cell* c, std::uint64_t key, const node_id& requester) {
  wire::result r;
  r.key = key;
  if (c->current() == detail::object_cell::state::failed) {
    r.why = *c->why;
    return r;
  }
  try {
    // Large values stay here, as they are; the requester fetches them (in
    // chunks, encoded then) or a task here uses them in place.
    std::size_t weight = 0;
    std::string type;
    {
      std::lock_guard<std::mutex> guard{c->mu};
      weight = c->bytes;
      type = type_in_memory(*c);
    }
    if (weight > wire::inline_limit && requester.value && !type.empty()) {
      r.ok = true;
      r.size = weight;
      r.type_name = std::move(type);
      hold_for(c, requester);
      // A large result for an owner on this host goes into shared memory now, so
      // that reading it there costs a mapping, not a copy through a socket.
      if (weight >= shared_memory_threshold)
        if (auto rec = members_.record(requester); rec && shares_memory_with(*rec))
          local_.store.share(c);
      r.location = local_.id;
      r.remote_id = c->id;
      return r;
    }
    reference_collector refs;
    detail::handle_counter handles;
    auto [encoded_type, bytes] = encoded_value(local_.store, c);
    auto named = refs.take();
    bool names_objects = !named.empty() || handles.count() > 0;
    for (auto* x : named)
      detail::release(x);
    r.ok = true;
    r.size = bytes.size();
    r.type_name = std::move(encoded_type);
    if ((bytes.size() <= wire::inline_limit && !names_objects) || !requester.value) {
      r.bytes = std::move(bytes);
      return r;
    }
    // Its weight was underestimated, or it names objects (made here, say, by a put
    // in the task) or actors that must live until the requester borrows them,
    // which it does when it decodes the value: hold it here until the requester
    // drops it.
    hold_for(c, requester);
    r.location = local_.id;
    r.remote_id = c->id;
  } catch (const std::exception& e) {
    r.ok = false;
    r.why = detail::failure{errc::serialization_failed,
                            "the value of object " + c->id.to_string() + " on node " + local_.id.to_string()
                              + " cannot be sent to node " + requester.to_string() + ": " + e.what(),
                            {}, {}};
  }
  return r;
}

void object_directory::reply_when_settled(detail::object_cell* c, std::uint64_t key, const return_address& to,
                                          const node_id& requester, std::shared_ptr<std::atomic<bool>> given_back) {
  c->on_settled([this, c, key, to, requester, given_back] { reply_settled(c, key, to, requester, given_back); });
}

void object_directory::reply_settled(detail::object_cell* c, std::uint64_t key, const return_address& to,
                                     const node_id& requester, const std::shared_ptr<std::atomic<bool>>& given_back) {
  if (given_back && given_back->load()) {
    wire::result r;
    r.key = key;
    r.given_back = true;
    links_.reply(to, message_kind::result, wire::pack(r));
  } else {
    links_.reply(to, message_kind::result, wire::pack(result_for(c, key, requester)));
  }
  detail::release(c);
}

void object_directory::reply_failure(std::uint64_t key, const return_address& to, detail::failure why) {
  wire::result r;
  r.key = key;
  r.why = std::move(why);
  links_.reply(to, message_kind::result, wire::pack(r));
}

std::string object_directory::arguments_gone(const object_id& id) const {
  return "the arguments " + id.to_string() + " are no longer held by node " + local_.id.to_string()
         + ": their task was answered or given up";
}

void object_directory::serve_fetch(const wire::fetch_request& req, const return_address& from) {
  if (held_arguments::holds_arguments(req.id)) {
    std::optional<held_arguments::held> held;
    try {
      held = arguments_.encoded(req.id);
    } catch (const std::exception& e) {
      reply_failure(req.key, from,
                    detail::failure{errc::serialization_failed,
                                    "the argument " + req.id.to_string() + " on node " + local_.id.to_string()
                                      + " cannot be sent: " + e.what(),
                                    {}, {}});
      return;
    }
    if (held)
      links_.reply(from, message_kind::result, wire::pack(chunk_of(held->type, *held->bytes, req)));
    else
      reply_failure(req.key, from, detail::failure{errc::object_lost, arguments_gone(req.id), {}, {}});
    return;
  }
  auto* c = local_.store.find(req.id);
  if (!c) {
    reply_failure(req.key, from,
                  detail::failure{errc::object_lost,
                                  "object " + req.id.to_string() + " is no longer held by node "
                                    + local_.id.to_string()
                                    + ": every reference to it was dropped before it was fetched",
                                  {}, {}});
    return;
  }
  c->on_settled([this, c, req, from] {
    // Released once answered, or when the answer is dropped at stop.
    std::shared_ptr<detail::object_cell> held(c, [](detail::object_cell* p) { detail::release(p); });
    // Putting a value into shared memory (a segment written, a spilled value read
    // back) or encoding a large one takes long: not on the node endpoint's
    // thread, which is the node's network I/O and its heartbeats.
    std::size_t weight = 0;
    {
      std::lock_guard<std::mutex> guard{c->mu};
      weight = c->bytes;
    }
    const bool bulky = weight >= wire::chunk_size || (req.same_host && weight >= shared_memory_threshold);
    if (bulky && bulk_.post([this, held, req, from] { answer_fetch(held.get(), req, from); }))
      return;
    answer_fetch(c, req, from);
  });
}

void object_directory::answer_fetch(detail::object_cell* c, const wire::fetch_request& req,
                                    const return_address& from) {
  wire::result r;
  bool shared = false;
  // A node that does not share memory never makes a segment, whatever it is asked.
  if (req.same_host && !host_.empty() && req.offset == 0 && c->current() == detail::object_cell::state::ready) {
    if (auto copy = local_.store.share(c)) {
      r.key = req.key;
      r.ok = true;
      r.type_name = std::move(copy->type_name);
      r.size = copy->size;
      r.shm_name = std::move(copy->segment);
      shared = true;
    }
  }
  links_.reply(from, message_kind::result, wire::pack(shared ? r : chunk_of(c, req)));
}

wire::result object_directory::chunk_of(const std::string& type, const std::string& bytes,
                                        const wire::fetch_request& req) {
  wire::result r;
  r.key = req.key;
  r.offset = req.offset;
  r.ok = true;
  r.type_name = type;
  r.size = bytes.size();
  auto begin = std::min<std::uint64_t>(req.offset, bytes.size());
  auto end = std::min<std::uint64_t>(begin + wire::chunk_size, bytes.size());
  r.bytes.assign(bytes.data() + begin, bytes.data() + end);
  return r;
}

wire::result object_directory::chunk_of(detail::object_cell* c, const wire::fetch_request& req) {
  wire::result r;
  r.key = req.key;
  r.offset = req.offset;
  if (c->current() == detail::object_cell::state::failed) {
    r.why = *c->why;
    return r;
  }
  {
    std::lock_guard<std::mutex> guard{c->mu};
    if (c->remote && !c->value.value && !c->encoded) {
      r.ok = true;
      r.location = c->remote->node;
      r.remote_id = c->remote->id;
      r.size = c->remote->size;
      r.type_name = c->remote->type_name;
      return r;
    }
    // A large value for a fetcher that can use this node's data channel: its
    // size, not its first chunk, so that every byte of it goes that way.
    if (req.by_data_channel && req.offset == 0 && data_server_ && c->bytes >= data_channel_threshold) {
      r.type_name = type_in_memory(*c);
      if (!r.type_name.empty()) {
        r.ok = true;
        r.location = local_.id;
        r.remote_id = c->id;
        r.size = c->bytes;
        return r;
      }
    }
  }
  std::shared_ptr<const std::string> bytes;
  try {
    {
      std::lock_guard<std::mutex> guard{mu_};
      auto i = transfers_.find(c->id);
      if (i != transfers_.end())
        bytes = i->second;
    }
    if (!bytes) {
      auto [type, encoded] = encoded_value(local_.store, c);
      r.type_name = type;
      bytes = std::make_shared<const std::string>(std::move(encoded));
      if (bytes->size() > wire::chunk_size) {
        std::lock_guard<std::mutex> guard{mu_};
        transfers_.emplace(c->id, bytes);
      }
    } else {
      std::lock_guard<std::mutex> guard{c->mu};
      r.type_name = type_in_memory(*c);
    }
  } catch (const std::exception& e) {
    r.why = detail::failure{errc::serialization_failed,
                            std::string("cannot send object ") + c->id.to_string() + ": " + e.what(), {}, {}};
    return r;
  }
  r.ok = true;
  r.size = bytes->size();
  auto begin = std::min<std::uint64_t>(req.offset, bytes->size());
  auto end = std::min<std::uint64_t>(begin + wire::chunk_size, bytes->size());
  r.bytes.assign(bytes->data() + begin, bytes->data() + end);
  if (end == bytes->size() && bytes->size() > wire::chunk_size) {
    std::lock_guard<std::mutex> guard{mu_};
    transfers_.erase(c->id);
  }
  return r;
}

void object_directory::lookup(const object_id& id, reply done) {
  if (held_arguments::holds_arguments(id)) {
    done([&] {
      auto held = arguments_.find(id);
      if (!held)
        return lookup_result::failed(arguments_gone(id));
      if (held->bytes)
        return lookup_result::found(std::move(held->type), std::move(held->bytes));
      // An argument value kept back goes out as a result does.
      auto& value = held->value;
      if (auto sent = sent_in_place(held->type, value))
        return std::move(*sent);
      try {
        return lookup_result::found(std::move(held->type), std::make_shared<const std::string>(
                                                              value.ops->encode(value.value.get())));
      } catch (const std::exception& e) {
        return lookup_result::failed("the argument " + id.to_string() + " on node " + local_.id.to_string()
                                     + " cannot be sent: " + e.what());
      }
    }());
    return;
  }
  auto* c = local_.store.find(id);
  if (!c) {
    done(lookup_result::failed("object " + id.to_string() + " is no longer held by node " + local_.id.to_string()
                               + ": every reference to it was dropped before it was fetched"));
    return;
  }
  c->on_settled([this, c, done = std::move(done)] {
    auto answer = [&]() -> lookup_result {
      if (c->current() == detail::object_cell::state::failed)
        return lookup_result::failed(c->why->message);
      {
        std::lock_guard<std::mutex> guard{c->mu};
        if (c->remote && !c->value.value && !c->encoded)
          return lookup_result::failed("node " + local_.id.to_string() + " does not hold object " + c->id.to_string()
                                       + ": node " + c->remote->node.to_string() + " does");
      }
      try {
        // An encoding made for chunks is the one to stream: it goes with this
        // transfer.
        std::shared_ptr<const std::string> bytes;
        {
          std::lock_guard<std::mutex> guard{mu_};
          if (auto i = transfers_.find(c->id); i != transfers_.end()) {
            bytes = i->second;
            transfers_.erase(i);
          }
        }
        std::string type;
        detail::value_box value;
        {
          std::lock_guard<std::mutex> guard{c->mu};
          value = c->value;
          type = type_in_memory(*c);
        }
        if (!bytes) {
          if (auto sent = sent_in_place(type, value))
            return std::move(*sent);
          auto [t, encoded] = encoded_value(local_.store, c);
          type = std::move(t);
          bytes = std::make_shared<const std::string>(std::move(encoded));
        }
        return lookup_result::found(std::move(type), std::move(bytes));
      } catch (const std::exception& e) {
        return lookup_result::failed("the value of object " + c->id.to_string() + " cannot be sent: " + e.what());
      }
    }();
    done(std::move(answer));
    detail::release(c);
  });
}

void object_directory::serve_release(const wire::release_request& req) {
  detail::object_cell* c = nullptr;
  {
    std::lock_guard<std::mutex> guard{mu_};
    auto i = held_.find(req.id);
    if (i == held_.end())
      return;
    c = i->second.cell;
    held_.erase(i);
  }
  detail::release(c);
}

void object_directory::serve_borrow(const wire::borrow_notice& notice) {
  if (notice.borrow) {
    auto* c = local_.store.find(notice.id); // retained: the borrow's hold
    if (!c)
      return;
    std::lock_guard<std::mutex> guard{mu_};
    borrowed_[{notice.id, notice.borrower}].push_back(c);
    return;
  }
  detail::object_cell* c = nullptr;
  {
    std::lock_guard<std::mutex> guard{mu_};
    auto i = borrowed_.find({notice.id, notice.borrower});
    if (i == borrowed_.end() || i->second.empty())
      return;
    c = i->second.back();
    i->second.pop_back();
    if (i->second.empty())
      borrowed_.erase(i);
  }
  detail::release(c);
}

void object_directory::node_lost(const node_id& id, const std::string& why) {
  std::vector<detail::object_cell*> released;
  std::vector<std::shared_ptr<fetch_state>> cut;
  {
    std::lock_guard<std::mutex> guard{mu_};
    for (auto i = borrowed_.begin(); i != borrowed_.end();) {
      if (i->first.second == id) {
        released.insert(released.end(), i->second.begin(), i->second.end());
        i = borrowed_.erase(i);
      } else {
        ++i;
      }
    }
    for (auto i = held_.begin(); i != held_.end();) {
      if (i->second.owner == id) {
        released.push_back(i->second.cell);
        i = held_.erase(i);
      } else {
        ++i;
      }
    }
    auto [first, last] = channel_fetches_.equal_range(id);
    for (auto i = first; i != last; ++i)
      if (auto fs = i->second.lock())
        cut.push_back(std::move(fs));
    channel_fetches_.erase(id);
  }
  for (auto* c : released)
    detail::release(c);
  // A holder that died mid-stream may never close the connection (frozen, cut
  // off): its transfers end now, not at the channel's inactivity timeout.
  for (auto& fs : cut)
    fs->finish(false, detail::failure{errc::object_lost,
                                      "object " + fs->id.to_string() + " lived on node " + id.to_string()
                                        + ", which is gone (" + why + ")",
                                      {}, {}});
}

void object_directory::stop() {
  bulk_.stop();
  if (data_server_)
    data_server_->stop();
  if (data_client_)
    data_client_->stop();
  std::vector<detail::object_cell*> kept;
  {
    std::lock_guard<std::mutex> guard{mu_};
    for (auto& [id, h] : held_)
      kept.push_back(h.cell);
    held_.clear();
    for (auto& [key, cells] : borrowed_)
      kept.insert(kept.end(), cells.begin(), cells.end());
    borrowed_.clear();
    transfers_.clear();
  }
  for (auto* c : kept)
    detail::release(c);
}

} // namespace actors::runtime
