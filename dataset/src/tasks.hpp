#pragma once

#include "actors/dataset.hpp"

namespace actors::data::detail {

/// Starts the message of a dataset task that failed because a block it read was
/// lost with its node, so that the executor can tell and recompute the block.
inline constexpr const char* lost_marker = "a dataset block was lost: ";
/// Times a consumer recomputes lost blocks before giving up.
inline constexpr int max_recomputes = 2;

/// Makes a source block, runs the steps, then the request's finish.
task_report run_on_source(const source_spec& src, const stage_request& req);
/// Runs the steps over a stored block, then the request's finish.
task_report run_on_block(const any_block& in, const stage_request& req);
/// Joins the pieces bound for one output block of an all-to-all operator, reading
/// them straight from the nodes that hold them, and stores the result here.
task_report merge_pieces(const std::vector<object_ref<any_block>>& pieces, const merge_request& req);

} // namespace actors::data::detail
