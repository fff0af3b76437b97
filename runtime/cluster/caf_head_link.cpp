#include "runtime/cluster/caf_head_link.hpp"

#include "runtime/cluster/caf_connect.hpp"
#include "runtime/common/addresses.hpp"
#include "runtime/common/log.hpp"
#include "runtime/secure/tls_gateway.hpp"
#include "runtime/wire/atoms.hpp"

#include "actors/errors.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

namespace actors::runtime {

namespace {

using namespace msg;

// The control store answers from memory; a join slower than this means it is gone.
constexpr auto join_timeout = std::chrono::seconds(10);

} // namespace

struct caf_head_link::probe_state {
  std::mutex mu;
  bool in_flight = false;
  std::function<void()> on_silence;
  std::function<void()> on_dead;
  /// The actor of the last probe.
  caf::actor prober;
};

caf_head_link::caf_head_link(caf::actor_system& sys, caf_transport& links, control_store& control,
                             std::string token, std::string head_address, bool is_head)
  : sys_(sys),
    links_(links),
    control_(control),
    token_(std::move(token)),
    head_address_(std::move(head_address)),
    is_head_(is_head),
    probe_(std::make_shared<probe_state>()) {}

join_answer caf_head_link::ask(const caf::actor& control, const wire::node_record& rec) {
  join_answer a;
  if (!control) {
    a.reason = "the head is unreachable";
    return a;
  }
  caf::scoped_actor self{sys_};
  self
    ->request(control, join_timeout, join_atom::value, wire::protocol_version, token_, wire::pack(rec),
              links_.endpoint())
    .receive([&](caf::error& e) { a.reason = "the head did not answer: " + sys_.render(e); },
             caf::others >> [&](caf::message_view& answer) -> caf::result<caf::message> {
               auto m = answer.copy_content_to_message();
               if (m.match_elements<bool, std::uint8_t, std::string>())
                 a = {true, m.get_as<bool>(0), static_cast<wire::join_refusal>(m.get_as<std::uint8_t>(1)),
                      m.get_as<std::string>(2)};
               // A head of another protocol version answers in the shape every version reads.
               else if (m.match_elements<bool, std::string>())
                 a = {true, m.get_as<bool>(0), wire::join_refusal::none, m.get_as<std::string>(1)};
               else
                 a.reason = "the head answered the join request with " + to_string(m);
               return caf::message{};
             });
  return a;
}

join_answer caf_head_link::join(const wire::node_record& rec) {
  auto control = control_.handle();
  // A member watches the control store: its death is the head going away. The
  // head does not reconnect to its own.
  links_.watch_head(control, !is_head_);
  return ask(control, rec);
}

std::optional<join_answer> caf_head_link::reconnect(const wire::node_record& rec, std::string& why) {
  auto [host, port] = split_address(head_address_);
  auto remote = connect_within(sys_, host, port);
  if (!remote || !*remote) {
    why = remote ? "nothing is published at that port" : sys_.render(remote.error());
    return std::nullopt;
  }
  auto answer = ask(*remote, rec);
  if (!answer.accepted)
    return answer;
  links_.watch_head(*remote, !is_head_);
  control_.rebind(*remote);
  return answer;
}

void caf_head_link::report(const wire::node_report& rep) {
  if (auto control = control_.handle())
    caf::anon_send(control, report_atom::value, wire::pack(rep));
}

void caf_head_link::probe(const node_id& self_id, std::chrono::milliseconds timeout,
                          std::function<void()> on_silence, std::function<void()> on_dead) {
  auto control = control_.handle();
  if (is_head_ || !control)
    return;
  {
    std::lock_guard<std::mutex> guard{probe_->mu};
    if (probe_->in_flight)
      return;
    probe_->in_flight = true;
    probe_->on_silence = std::move(on_silence);
    probe_->on_dead = std::move(on_dead);
  }
  // Hidden: the actor system does not wait for a probe in flight when it stops,
  // and stop_probing ends it.
  auto prober = sys_.spawn<caf::hidden>([state = probe_, control, timeout,
                                         id = self_id.value](caf::event_based_actor* self) {
    self->request(control, timeout, ping_atom::value, id)
      .then(
        [state, self](bool alive) {
          std::lock_guard<std::mutex> guard{state->mu};
          state->in_flight = false;
          if (!alive && state->on_dead)
            state->on_dead();
          self->quit();
        },
        [state, self](const caf::error&) {
          // Called under the lock, so that stop_probing returns only once no
          // call is running.
          std::lock_guard<std::mutex> guard{state->mu};
          state->in_flight = false;
          if (state->on_silence)
            state->on_silence();
          self->quit();
        });
  });
  std::lock_guard<std::mutex> guard{probe_->mu};
  probe_->prober = prober;
}

void caf_head_link::stop_probing() {
  std::lock_guard<std::mutex> guard{probe_->mu};
  probe_->on_silence = nullptr;
  probe_->on_dead = nullptr;
  if (probe_->prober)
    caf::anon_send_exit(probe_->prober, caf::exit_reason::user_shutdown);
  probe_->prober = nullptr;
}

void caf_head_link::lost() {
  control_.link_lost();
}

std::unique_ptr<control_store> connect_control_store(caf::actor_system& sys, const std::string& address) {
  auto [host, port] = split_address(address);
  auto remote = connect_within(sys, host, port);
  if (!remote || !*remote)
    throw error(errc::invalid_argument,
                "no cluster answers at " + address + " ("
                  + (remote ? std::string{"nothing is published at that port"} : sys.render(remote.error()))
                  + "): start one with `actorsd --head`, or check the address and that the head is running"
                  + (tls_gateway::of_this_process()
                       ? "; over TLS, also that it runs TLS and that this process's certificate is of its CA (its "
                         "log names the refused connection)"
                       : "; if the cluster runs TLS, start this process with its TLS files"));
  return std::make_unique<control_store>(sys, *remote);
}

} // namespace actors::runtime
