// Writes the seed corpus of the fuzz targets: well-formed inputs of each kind, from
// which libFuzzer mutates. Run it as `make_corpus tests/fuzz/corpus` after a change
// to a payload; inputs that crashed a target are kept beside these by hand.

#include "actors/actors.hpp"
#include "runtime/wire/protocol.hpp"
#include "fuzz_types.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

namespace {

namespace fs = std::filesystem;
namespace wire = actors::runtime::wire;
using actors::detail::encode;

fs::path root;

void write(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(root / target);
  std::ofstream(root / target / name, std::ios::binary) << bytes;
}

// A seed whose first byte picks the decoder, as the binary targets read it.
void write_picked(const std::string& target, const std::string& name, unsigned char pick,
                  const std::string& payload) {
  write(target, name, std::string(1, static_cast<char>(pick)) + payload);
}

using fuzz::point;

template <class... Ps, class... As>
std::string args(As&&... as) {
  return actors::detail::make_args<Ps...>(std::forward<As>(as)...)->encode();
}

void wire_seeds() {
  wire::node_record rec;
  rec.id = actors::node_id{0x1234};
  rec.address = "127.0.0.1:6380";
  rec.total = {{"CPU", 2}, {"GPU", 1}};
  rec.available = {{"CPU", 1}};
  rec.head = true;
  rec.pid = 4242;
  rec.metrics_port = 9100;
  write_picked("wire", "node_record", 0, wire::pack(rec));
  wire::cluster_view view;
  view.version = 7;
  view.nodes = {rec, rec};
  write_picked("wire", "cluster_view", 1, wire::pack(view));
  wire::node_report rep{rec.id, rec.total, rec.available, 3, {{{{"CPU", 1}}, 2}}, 1, 4};
  write_picked("wire", "node_report", 2, wire::pack(rep));
  wire::bundle_request bundle{9, "pg1", 1, {{"CPU", 1}}, rec.id};
  write_picked("wire", "bundle_request", 3, wire::pack(bundle));
  wire::inline_object inl{actors::object_id{1, 2}, typeid(int).name(), encode(42)};
  write_picked("wire", "inline_object", 4, wire::pack(inl));
  wire::located_object loc{actors::object_id{1, 3}, rec.id, actors::object_id{5, 6}, typeid(std::string).name(), 1 << 20};
  write_picked("wire", "located_object", 5, wire::pack(loc));
  wire::task_request task;
  task.key = 11;
  task.function = "square";
  task.signature = typeid(int (*)(int)).name();
  task.options.name = "square";
  task.options.resources = {{"GPU", 0.5}};
  task.args = args<int>(7);
  task.owner = rec.id;
  task.inlined = {inl};
  task.located = {loc};
  write_picked("wire", "task_request", 6, wire::pack(task));
  wire::actor_create_request create;
  create.key = 12;
  create.id = actors::actor_id{1, 9};
  create.factory = "make_counter";
  create.args = args<int>(10);
  create.options.name = "hits";
  create.options.max_restarts = 3;
  write_picked("wire", "actor_create_request", 7, wire::pack(create));
  wire::actor_call call{13, create.id, "Counter::add", "M7Counter", args<int>(5), {}, 0, actors::node_id{0x2a}};
  write_picked("wire", "actor_call", 8, wire::pack(call));
  wire::fetch_request fetch{14, actors::object_id{1, 3}, 1 << 20};
  write_picked("wire", "fetch_request", 9, wire::pack(fetch));
  wire::result res;
  res.key = 11;
  res.ok = true;
  res.type_name = typeid(int).name();
  res.bytes = encode(49);
  write_picked("wire", "result_ok", 10, wire::pack(res));
  res.ok = false;
  res.bytes.clear();
  res.why = actors::detail::failure{actors::errc::task_failed, "boom", "square", "0000000000001234"};
  write_picked("wire", "result_failed", 10, wire::pack(res));
  wire::named_actor named{create.id, "Counter", rec.id};
  write_picked("wire", "named_actor", 11, wire::pack(named));
  wire::state_table table{{"id", "state"}, {{"1", "alive"}, {"2", "dead"}}};
  write_picked("wire", "state_table", 12, wire::pack(table));
  wire::release_request rel{actors::object_id{1, 2}};
  write_picked("wire", "release_request", 13, wire::pack(rel));
  wire::task_batch batch;
  batch.tasks = {task, task};
  batch.tasks[1].key = 12;
  batch.tasks[1].args_held = true;
  batch.tasks[1].held_args = {actors::object_id{rec.id.value, (std::uint64_t{1} << 63) | 1}, rec.id,
                              actors::object_id{rec.id.value, (std::uint64_t{1} << 63) | 1}, "actors:arguments",
                              3 << 20};
  write_picked("wire", "task_batch", 14, wire::pack(batch));
  wire::borrow_notice borrow{actors::object_id{1, 2}, rec.id, true};
  write_picked("wire", "borrow_notice", 15, wire::pack(borrow));
  wire::actor_ref drop{create.id};
  write_picked("wire", "actor_ref", 16, wire::pack(drop));
  wire::kill_request kill{create.id, false};
  write_picked("wire", "kill_request", 17, wire::pack(kill));
  wire::bundle_ref bundle_gone{"pg1", 1};
  write_picked("wire", "bundle_ref", 18, wire::pack(bundle_gone));
  wire::request_answer refused{false, "actor factory 'make_counter' is not registered on node 0000000000001234"};
  write_picked("wire", "request_answer", 19, wire::pack(refused));
  wire::cancel_request cancel{rec.id, 12, true};
  write_picked("wire", "cancel_request", 20, wire::pack(cancel));
  wire::stream_item item{{rec.id.value, 3}, rec.id, 5, res};
  write_picked("wire", "stream_item", 21, wire::pack(item));
  wire::stream_ack ack{{rec.id.value, 3}, 4, 9, false};
  write_picked("wire", "stream_ack", 22, wire::pack(ack));
  wire::stream_item_batch items{{wire::pack(item), wire::pack(item)}};
  write_picked("wire", "stream_item_batch", 23, wire::pack(items));
  wire::actor_borrow actor_borrow{actors::actor_id{rec.id.value, 2}, rec.id, true};
  write_picked("wire", "actor_borrow", 24, wire::pack(actor_borrow));
}

void args_seeds() {
  write_picked("args", "int", 0, args<int>(7));
  write_picked("args", "int_by_ref", 0, args<int>(actors::put(7)));
  write_picked("args", "string_double", 1, args<std::string, double>(std::string("hello"), 2.5));
  write_picked("args", "vector_map", 2,
               args<const std::vector<int>&, std::map<std::string, std::vector<double>>>(
                 std::vector<int>{1, 2, 3}, std::map<std::string, std::vector<double>>{{"a", {1.5, 2.5}}}));
  write_picked("args", "pair_umap_bool", 3,
               args<std::pair<int, std::string>, std::unordered_map<std::string, int>, bool>(
                 std::pair<int, std::string>{1, "one"}, std::unordered_map<std::string, int>{{"x", 1}}, true));
  write_picked("args", "deque_set_list", 4,
               args<std::deque<std::string>, std::set<std::int64_t>, std::list<double>>(
                 std::deque<std::string>{"a", "b"}, std::set<std::int64_t>{1, 2, 3}, std::list<double>{0.5}));
}

void object_seeds() {
  write_picked("object", "string", 0, encode(std::string("hello, world")));
  write_picked("object", "vector_int", 1, encode(std::vector<int>{1, 2, 3, 4}));
  write_picked("object", "vector_string", 2, encode(std::vector<std::string>{"a", "bc", ""}));
  write_picked("object", "map_vector", 3, encode(std::map<std::string, std::vector<double>>{{"k", {1, 2}}}));
  write_picked("object", "umap", 4, encode(std::unordered_map<std::string, std::int64_t>{{"a", 1}, {"b", 2}}));
  write_picked("object", "deque_u8", 5, encode(std::deque<std::uint8_t>{1, 2, 255}));
  write_picked("object", "list_string", 6, encode(std::list<std::string>{"x", "y"}));
  write_picked("object", "set_int", 7, encode(std::set<int>{3, 1, 2}));
  write_picked("object", "uset_string", 8, encode(std::unordered_set<std::string>{"p", "q"}));
  write_picked("object", "array_i32", 9, encode(std::array<std::int32_t, 4>{1, 2, 3, 4}));
  point p{1.5, -2, "origin", {{1, "a"}, {2, "b"}}, true};
  write_picked("object", "point", 10, encode(p));
  write_picked("object", "vector_point", 11, encode(std::vector<point>{p, p}));
}

void session_seeds() {
  write("session", "valid", "address=127.0.0.1:6380\ntoken=4f0c1e2d3b4a5968\npid=4242\n");
  write("session", "no_pid", "address=127.0.0.1:6380\ntoken=abc\n");
  write("session", "crlf", "address=127.0.0.1:6380\r\ntoken=abc\r\npid=1\r\n");
  write("session", "huge_pid", "address=127.0.0.1:6380\ntoken=abc\npid=99999999999999999999\n");
  write("session", "pid_wraps", "address=127.0.0.1:6380\ntoken=abc\npid=4294967295\n");
}

void options_seeds() {
  write("options", "all_flags",
        "--actors-num-cpus=2\n--actors-resources=GPU=1,disk=2\n--actors-object-store-bytes=512M\n"
        "--actors-spill-dir=/tmp/spill\n--actors-address=127.0.0.1:6380\n--actors-token=abc\n"
        "--actors-metrics-port=9100\n--actors-heartbeat-timeout=3000\n--actors-local-nodes=3\nuser-arg");
  write("options", "separate_values", "--actors-num-cpus\n4\n--actors-node\n--actors-token\nxyz");
  write("options", "unknown", "--actors-frobnicate=1");
  write("options", "missing_value", "--actors-address");
  write("options", "huge_bytes", "--actors-object-store-bytes=99999999999999999999G");
  write("options", "huge_local_nodes", "--actors-local-nodes=1e300");
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_corpus DIR (e.g. tests/fuzz/corpus)\n";
    return 2;
  }
  root = argv[1];
  actors::init_options opts;
  opts.num_cpus = 1;
  actors::init(opts);
  wire_seeds();
  args_seeds();
  object_seeds();
  session_seeds();
  options_seeds();
  actors::shutdown();
  std::cout << "make_corpus: seeds written under " << root.string() << "\n";
  return 0;
}
