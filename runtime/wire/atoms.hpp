#pragma once

/// The atoms of every CAF message between the processes of a cluster (message tags).

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

// Between node endpoints: a message of a runtime::message_kind with its payload
// and the sender's endpoint, and a request of a runtime::request_kind, answered
// with a payload (runtime/cluster/transport.hpp).
using peer_atom = caf::atom_constant<caf::atom("ac_peer")>;
using ask_atom = caf::atom_constant<caf::atom("ac_ask")>;
/// The node endpoint to itself: send the results gathered for one peer.
using flush_atom = caf::atom_constant<caf::atom("ac_flush")>;
// Message lanes (runtime/cluster/message_lane.hpp): the marker a sender sends
// over CAF, after the last message that went that way, with the lane's number
// and its endpoint; the endpoint to itself: open the lane port on this address
// (answered with the port, 0 if it cannot), write what gathered on the lane to
// a peer, and a lane to a node broke.
using lane_open_atom = caf::atom_constant<caf::atom("ac_lnopen")>;
using lane_listen_atom = caf::atom_constant<caf::atom("ac_lnport")>;
using lane_flush_atom = caf::atom_constant<caf::atom("ac_lnflush")>;
using lane_down_atom = caf::atom_constant<caf::atom("ac_lndown")>;
using state_atom = caf::atom_constant<caf::atom("ac_state")>;
using watch_atom = caf::atom_constant<caf::atom("ac_watch")>;
/// To the head's endpoint: a request of the job service (runtime/jobs/), with an
/// operation, the cluster token and a payload; answered (ok, answer or error).
using job_atom = caf::atom_constant<caf::atom("ac_job")>;
/// To a node's endpoint: a chunk of a node's log file (`actors logs`), with the
/// node's id (0: this node; another: the endpoint asks that node), the cluster
/// token, where to read from and in which file, and how many last lines;
/// answered (ok, text or error, next offset, file).
using log_atom = caf::atom_constant<caf::atom("ac_log")>;
// The autoscaler and request_resources, at the control store.
using drain_atom = caf::atom_constant<caf::atom("ac_drain")>;
using retire_atom = caf::atom_constant<caf::atom("ac_retire")>;
using request_resources_atom = caf::atom_constant<caf::atom("ac_reqres")>;
using autoscaler_atom = caf::atom_constant<caf::atom("ac_ascale")>;
// Placement groups at the control store: record (or update) one, find one by id
// or by name, forget one, list them all.
using group_put_atom = caf::atom_constant<caf::atom("ac_pgput")>;
using group_find_atom = caf::atom_constant<caf::atom("ac_pgfind")>;
using group_remove_atom = caf::atom_constant<caf::atom("ac_pgdel")>;
using group_list_atom = caf::atom_constant<caf::atom("ac_pglist")>;
// A member checks that the control store still answers.
using ping_atom = caf::atom_constant<caf::atom("ac_ping")>;

} // namespace actors::runtime::msg
