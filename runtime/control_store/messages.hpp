#pragma once

/// The atoms of the control store's interface (CAF message tags).

#include <caf/atom.hpp>

namespace actors::runtime::msg {

using join_atom = caf::atom_constant<caf::atom("ac_join")>;
using report_atom = caf::atom_constant<caf::atom("ac_report")>;
using view_atom = caf::atom_constant<caf::atom("ac_view")>;
using tick_atom = caf::atom_constant<caf::atom("ac_tick")>;
using name_register_atom = caf::atom_constant<caf::atom("ac_nreg")>;
using name_lookup_atom = caf::atom_constant<caf::atom("ac_nfind")>;
using name_remove_atom = caf::atom_constant<caf::atom("ac_ndel")>;
using list_atom = caf::atom_constant<caf::atom("ac_list")>;
using stop_cluster_atom = caf::atom_constant<caf::atom("ac_stopall")>;
using stop_node_atom = caf::atom_constant<caf::atom("ac_stop")>;

// Between node endpoints.
using exec_atom = caf::atom_constant<caf::atom("ac_exec")>;
using result_atom = caf::atom_constant<caf::atom("ac_result")>;
using create_actor_atom = caf::atom_constant<caf::atom("ac_mkact")>;
using call_actor_atom = caf::atom_constant<caf::atom("ac_call")>;
using kill_actor_atom = caf::atom_constant<caf::atom("ac_kill")>;
using drop_actor_atom = caf::atom_constant<caf::atom("ac_drop")>;
using upload_atom = caf::atom_constant<caf::atom("ac_upload")>;
using fetch_atom = caf::atom_constant<caf::atom("ac_fetch")>;
using bundle_reserve_atom = caf::atom_constant<caf::atom("ac_pgres")>;
using bundle_remove_atom = caf::atom_constant<caf::atom("ac_pgdel")>;
using state_atom = caf::atom_constant<caf::atom("ac_state")>;
using borrow_atom = caf::atom_constant<caf::atom("ac_borrow")>;
using release_atom = caf::atom_constant<caf::atom("ac_free")>;
using watch_atom = caf::atom_constant<caf::atom("ac_watch")>;

} // namespace actors::runtime::msg
