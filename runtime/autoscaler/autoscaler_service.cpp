#include "runtime/autoscaler/autoscaler_service.hpp"

#include "runtime/autoscaler/autoscaler.hpp"
#include "runtime/common/log.hpp"
#include "runtime/control_store/control_store.hpp"
#include "runtime/wire/atoms.hpp"
#include "runtime/wire/protocol.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <mutex>
#include <tuple>

namespace actors::runtime {

namespace {

using namespace msg;

// How often the autoscaler looks at the table.
constexpr auto round_interval = std::chrono::seconds(1);

using round_atom = caf::atom_constant<caf::atom("ac_around")>;

} // namespace

struct autoscaler_service::impl {
  std::unique_ptr<node_provider> provider;
  std::unique_ptr<autoscaler> scaler;
  caf::actor actor;
  // The figures of the last round, for scrapes on other threads.
  mutable std::mutex mu;
  autoscaler_figures latest;
};

namespace {

// Not supervised: it ends with the autoscaler_service that spawned it.
caf::behavior run_autoscaler(caf::event_based_actor* self, autoscaler_service::impl* service, control_store* control,
                             std::string token) {
  auto* scaler = service->scaler.get();
  self->send(self, round_atom::value);
  return {
    [=](round_atom) {
      // Asked each round: the supervisor may have restarted the control store.
      auto store = control->handle();
      if (!store) {
        self->delayed_send(self, round_interval, round_atom::value);
        return;
      }
      self->request(store, std::chrono::seconds(5), list_atom::value, token)
        .then(
          [=](bool ok, const std::string& blob) {
            if (ok) {
              try {
                auto view = wire::unpack<wire::cluster_view>(blob, "node table");
                auto actions = scaler->step(view, autoscaler::clock_type::now());
                {
                  std::lock_guard<std::mutex> guard{service->mu};
                  service->latest = scaler->figures();
                }
                for (const auto& node : actions.drain)
                  self->send(store, drain_atom::value, token, node.value, true);
                for (const auto& node : actions.undrain)
                  self->send(store, drain_atom::value, token, node.value, false);
                for (const auto& node : actions.stop)
                  self->send(store, retire_atom::value, token, node.value);
                auto status = wire::pack(scaler->status());
                if (status != view.autoscaler)
                  self->send(store, autoscaler_atom::value, token, status);
              } catch (const std::exception& e) {
                log(log_level::error, "autoscaler", "a round failed: ", e.what());
              }
            }
            self->delayed_send(self, round_interval, round_atom::value);
          },
          [=](const caf::error&) {
            // The control store is restarting: try again next round.
            self->delayed_send(self, round_interval, round_atom::value);
          });
    },
  };
}

} // namespace

autoscaler_service::autoscaler_service(caf::actor_system& sys, control_store& store,
                                       autoscale_config config, local_node_command local, std::string head_address,
                                       std::string token, std::filesystem::path log_dir,
                                       std::filesystem::path launches_file)
  : impl_(std::make_unique<impl>()) {
  impl_->provider = make_node_provider(config, std::move(local), std::move(log_dir));
  impl_->scaler = std::make_unique<autoscaler>(std::move(config), *impl_->provider, std::move(head_address), token,
                                               std::move(launches_file));
  impl_->latest = impl_->scaler->figures();
  impl_->actor = sys.spawn<caf::detached>(run_autoscaler, impl_.get(), &store, std::move(token));
}

autoscaler_figures autoscaler_service::figures() const {
  std::lock_guard<std::mutex> guard{impl_->mu};
  return impl_->latest;
}

autoscaler_service::~autoscaler_service() {
  caf::scoped_actor self{impl_->actor.home_system()};
  self->send_exit(impl_->actor, caf::exit_reason::user_shutdown);
  self->wait_for(impl_->actor);
}

} // namespace actors::runtime
