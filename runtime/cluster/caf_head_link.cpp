#include "runtime/cluster/caf_head_link.hpp"
#include "runtime/common/addresses.hpp"

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

caf_head_link::caf_head_link(caf::actor_system& sys, caf_transport& links, control_store& control,
                             std::string token, std::string head_address, bool is_head)
  : sys_(sys),
    links_(links),
    control_(control),
    token_(std::move(token)),
    head_address_(std::move(head_address)),
    is_head_(is_head) {}

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
  auto remote = sys_.middleman().remote_actor(host, port);
  if (!remote) {
    why = sys_.render(remote.error());
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

void caf_head_link::lost() {
  control_.link_lost();
}

std::unique_ptr<control_store> connect_control_store(caf::actor_system& sys, const std::string& address) {
  auto [host, port] = split_address(address);
  auto remote = sys.middleman().remote_actor(host, port);
  if (!remote)
    throw error(errc::invalid_argument, "no cluster answers at " + address + " (" + sys.render(remote.error())
                                          + "): start one with `actorsd --head`, or check the address "
                                            "and that the head is running");
  return std::make_unique<control_store>(sys, *remote);
}

} // namespace actors::runtime
