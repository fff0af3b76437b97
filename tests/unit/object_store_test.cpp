// White-box tests of one node's object store (runtime::object_store): values,
// types, byte accounting, spilling to disk past the byte limit and restoring, and
// settling. Then the same spilling seen end to end through the public API.

#include "runtime/common/network_thread.hpp"
#include "runtime/object_store/object_store.hpp"
#include "tests/support/shm_segments.hpp"
#include "tests/support/temp_dir.hpp"

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace {

using actors::test::segment_of;
using actors::test::temp_dir;
using actors::detail::object_cell;
using actors::runtime::object_store;
using actors::runtime::shared_memory_threshold;
using actors::runtime::shm_mapping;
using actors::runtime::shm_registry;

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;

using blob = std::vector<char>;

/// A blob of `n` bytes whose content depends on `seed`.
blob make_blob(std::size_t n, int seed) {
  blob b(n);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<char>((i * 31 + static_cast<std::size_t>(seed) * 7) & 0xff);
  return b;
}

/// A heavy type with no encoding: it can never spill.
struct unspillable {
  std::array<char, 600 * KiB> data{};
  int tag = 0;
};
static_assert(!actors::detail::is_serializable_v<unspillable>);

bool is_spilled(object_cell* cell) {
  std::lock_guard<std::mutex> guard{cell->mu};
  return cell->spilled != nullptr;
}

std::string spill_path_of(object_cell* cell) {
  std::lock_guard<std::mutex> guard{cell->mu};
  return cell->spilled ? cell->spilled->path : std::string();
}

bool in_memory(object_cell* cell) {
  std::lock_guard<std::mutex> guard{cell->mu};
  return static_cast<bool>(cell->value.value);
}

template <class T>
const T& as(const std::shared_ptr<const void>& p) {
  return *static_cast<const T*>(p.get());
}

bool in_dev_shm(const std::string& name) {
  return fs::exists("/dev/shm" + name);
}

/// Segments under /dev/shm that this process owns.
std::vector<std::string> own_segments() {
  std::vector<std::string> out;
  const auto me = actors::runtime::this_process();
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/dev/shm", ec)) {
    auto parsed = actors::runtime::parse_shm_name(e.path().filename().string());
    if (parsed && parsed->owner == me)
      out.push_back("/" + e.path().filename().string());
  }
  return out;
}

/// A store of its own per test, with cells released before the store goes.
class ObjectStore : public ::testing::Test {
 protected:
  std::size_t limit() const {
    return limit_;
  }

  void make_store(std::size_t limit) {
    limit_ = limit;
    // The old store goes first: a store marks itself live when built and clears
    // the mark when destroyed.
    store_.reset();
    store_ = std::make_unique<object_store>(actors::node_id{0x5151}, limit, dir_.path());
  }

  void SetUp() override {
    make_store(64 * MiB);
  }

  void TearDown() override {
    for (auto* c : cells_)
      actors::detail::release(c);
    cells_.clear();
    store_.reset();
    // Nothing a test made stays in /dev/shm.
    EXPECT_EQ(own_segments(), std::vector<std::string>{});
  }

  /// Keeps the cell for release at the end of the test.
  object_cell* keep(object_cell* c) {
    cells_.push_back(c);
    return c;
  }

  /// Releases a kept cell now.
  void drop(object_cell* c) {
    std::erase(cells_, c);
    actors::detail::release(c);
  }

  object_store& store() {
    return *store_;
  }

  /// A kept cell standing for a blob of `size` bytes that node 0x7777 holds
  /// as its object `seq`.
  object_cell* cell_held_elsewhere(std::uint64_t seq, std::uint64_t size) {
    auto* c = keep(store().create_pending());
    object_cell::remote_copy where;
    where.node = actors::node_id{0x7777};
    where.id = actors::object_id{0x7777, seq};
    where.type_name = actors::detail::ops_of<blob>()->name;
    where.size = size;
    EXPECT_TRUE(store().settle_remote(c, where));
    return c;
  }

  temp_dir dir_;
  std::size_t limit_ = 0;
  std::unique_ptr<object_store> store_;
  std::vector<object_cell*> cells_;
};

// -- values and types ---------------------------------------------------------------------

TEST_F(ObjectStore, CreateReadyValueRoundTrips) {
  auto* c = keep(store().create_ready(actors::detail::box(std::string("stored text"))));
  EXPECT_EQ(c->current(), object_cell::state::ready);
  EXPECT_EQ(c->id.owner, 0x5151u);
  auto v = store().value(c, actors::detail::ops_of<std::string>());
  ASSERT_TRUE(v);
  EXPECT_EQ(as<std::string>(v), "stored text");
  // In-process reads share the value: no copy is made.
  EXPECT_EQ(store().value(c, actors::detail::ops_of<std::string>()).get(), v.get());
}

TEST_F(ObjectStore, CellsGetDistinctIds) {
  auto* a = keep(store().create_ready(actors::detail::box(1)));
  auto* b = keep(store().create_ready(actors::detail::box(2)));
  auto* p = keep(store().create_pending());
  EXPECT_NE(a->id, b->id);
  EXPECT_NE(b->id, p->id);
  EXPECT_NE(a->id, p->id);
}

TEST_F(ObjectStore, ValueWithWrongTypeThrowsTypeMismatchNamingBothTypes) {
  auto* c = keep(store().create_ready(actors::detail::box(42)));
  try {
    (void)store().value(c, actors::detail::ops_of<std::string>());
    FAIL() << "reading an int as a string did not throw";
  } catch (const actors::error& e) {
    EXPECT_EQ(e.code(), actors::errc::type_mismatch);
    std::string what = e.what();
    EXPECT_NE(what.find(actors::detail::demangle(typeid(int).name())), std::string::npos) << what;
    EXPECT_NE(what.find("basic_string"), std::string::npos) << what;
    EXPECT_NE(what.find(c->id.to_string()), std::string::npos) << what;
  }
  // The value is still there for the right type.
  EXPECT_EQ(as<int>(store().value(c, actors::detail::ops_of<int>())), 42);
}

// -- byte accounting ----------------------------------------------------------------------

TEST_F(ObjectStore, StatsAccountBytesAndObjects) {
  auto s0 = store().stats();
  EXPECT_EQ(s0.objects, 0u);
  EXPECT_EQ(s0.bytes_in_memory, 0u);
  EXPECT_EQ(s0.bytes_limit, limit());
  EXPECT_EQ(s0.spilled_objects, 0u);

  blob a = make_blob(1000, 1);
  blob b = make_blob(5000, 2);
  auto a_bytes = actors::detail::byte_size(a);
  auto b_bytes = actors::detail::byte_size(b);
  EXPECT_GE(a_bytes, 1000u);
  EXPECT_GE(b_bytes, 5000u);

  auto* ca = keep(store().create_ready(actors::detail::box(std::move(a))));
  auto s1 = store().stats();
  EXPECT_EQ(s1.objects, 1u);
  EXPECT_EQ(s1.bytes_in_memory, a_bytes);

  auto* cb = keep(store().create_ready(actors::detail::box(std::move(b))));
  auto* pending = keep(store().create_pending());
  auto s2 = store().stats();
  EXPECT_EQ(s2.objects, 3u);
  EXPECT_EQ(s2.bytes_in_memory, a_bytes + b_bytes); // a pending cell weighs nothing yet

  drop(ca);
  auto s3 = store().stats();
  EXPECT_EQ(s3.objects, 2u);
  EXPECT_EQ(s3.bytes_in_memory, b_bytes);

  drop(cb);
  drop(pending);
  auto s4 = store().stats();
  EXPECT_EQ(s4.objects, 0u);
  EXPECT_EQ(s4.bytes_in_memory, 0u);
  EXPECT_EQ(s4.spilled_objects, 0u);
}

TEST_F(ObjectStore, ExtraReferencesKeepTheCellUntilTheLastRelease) {
  auto* c = store().create_ready(actors::detail::box(make_blob(100, 3)));
  actors::detail::retain(c);
  actors::detail::release(c);
  EXPECT_EQ(store().stats().objects, 1u);
  EXPECT_EQ(as<blob>(store().value(c, actors::detail::ops_of<blob>())), make_blob(100, 3));
  actors::detail::release(c);
  EXPECT_EQ(store().stats().objects, 0u);
}

// -- spilling -------------------------------------------------------------------------------

TEST_F(ObjectStore, SpillsOldestValuesWhenOverLimit) {
  make_store(1 * MiB);
  std::vector<object_cell*> cells;
  for (int i = 0; i < 8; ++i) {
    cells.push_back(keep(store().create_ready(actors::detail::box(make_blob(512 * KiB, i)))));
    EXPECT_LE(store().stats().bytes_in_memory, limit()) << "after value " << i;
  }
  auto s = store().stats();
  EXPECT_EQ(s.objects, 8u);
  EXPECT_GT(s.spilled_objects, 0u);
  EXPECT_LT(s.spilled_objects, 8u);
  EXPECT_LE(s.bytes_in_memory, limit());
  EXPECT_GT(s.spilled_bytes_total, 0u);

  // The oldest went to disk, the newest stayed.
  EXPECT_TRUE(is_spilled(cells.front()));
  EXPECT_FALSE(in_memory(cells.front()));
  EXPECT_FALSE(is_spilled(cells.back()));
  EXPECT_TRUE(in_memory(cells.back()));
  // Spilled is a prefix of the insertion order (oldest first).
  bool seen_unspilled = false;
  std::size_t spilled = 0;
  for (auto* c : cells) {
    if (is_spilled(c)) {
      EXPECT_FALSE(seen_unspilled) << "a newer value spilled before an older one";
      ++spilled;
      auto path = fs::path(spill_path_of(c));
      EXPECT_TRUE(fs::exists(path)) << path;
      EXPECT_EQ(path.parent_path(), dir_.path());
      EXPECT_GT(fs::file_size(path), 0u);
    } else {
      seen_unspilled = true;
    }
  }
  EXPECT_EQ(spilled, s.spilled_objects);
  EXPECT_EQ(dir_.file_count(), s.spilled_objects);
}

TEST_F(ObjectStore, OnTheNetworkThreadAValueComesInOverTheLimitAndTheSpillingThreadMakesRoom) {
  make_store(1 * MiB);
  auto* older = keep(store().create_ready(actors::detail::box(make_blob(600 * KiB, 1))));
  object_cell* newer = nullptr;
  actors::runtime::object_store_stats right_after;
  std::thread network([&] {
    actors::runtime::on_network_thread = true;
    newer = keep(store().create_ready(actors::detail::box(make_blob(600 * KiB, 2))));
    right_after = store().stats();
  });
  network.join();
  EXPECT_EQ(right_after.spills_for_network_thread, 1u)
    << "the network thread did not hand the spill to the spilling thread";
  ASSERT_NE(newer, nullptr);
  EXPECT_TRUE(in_memory(newer));
  // The spilling thread makes room behind it.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (store().stats().bytes_in_memory > limit() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_LE(store().stats().bytes_in_memory, limit()) << "nothing spilled within 10 s";
  EXPECT_TRUE(is_spilled(older));
  EXPECT_TRUE(in_memory(newer));
  // Elsewhere room is made where the value comes in, as before.
  auto* third = keep(store().create_ready(actors::detail::box(make_blob(600 * KiB, 3))));
  EXPECT_TRUE(is_spilled(newer));
  EXPECT_TRUE(in_memory(third));
  EXPECT_EQ(store().stats().spills_for_network_thread, 1u);
  // What the spilling thread wrote reads back.
  auto back = store().value(older, actors::detail::ops_of<blob>());
  EXPECT_EQ(*std::static_pointer_cast<const blob>(back), make_blob(600 * KiB, 1));
}

TEST_F(ObjectStore, ValueOfSpilledObjectRestoresTheSameBytes) {
  make_store(1 * MiB);
  std::vector<object_cell*> cells;
  for (int i = 0; i < 8; ++i)
    cells.push_back(keep(store().create_ready(actors::detail::box(make_blob(512 * KiB, i)))));
  ASSERT_TRUE(is_spilled(cells[0]));
  auto path = spill_path_of(cells[0]);
  auto before = store().stats();

  auto v = store().value(cells[0], actors::detail::ops_of<blob>());
  ASSERT_TRUE(v);
  EXPECT_EQ(as<blob>(v), make_blob(512 * KiB, 0));
  EXPECT_TRUE(in_memory(cells[0]));
  EXPECT_FALSE(is_spilled(cells[0]));
  EXPECT_FALSE(fs::exists(path)) << "the spill file stays after restore";

  auto after = store().stats();
  EXPECT_GT(after.restored_bytes_total, before.restored_bytes_total);
  EXPECT_LE(after.bytes_in_memory, limit());

  // Every other value reads back equal too, wherever it is now.
  for (int i = 1; i < 8; ++i)
    EXPECT_EQ(as<blob>(store().value(cells[i], actors::detail::ops_of<blob>())), make_blob(512 * KiB, i))
      << "value " << i;
  EXPECT_EQ(as<blob>(v), make_blob(512 * KiB, 0));
}

TEST_F(ObjectStore, ValueOfSpilledObjectWithWrongTypeThrowsTypeMismatch) {
  make_store(1 * MiB);
  std::vector<object_cell*> cells;
  for (int i = 0; i < 4; ++i)
    cells.push_back(keep(store().create_ready(actors::detail::box(make_blob(512 * KiB, i)))));
  ASSERT_TRUE(is_spilled(cells[0]));
  try {
    (void)store().value(cells[0], actors::detail::ops_of<std::string>());
    FAIL() << "reading a spilled blob as a string did not throw";
  } catch (const actors::error& e) {
    EXPECT_EQ(e.code(), actors::errc::type_mismatch);
  }
  EXPECT_TRUE(is_spilled(cells[0]));
  EXPECT_EQ(as<blob>(store().value(cells[0], actors::detail::ops_of<blob>())), make_blob(512 * KiB, 0));
}

TEST_F(ObjectStore, ReleasingTheLastReferenceOfASpilledObjectDeletesItsFile) {
  make_store(1 * MiB);
  std::vector<object_cell*> cells;
  for (int i = 0; i < 8; ++i)
    cells.push_back(keep(store().create_ready(actors::detail::box(make_blob(512 * KiB, i)))));
  ASSERT_TRUE(is_spilled(cells[1]));
  auto path = spill_path_of(cells[1]);
  ASSERT_TRUE(fs::exists(path));
  auto before = store().stats();

  actors::detail::retain(cells[1]);
  actors::detail::release(cells[1]);
  EXPECT_TRUE(fs::exists(path)) << "a release that was not the last removed the file";

  drop(cells[1]);
  EXPECT_FALSE(fs::exists(path));
  auto after = store().stats();
  EXPECT_EQ(after.spilled_objects, before.spilled_objects - 1);
  EXPECT_EQ(after.objects, before.objects - 1);
  EXPECT_EQ(dir_.file_count(), after.spilled_objects);

  // Dropping everything leaves the spill directory empty.
  for (auto* c : std::vector<object_cell*>(cells_))
    drop(c);
  EXPECT_EQ(dir_.file_count(), 0u);
  EXPECT_EQ(store().stats().spilled_objects, 0u);
  EXPECT_EQ(store().stats().bytes_in_memory, 0u);
}

TEST_F(ObjectStore, AStoreThatGoesRemovesTheSpillFilesOfObjectsStillReferencedAndNothingElse) {
  make_store(1 * MiB);
  // What else a spill directory given to several nodes holds.
  std::ofstream(dir_.path() / "0000000000007777.0000000000007777-0000000000000001.obj") << "another node's";
  std::ofstream(dir_.path() / "notes.txt") << "the user's";
  std::vector<object_cell*> cells;
  for (int i = 0; i < 8; ++i)
    cells.push_back(keep(store().create_ready(actors::detail::box(make_blob(512 * KiB, i)))));
  ASSERT_TRUE(is_spilled(cells[1]));
  auto spilled = store().stats().spilled_objects;
  ASSERT_GE(spilled, 1u);
  EXPECT_EQ(dir_.file_count(), spilled + 2);
  // The node stops with the objects still referenced (a program's refs outlive
  // its shutdown); their cells are released after the store is gone.
  store_.reset();
  EXPECT_EQ(dir_.file_count(), 2u);
  EXPECT_TRUE(fs::exists(dir_.path() / "notes.txt"));
  EXPECT_TRUE(fs::exists(dir_.path() / "0000000000007777.0000000000007777-0000000000000001.obj"));
}

TEST_F(ObjectStore, SharedValueIsNotSpilled) {
  make_store(1 * MiB);
  auto held = std::make_shared<const blob>(make_blob(512 * KiB, 100));
  auto* shared = keep(store().create_ready(actors::detail::value_box{held, actors::detail::ops_of<blob>()}));
  std::vector<object_cell*> later;
  for (int i = 0; i < 4; ++i)
    later.push_back(keep(store().create_ready(actors::detail::box(make_blob(512 * KiB, i)))));

  EXPECT_GT(store().stats().spilled_objects, 0u) << "nothing spilled: the test shows nothing";
  EXPECT_FALSE(is_spilled(shared));
  EXPECT_TRUE(in_memory(shared));
  EXPECT_TRUE(is_spilled(later[0])) << "the oldest unshared value should spill instead";
  EXPECT_EQ(store().value(shared, actors::detail::ops_of<blob>()).get(), held.get());
}

TEST_F(ObjectStore, ValueHeldByAReaderIsNotSpilled) {
  make_store(1 * MiB);
  auto* first = keep(store().create_ready(actors::detail::box(make_blob(512 * KiB, 7))));
  auto reading = store().value(first, actors::detail::ops_of<blob>());
  for (int i = 0; i < 4; ++i)
    keep(store().create_ready(actors::detail::box(make_blob(512 * KiB, i))));
  EXPECT_GT(store().stats().spilled_objects, 0u);
  EXPECT_FALSE(is_spilled(first));
  EXPECT_EQ(as<blob>(reading), make_blob(512 * KiB, 7));
}

TEST_F(ObjectStore, NonSerializableValueIsNeverSpilled) {
  make_store(1 * MiB);
  unspillable big;
  big.tag = 5;
  auto* opaque = keep(store().create_ready(actors::detail::box(big)));
  std::vector<object_cell*> later;
  for (int i = 0; i < 3; ++i)
    later.push_back(keep(store().create_ready(actors::detail::box(make_blob(512 * KiB, i)))));

  EXPECT_FALSE(is_spilled(opaque));
  EXPECT_TRUE(in_memory(opaque));
  EXPECT_GT(store().stats().spilled_objects, 0u);
  EXPECT_EQ(as<unspillable>(store().value(opaque, actors::detail::ops_of<unspillable>())).tag, 5);
}

TEST_F(ObjectStore, ValueThatNothingCanMakeRoomForIsRefusedWhenNothingCanSpill) {
  make_store(1 * MiB);
  unspillable first;
  first.tag = 1;
  auto* kept = keep(store().create_ready(actors::detail::box(first)));
  ASSERT_EQ(kept->current(), object_cell::state::ready);
  unspillable second;
  second.tag = 2;
  auto* refused = keep(store().create_ready(actors::detail::box(second)));

  ASSERT_EQ(refused->current(), object_cell::state::failed);
  EXPECT_EQ(refused->why->code, actors::errc::object_store_full);
  EXPECT_NE(refused->why->message.find("in use by a running task or reader, or has no encoding"), std::string::npos)
    << refused->why->message;
  EXPECT_NE(refused->why->message.find("has no encoding, so it cannot go to disk"), std::string::npos)
    << refused->why->message;
  auto s = store().stats();
  EXPECT_LE(s.bytes_in_memory, limit()) << "the refused value is still counted";
  EXPECT_EQ(dir_.file_count(), 0u);
  EXPECT_EQ(as<unspillable>(store().value(kept, actors::detail::ops_of<unspillable>())).tag, 1);
}

TEST_F(ObjectStore, ValueLargerThanTheLimitGoesStraightToDisk) {
  make_store(1 * MiB);
  auto* small = keep(store().create_ready(actors::detail::box(make_blob(100 * KiB, 1))));
  auto* big = keep(store().create_ready(actors::detail::box(make_blob(2 * MiB, 2))));
  ASSERT_EQ(big->current(), object_cell::state::ready);
  EXPECT_TRUE(is_spilled(big));
  EXPECT_FALSE(is_spilled(small)) << "an older value was spilled for a value that could never fit";
  EXPECT_EQ(dir_.file_count(), 1u);
  EXPECT_EQ(as<blob>(store().value(big, actors::detail::ops_of<blob>())), make_blob(2 * MiB, 2));
}

// The spill directory's path runs through a regular file: every open fails with
// ENOTDIR, as root too (where permissions do not stop writes).
TEST_F(ObjectStore, PutIsRefusedWithTheReasonWhenTheSpillDirectoryCannotTakeFiles) {
  auto blocker = dir_.path() / "not-a-directory";
  { std::ofstream(blocker) << "x"; }
  auto spill = blocker / "spill";
  store_.reset();
  store_ = std::make_unique<object_store>(actors::node_id{0x5151}, 1 * MiB, spill);
  limit_ = 1 * MiB;
  auto* a = keep(store().create_ready(actors::detail::box(make_blob(400 * KiB, 1))));
  auto* b = keep(store().create_ready(actors::detail::box(make_blob(400 * KiB, 2))));
  auto* c = keep(store().create_ready(actors::detail::box(make_blob(400 * KiB, 3))));

  ASSERT_EQ(c->current(), object_cell::state::failed);
  const auto& text = c->why->message;
  EXPECT_EQ(c->why->code, actors::errc::object_store_full);
  EXPECT_NE(text.find("node " + actors::node_id{0x5151}.to_string()), std::string::npos) << text;
  EXPECT_NE(text.find("spill directory " + spill.string() + ": Not a directory"), std::string::npos) << text;
  EXPECT_NE(text.find("limit of " + std::to_string(1 * MiB)), std::string::npos) << text;
  EXPECT_NE(text.find("Raise --object-store-bytes"), std::string::npos) << text;
  EXPECT_EQ(store().stats().refused_total, 1u);
  // What was stored stays readable; the store is within its limit.
  EXPECT_EQ(as<blob>(store().value(a, actors::detail::ops_of<blob>())), make_blob(400 * KiB, 1));
  EXPECT_EQ(as<blob>(store().value(b, actors::detail::ops_of<blob>())), make_blob(400 * KiB, 2));
  EXPECT_LE(store().stats().bytes_in_memory, limit());
  // A value that fits is still taken.
  auto* d = keep(store().create_ready(actors::detail::box(make_blob(10 * KiB, 4))));
  EXPECT_EQ(d->current(), object_cell::state::ready);
}

// A file-size limit makes spill writes fail part way (EFBIG once SIGXFSZ is
// ignored, as nodes do): the partly written files must go.
TEST_F(ObjectStore, PartlyWrittenSpillFilesAreRemoved) {
  make_store(1 * MiB);
  auto* a = keep(store().create_ready(actors::detail::box(make_blob(400 * KiB, 1))));
  auto* b = keep(store().create_ready(actors::detail::box(make_blob(400 * KiB, 2))));
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit old_limit{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  rlimit small = old_limit;
  small.rlim_cur = 100 * KiB;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  auto* c = keep(store().create_ready(actors::detail::box(make_blob(400 * KiB, 3))));
  auto* huge = keep(store().create_ready(actors::detail::box(make_blob(3 * MiB, 4))));
  setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);

  ASSERT_EQ(c->current(), object_cell::state::failed);
  EXPECT_NE(c->why->message.find("File too large"), std::string::npos) << c->why->message;
  ASSERT_EQ(huge->current(), object_cell::state::failed);
  EXPECT_NE(huge->why->message.find("larger than the limit"), std::string::npos) << huge->why->message;
  EXPECT_EQ(dir_.file_count(), 0u) << "a partly written spill file was left behind";
  EXPECT_EQ(as<blob>(store().value(a, actors::detail::ops_of<blob>())), make_blob(400 * KiB, 1));
  EXPECT_EQ(as<blob>(store().value(b, actors::detail::ops_of<blob>())), make_blob(400 * KiB, 2));
  // With the disk usable again, spilling works as before.
  auto* d = keep(store().create_ready(actors::detail::box(make_blob(400 * KiB, 5))));
  EXPECT_EQ(d->current(), object_cell::state::ready);
  EXPECT_EQ(dir_.file_count(), 1u);
}

// Out of file descriptors, no spill file can be opened: the put is refused with
// the reason, and works again once descriptors free up.
TEST_F(ObjectStore, PutIsRefusedWhenTheProcessIsOutOfFileDescriptors) {
  make_store(1 * MiB);
  auto* a = keep(store().create_ready(actors::detail::box(make_blob(400 * KiB, 1))));
  auto* b = keep(store().create_ready(actors::detail::box(make_blob(400 * KiB, 2))));
  rlimit old_limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old_limit), 0);
  std::vector<int> held;
  for (;;) {
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      break;
    held.push_back(fd);
    if (held.size() == 1) {
      // Few descriptors above the ones open now, so the loop ends soon.
      rlimit low = old_limit;
      low.rlim_cur = static_cast<rlim_t>(fd + 8);
      ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    }
  }
  auto* c = keep(store().create_ready(actors::detail::box(make_blob(400 * KiB, 3))));
  for (int fd : held)
    ::close(fd);
  setrlimit(RLIMIT_NOFILE, &old_limit);

  ASSERT_EQ(c->current(), object_cell::state::failed);
  EXPECT_NE(c->why->message.find("Too many open files"), std::string::npos) << c->why->message;
  EXPECT_EQ(dir_.file_count(), 0u);
  EXPECT_EQ(as<blob>(store().value(a, actors::detail::ops_of<blob>())), make_blob(400 * KiB, 1));
  EXPECT_EQ(as<blob>(store().value(b, actors::detail::ops_of<blob>())), make_blob(400 * KiB, 2));
  auto* d = keep(store().create_ready(actors::detail::box(make_blob(400 * KiB, 4))));
  EXPECT_EQ(d->current(), object_cell::state::ready);
}

TEST_F(ObjectStore, AnEncodingFromAnotherNodeThatNoRoomCanBeMadeForGoesToDiskAsItCame) {
  make_store(1 * MiB);
  unspillable u;
  auto* held = keep(store().create_ready(actors::detail::box(u)));
  ASSERT_EQ(held->current(), object_cell::state::ready);
  auto* arriving = keep(store().create_pending());
  const auto sent = make_blob(600 * KiB, 7);
  EXPECT_TRUE(store().settle_encoded(arriving, actors::detail::ops_of<blob>()->name, actors::detail::encode(sent)));
  ASSERT_EQ(arriving->current(), object_cell::state::ready) << (arriving->why ? arriving->why->message : "");
  EXPECT_TRUE(is_spilled(arriving));
  EXPECT_EQ(dir_.file_count(), 1u);
  auto s = store().stats();
  EXPECT_LE(s.bytes_in_memory, limit());
  EXPECT_EQ(s.spilled_objects, 1u);
  EXPECT_EQ(s.refused_total, 0u);
  // Read back, it is the value that was sent; the file goes with the cell.
  EXPECT_EQ(as<blob>(store().value(arriving, actors::detail::ops_of<blob>())), sent);
}

TEST_F(ObjectStore, AnEncodingOfATypeThisNodeDoesNotKnowIsRefusedWhenNoRoomCanBeMade) {
  make_store(1 * MiB);
  unspillable u;
  auto* held = keep(store().create_ready(actors::detail::box(u)));
  ASSERT_EQ(held->current(), object_cell::state::ready);
  auto* arriving = keep(store().create_pending());
  EXPECT_TRUE(store().settle_encoded(arriving, "no_such_type_here", std::string(600 * KiB, 'x')));
  ASSERT_EQ(arriving->current(), object_cell::state::failed);
  EXPECT_EQ(arriving->why->code, actors::errc::object_store_full);
  EXPECT_NE(arriving->why->message.find("no_such_type_here, is of a type this node does not know"), std::string::npos)
    << arriving->why->message;
  EXPECT_LE(store().stats().bytes_in_memory, limit());
  EXPECT_EQ(dir_.file_count(), 0u);
}

// -- settling --------------------------------------------------------------------------------

TEST_F(ObjectStore, SettleTwiceReturnsFalseTheSecondTime) {
  auto* c = keep(store().create_pending());
  EXPECT_EQ(c->current(), object_cell::state::pending);
  EXPECT_TRUE(store().settle(c, actors::detail::box(1)));
  EXPECT_FALSE(store().settle(c, actors::detail::box(2)));
  EXPECT_FALSE(store().settle(c, actors::detail::failure{actors::errc::cancelled, "late", {}, {}}));
  EXPECT_EQ(c->current(), object_cell::state::ready);
  EXPECT_EQ(as<int>(store().value(c, actors::detail::ops_of<int>())), 1);
}

TEST_F(ObjectStore, SettleWithFailureThenValueKeepsTheFailure) {
  auto* c = keep(store().create_pending());
  EXPECT_TRUE(store().settle(c, actors::detail::failure{actors::errc::cancelled, "stop", {}, {}}));
  EXPECT_FALSE(store().settle(c, actors::detail::box(3)));
  EXPECT_EQ(c->current(), object_cell::state::failed);
  ASSERT_TRUE(c->why);
  EXPECT_EQ(c->why->code, actors::errc::cancelled);
  EXPECT_EQ(c->why->message, "stop");
  EXPECT_EQ(store().stats().bytes_in_memory, 0u);
}

TEST_F(ObjectStore, OnSettledCallbacksRunOnceWhenSettled) {
  auto* c = keep(store().create_pending());
  int first = 0;
  int second = 0;
  c->on_settled([&] { ++first; });
  c->on_settled([&] { ++second; });
  EXPECT_EQ(first, 0);
  EXPECT_EQ(second, 0);
  ASSERT_TRUE(store().settle(c, actors::detail::box(std::string("done"))));
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 1);
  EXPECT_FALSE(store().settle(c, actors::detail::box(std::string("again"))));
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 1);
}

TEST_F(ObjectStore, OnSettledRunsAtOnceWhenAlreadySettled) {
  auto* ready = keep(store().create_ready(actors::detail::box(1)));
  auto* failed = keep(store().create_failed(actors::detail::failure{actors::errc::object_lost, "gone", {}, {}}));
  int calls = 0;
  ready->on_settled([&] { ++calls; });
  EXPECT_EQ(calls, 1);
  failed->on_settled([&] { ++calls; });
  EXPECT_EQ(calls, 2);
}

TEST_F(ObjectStore, OnSettledCallbackRunsOnceWhenSettledWithFailure) {
  auto* c = keep(store().create_pending());
  std::atomic<int> calls{0};
  c->on_settled([&] { ++calls; });
  ASSERT_TRUE(store().settle(c, actors::detail::failure{actors::errc::task_failed, "boom", "f", "n"}));
  EXPECT_FALSE(store().settle(c, actors::detail::failure{actors::errc::cancelled, "x", {}, {}}));
  EXPECT_EQ(calls.load(), 1);
}

// -- values in another node's shared memory -------------------------------------------------

TEST_F(ObjectStore, SettleSharedReadsFromTheMappingWithoutCountingIt) {
  // The segment of another node of this host: its store counts the bytes.
  shm_registry holder(actors::node_id{0x7777});
  const blob b = make_blob(3 * MiB + 5, 11);
  auto mapping = segment_of(holder, actors::detail::encode(b));
  auto* c = keep(store().create_pending());
  ASSERT_TRUE(store().settle_shared(c, actors::detail::ops_of<blob>()->name, mapping));
  EXPECT_EQ(c->current(), object_cell::state::ready);
  EXPECT_FALSE(object_store::held_elsewhere(c, actors::detail::ops_of<blob>()));
  EXPECT_EQ(store().stats().bytes_in_memory, 0u);
  EXPECT_FALSE(store().settle_shared(c, actors::detail::ops_of<blob>()->name, mapping));

  // A read of the wrong type is refused and leaves the bytes as they are.
  try {
    (void)store().value(c, actors::detail::ops_of<std::string>());
    FAIL() << "a blob in shared memory was read as a string";
  } catch (const actors::error& e) {
    EXPECT_EQ(e.code(), actors::errc::type_mismatch) << e.what();
  }

  // The holder unlinks the segment: a mapping made before stays readable.
  holder.remove(mapping->name());
  EXPECT_FALSE(in_dev_shm(mapping->name()));
  auto v = store().value(c, actors::detail::ops_of<blob>());
  EXPECT_EQ(as<blob>(v), b);
  // The value decoded from the mapping is this node's, and counts.
  EXPECT_EQ(store().stats().bytes_in_memory, actors::detail::byte_size(b));
  EXPECT_EQ(store().value(c, actors::detail::ops_of<blob>()).get(), v.get());
  drop(c);
  EXPECT_EQ(store().stats().bytes_in_memory, 0u);
}

TEST_F(ObjectStore, FillSharedGivesACellHeldElsewhereItsBytes) {
  shm_registry holder(actors::node_id{0x7777});
  const blob b = make_blob(2 * MiB, 12);
  auto* c = cell_held_elsewhere(1, 2 * MiB);
  EXPECT_TRUE(object_store::held_elsewhere(c, actors::detail::ops_of<blob>()));

  store().fill_shared(c, segment_of(holder, actors::detail::encode(b)));
  EXPECT_FALSE(object_store::held_elsewhere(c, actors::detail::ops_of<blob>()));
  EXPECT_EQ(store().stats().bytes_in_memory, 0u);
  EXPECT_EQ(as<blob>(store().value(c, actors::detail::ops_of<blob>())), b);

  // Once the cell has its value, a second fill changes nothing.
  auto before = store().value(c, actors::detail::ops_of<blob>()).get();
  store().fill_shared(c, segment_of(holder, actors::detail::encode(make_blob(10, 1))));
  EXPECT_EQ(store().value(c, actors::detail::ops_of<blob>()).get(), before);
}

TEST_F(ObjectStore, FillValueGivesACellHeldElsewhereTheValueItselfIfItIsOfItsType) {
  const blob b = make_blob(2 * MiB, 13);
  auto* c = cell_held_elsewhere(2, 2 * MiB);
  auto box = actors::detail::box(blob(b));
  const void* received = box.value.get();
  ASSERT_TRUE(store().fill_value(c, box));
  EXPECT_FALSE(object_store::held_elsewhere(c, actors::detail::ops_of<blob>()));
  // Read as it is, not decoded or copied, and counted at its size.
  EXPECT_EQ(store().value(c, actors::detail::ops_of<blob>()).get(), received);
  EXPECT_EQ(store().stats().bytes_in_memory, actors::detail::byte_size(b));

  // A value of another type than the holder named is refused and changes nothing.
  auto* other = cell_held_elsewhere(3, 2 * MiB);
  EXPECT_FALSE(store().fill_value(other, actors::detail::box(std::string("not a blob"))));
  EXPECT_TRUE(object_store::held_elsewhere(other, actors::detail::ops_of<blob>()));
  EXPECT_EQ(store().stats().bytes_in_memory, actors::detail::byte_size(b));
}

TEST_F(ObjectStore, CopiesOfOtherNodesValuesAreDroppedToMakeRoomUnlessInUse) {
  make_store(5 * MiB);
  // Three copies of 2 MiB, each filled as a fetch does: as a value, as bytes.
  auto* a = cell_held_elsewhere(4, 2 * MiB);
  auto* b = cell_held_elsewhere(5, 2 * MiB);
  auto* c = cell_held_elsewhere(6, 2 * MiB);
  auto box = actors::detail::box(make_blob(2 * MiB, 4));
  ASSERT_TRUE(store().fill_value(a, box));
  box = {};
  EXPECT_NE(store().fill(b, actors::detail::encode(make_blob(2 * MiB, 5))), nullptr);
  // `b` is held (as a reader who waited for the fetch holds it); `a` is not.
  auto held_b = store().fill(c, actors::detail::encode(make_blob(2 * MiB, 6)));
  ASSERT_NE(held_b, nullptr);
  // Filling `c` took the store over its limit: the oldest copy nobody uses went.
  EXPECT_TRUE(object_store::held_elsewhere(a, actors::detail::ops_of<blob>()));
  EXPECT_FALSE(object_store::held_elsewhere(b, actors::detail::ops_of<blob>()));
  EXPECT_FALSE(object_store::held_elsewhere(c, actors::detail::ops_of<blob>()));
  auto s = store().stats();
  EXPECT_LE(s.bytes_in_memory, limit());
  EXPECT_GE(s.dropped_copy_bytes_total, 2 * MiB);
  EXPECT_EQ(s.spilled_objects, 0u) << "a copy went to disk";

  // A value put here pushes out the copies nobody uses; one being read stays.
  auto reading = store().value(b, actors::detail::ops_of<blob>());
  held_b.reset();
  auto* mine = keep(store().create_ready(actors::detail::box(make_blob(2 * MiB, 7))));
  ASSERT_NE(mine->current(), object_cell::state::failed);
  EXPECT_FALSE(object_store::held_elsewhere(b, actors::detail::ops_of<blob>()));
  EXPECT_TRUE(object_store::held_elsewhere(c, actors::detail::ops_of<blob>()));
  EXPECT_LE(store().stats().bytes_in_memory, limit());
  EXPECT_EQ(as<blob>(reading), make_blob(2 * MiB, 5));

  // A dropped copy is filled again by the next fetch, and reads right.
  ASSERT_TRUE(store().fill_value(a, actors::detail::box(make_blob(2 * MiB, 4))));
  EXPECT_EQ(as<blob>(store().value(a, actors::detail::ops_of<blob>())), make_blob(2 * MiB, 4));
  // Reading a dropped copy without a fetch says who holds it.
  try {
    (void)store().value(c, actors::detail::ops_of<blob>());
    ADD_FAILURE() << "a dropped copy was read";
  } catch (const actors::object_lost_error& e) {
    EXPECT_NE(std::string(e.what()).find("held by node"), std::string::npos) << e.what();
  }
}

TEST_F(ObjectStore, ACellStandingForAValueHeldHereReadsItThereAndDoesNotKeepItFromSpilling) {
  make_store(5 * MiB);
  const blob b = make_blob(2 * MiB, 8);
  auto* held = keep(store().create_ready(actors::detail::box(b)));
  // Another id for the same object, as a task request names it: it keeps the
  // holding cell, not its value.
  auto* alias = keep(store().create_pending());
  actors::detail::retain(held);
  object_cell::remote_copy where;
  where.node = actors::node_id{0x5151};
  where.id = held->id;
  where.type_name = actors::detail::ops_of<blob>()->name;
  where.size = 2 * MiB;
  where.here = held;
  ASSERT_TRUE(store().settle_remote(alias, where));
  EXPECT_EQ(object_store::held_here(alias), held);
  EXPECT_FALSE(object_store::held_elsewhere(alias, actors::detail::ops_of<blob>()));
  EXPECT_EQ(store().stats().bytes_in_memory, actors::detail::byte_size(b)) << "counted twice";
  EXPECT_EQ(store().value(alias, actors::detail::ops_of<blob>()).get(),
            store().value(held, actors::detail::ops_of<blob>()).get());

  // Newer values push the held one to disk although the alias lives; read
  // through the alias, it comes back.
  keep(store().create_ready(actors::detail::box(make_blob(2 * MiB, 9))));
  keep(store().create_ready(actors::detail::box(make_blob(2 * MiB, 10))));
  EXPECT_TRUE(is_spilled(held));
  EXPECT_EQ(as<blob>(store().value(alias, actors::detail::ops_of<blob>())), b);
  EXPECT_LE(store().stats().bytes_in_memory, limit());

  // The alias keeps the holding cell until it goes itself.
  const auto objects = store().stats().objects;
  drop(held);
  EXPECT_EQ(store().stats().objects, objects) << "the holding cell went while the alias lived";
  drop(alias);
  EXPECT_EQ(store().stats().objects, objects - 2);
}

// -- sharing this node's values ------------------------------------------------------------

/// The bytes of segment `name`, mapped anew, or empty if it cannot be opened.
std::string segment_bytes(const std::string& name) {
  auto m = actors::runtime::open_shm_segment(name);
  if (!m)
    return {};
  return std::string(reinterpret_cast<const char*>(m->data()), m->size());
}

TEST_F(ObjectStore, ShareMakesOneSegmentPerValueUntilTheCellIsFreed) {
  const blob b = make_blob(3 * MiB + 1, 21);
  const auto encoded = actors::detail::encode(b);
  auto* c = keep(store().create_ready(actors::detail::box(b)));
  auto first = store().share(c);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->type_name, actors::detail::ops_of<blob>()->name);
  EXPECT_EQ(first->size, encoded.size());
  EXPECT_TRUE(in_dev_shm(first->segment));
  EXPECT_TRUE(segment_bytes(first->segment) == encoded);

  // Encoded once: a second call gives the same segment, and no other is made.
  auto second = store().share(c);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->segment, first->segment);
  EXPECT_EQ(own_segments(), std::vector<std::string>{first->segment});

  // The segment counts against the limit, on top of the value it copies.
  EXPECT_EQ(store().stats().bytes_in_memory, actors::detail::byte_size(b) + encoded.size());
  // Reads here still share the value itself.
  EXPECT_EQ(&as<blob>(store().value(c, actors::detail::ops_of<blob>())),
            &as<blob>(store().value(c, actors::detail::ops_of<blob>())));

  // A mapping made before the cell is freed stays readable after.
  auto mapped = actors::runtime::open_shm_segment(first->segment);
  ASSERT_TRUE(mapped);
  drop(c);
  EXPECT_FALSE(in_dev_shm(first->segment));
  EXPECT_EQ(store().stats().bytes_in_memory, 0u);
  EXPECT_EQ(std::memcmp(mapped->data(), encoded.data(), encoded.size()), 0);
}

TEST_F(ObjectStore, ShareWritesTheEncodingOfEveryKindOfValue) {
  // A vector of arithmetic values is encoded straight into its segment, other
  // values into a string first: the segment holds the same bytes either way.
  const std::vector<double> doubles(200'000, 2.5);
  const std::vector<std::string> strings(20'000, std::string(10, 's'));
  const std::pair<object_cell*, std::string> values[] = {
    {keep(store().create_ready(actors::detail::box(doubles))), actors::detail::encode(doubles)},
    {keep(store().create_ready(actors::detail::box(strings))), actors::detail::encode(strings)},
  };
  for (const auto& [c, expect] : values) {
    auto shared = store().share(c);
    ASSERT_TRUE(shared);
    EXPECT_EQ(shared->size, expect.size());
    EXPECT_TRUE(segment_bytes(shared->segment) == expect) << shared->type_name;
  }
}

TEST_F(ObjectStore, SegmentsGoWhenTheStoreIsDestroyed) {
  auto* a = keep(store().create_ready(actors::detail::box(make_blob(2 * MiB, 22))));
  auto* b = keep(store().create_ready(actors::detail::box(make_blob(2 * MiB, 23))));
  auto sa = store().share(a);
  auto sb = store().share(b);
  ASSERT_TRUE(sa && sb);
  EXPECT_NE(sa->segment, sb->segment);
  // The cells outlive the store (references kept past shutdown): the segments do not.
  store_.reset();
  EXPECT_FALSE(in_dev_shm(sa->segment));
  EXPECT_FALSE(in_dev_shm(sb->segment));
}

TEST_F(ObjectStore, ShareOfAValueBelowTheThresholdGivesNothing) {
  // A blob encodes as its length (8 bytes) and its bytes.
  auto* below = keep(store().create_ready(actors::detail::box(make_blob(shared_memory_threshold - 9, 24))));
  auto* at = keep(store().create_ready(actors::detail::box(make_blob(shared_memory_threshold - 8, 25))));
  auto* small = keep(store().create_ready(actors::detail::box(std::string("small"))));
  EXPECT_FALSE(store().share(below));
  EXPECT_FALSE(store().share(small));
  EXPECT_EQ(own_segments(), std::vector<std::string>{});
  auto shared = store().share(at);
  ASSERT_TRUE(shared);
  EXPECT_EQ(shared->size, shared_memory_threshold);
}

TEST_F(ObjectStore, ShareOfWhatIsNotHereGivesNothing) {
  unspillable u;
  auto* no_encoding = keep(store().create_ready(actors::detail::box(u)));
  auto* pending = keep(store().create_pending());
  auto* failed = keep(store().create_failed(actors::detail::failure{actors::errc::task_failed, "x", {}, {}}));
  EXPECT_FALSE(store().share(no_encoding));
  EXPECT_FALSE(store().share(pending));
  EXPECT_FALSE(store().share(failed));

  // Bytes mapped from another node's segment are that node's to share.
  shm_registry holder(actors::node_id{0x7777});
  auto* mapped = keep(store().create_pending());
  ASSERT_TRUE(store().settle_shared(mapped, actors::detail::ops_of<blob>()->name,
                                    segment_of(holder, actors::detail::encode(make_blob(2 * MiB, 26)))));
  EXPECT_FALSE(store().share(mapped));
  EXPECT_EQ(own_segments().size(), 1u); // the holder's only
}

// A file-size limit makes reserving the segment's memory fail (EFBIG), as a
// full /dev/shm does (ENOSPC): nothing is shared, and nothing is left behind.
TEST_F(ObjectStore, ShareGivesNothingWhenTheSegmentCannotBeMade) {
  const blob b = make_blob(2 * MiB, 34);
  auto* c = keep(store().create_ready(actors::detail::box(b)));
  const auto before = store().stats().bytes_in_memory;
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit old_limit{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  rlimit small = old_limit;
  small.rlim_cur = 1 * MiB;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  auto refused = store().share(c);
  setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);

  EXPECT_FALSE(refused);
  EXPECT_EQ(own_segments(), std::vector<std::string>{});
  EXPECT_EQ(store().stats().bytes_in_memory, before);
  EXPECT_EQ(as<blob>(store().value(c, actors::detail::ops_of<blob>())), b);
  // Once segments can be made again, the value is shared.
  EXPECT_TRUE(store().share(c));
}

TEST_F(ObjectStore, SharedValueCountsAgainstTheLimitAndSpillsWithItsSegment) {
  make_store(10 * MiB);
  const blob a = make_blob(3 * MiB, 27);
  auto* ca = keep(store().create_ready(actors::detail::box(a)));
  auto shared = store().share(ca);
  ASSERT_TRUE(shared);
  EXPECT_GE(store().stats().bytes_in_memory, 6 * MiB);
  auto mapped = actors::runtime::open_shm_segment(shared->segment);
  ASSERT_TRUE(mapped);

  // 6 MiB for a (value and segment) and 5 MiB more pass the limit: a spills,
  // value and segment, although 3 MiB alone would have been enough.
  auto* cb = keep(store().create_ready(actors::detail::box(make_blob(5 * MiB, 28))));
  ASSERT_EQ(cb->current(), object_cell::state::ready);
  EXPECT_TRUE(is_spilled(ca));
  EXPECT_FALSE(in_dev_shm(shared->segment));
  EXPECT_EQ(store().stats().bytes_in_memory, actors::detail::byte_size(make_blob(5 * MiB, 28)));
  // A reader that mapped it keeps reading it.
  EXPECT_EQ(std::memcmp(mapped->data(), actors::detail::encode(a).data(), mapped->size()), 0);

  // Restored from the spill file, byte for byte; sharing again makes a new segment.
  EXPECT_EQ(as<blob>(store().value(ca, actors::detail::ops_of<blob>())), a);
  EXPECT_FALSE(is_spilled(ca));
  auto again = store().share(ca);
  ASSERT_TRUE(again);
  EXPECT_NE(again->segment, shared->segment);
  EXPECT_LE(store().stats().bytes_in_memory, limit());
}

TEST_F(ObjectStore, ShareOfASpilledValueServesLocalReadsFromTheSegment) {
  make_store(7 * MiB);
  const blob a = make_blob(3 * MiB, 29);
  auto* ca = keep(store().create_ready(actors::detail::box(a)));
  auto* cb = keep(store().create_ready(actors::detail::box(make_blob(3 * MiB, 30))));
  auto* cc = keep(store().create_ready(actors::detail::box(make_blob(3 * MiB, 31))));
  ASSERT_TRUE(is_spilled(ca));
  auto file = spill_path_of(ca);
  drop(cb);
  ASSERT_FALSE(is_spilled(cc));

  // The spill file's bytes go into the segment, which is then the only copy.
  auto shared = store().share(ca);
  ASSERT_TRUE(shared);
  EXPECT_FALSE(is_spilled(ca));
  EXPECT_FALSE(fs::exists(file));
  EXPECT_FALSE(in_memory(ca));
  EXPECT_TRUE(segment_bytes(shared->segment) == actors::detail::encode(a));
  auto before_read = store().stats();
  EXPECT_EQ(before_read.spilled_objects, 0u);
  EXPECT_EQ(before_read.bytes_in_memory, actors::detail::byte_size(make_blob(3 * MiB, 31)) + shared->size);

  // A read here decodes from the segment, which stays for other processes.
  EXPECT_EQ(as<blob>(store().value(ca, actors::detail::ops_of<blob>())), a);
  EXPECT_TRUE(in_dev_shm(shared->segment));
  EXPECT_EQ(store().share(ca)->segment, shared->segment);
  // The value counts on top of the segment; past the limit, the older value spills.
  EXPECT_TRUE(is_spilled(cc));
  EXPECT_EQ(store().stats().bytes_in_memory, before_read.bytes_in_memory + actors::detail::byte_size(a)
                                               - actors::detail::byte_size(make_blob(3 * MiB, 31)));
  EXPECT_LE(store().stats().bytes_in_memory, limit());
}

TEST_F(ObjectStore, ShareOfAnEncodingMovesItIntoTheSegment) {
  const blob b = make_blob(2 * MiB, 32);
  auto* c = keep(store().create_pending());
  ASSERT_TRUE(store().settle_encoded(c, actors::detail::ops_of<blob>()->name, actors::detail::encode(b)));
  auto counted = store().stats().bytes_in_memory;
  auto shared = store().share(c);
  ASSERT_TRUE(shared);
  // The same bytes, now in the segment instead of a string.
  EXPECT_EQ(store().stats().bytes_in_memory, counted);
  EXPECT_EQ(as<blob>(store().value(c, actors::detail::ops_of<blob>())), b);
  drop(c);
  EXPECT_FALSE(in_dev_shm(shared->segment));
  EXPECT_EQ(store().stats().bytes_in_memory, 0u);
}

TEST_F(ObjectStore, KeepingTheEncodingOfASharedValueKeepsTheSegmentOnly) {
  const blob b = make_blob(2 * MiB, 35);
  auto* c = keep(store().create_ready(actors::detail::box(b)));
  auto shared = store().share(c);
  ASSERT_TRUE(shared);
  // The value kept for another node as its encoding: the segment is that encoding.
  store().keep_encoded(c, "unused: the segment holds the encoding");
  EXPECT_FALSE(in_memory(c));
  EXPECT_EQ(store().stats().bytes_in_memory, shared->size);
  EXPECT_EQ(as<blob>(store().value(c, actors::detail::ops_of<blob>())), b);
  EXPECT_EQ(store().stats().bytes_in_memory, shared->size + actors::detail::byte_size(b));
  drop(c);
  EXPECT_EQ(store().stats().bytes_in_memory, 0u);
  EXPECT_FALSE(in_dev_shm(shared->segment));
}

TEST_F(ObjectStore, ASharedValueIsReadByAnotherProcessOfTheHost) {
  const blob b = make_blob(5 * MiB + 3, 33);
  auto* c = keep(store().create_ready(actors::detail::box(b)));
  auto shared = store().share(c);
  ASSERT_TRUE(shared);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    // A second process of this host: only the segment's name crosses.
    ::alarm(30);
    auto m = actors::runtime::open_shm_segment(shared->segment);
    if (!m)
      ::_exit(2);
    auto value = actors::detail::ops_of<blob>()->decode(reinterpret_cast<const char*>(m->data()), m->size());
    const auto& got = *static_cast<const blob*>(value.get());
    ::_exit(got == make_blob(5 * MiB + 3, 33) ? 0 : 1);
  }
  ASSERT_GT(pid, 0) << std::strerror(errno);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      FAIL() << "the reading process did not finish in 30 s";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(WIFEXITED(status)) << "the reading process died of signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: the segment did not open; 1: it decoded to other bytes";
}

// -- published objects ------------------------------------------------------------------------

TEST_F(ObjectStore, PublishedObjectIsFoundByIdUntilFreed) {
  auto* c = store().create_ready(actors::detail::box(9));
  auto id = c->id;
  EXPECT_EQ(store().find(id), nullptr) << "an unpublished object is found by id";
  store().publish(c);
  auto* found = store().find(id);
  ASSERT_EQ(found, c);
  actors::detail::release(found); // find retained it
  actors::detail::release(c);
  EXPECT_EQ(store().find(id), nullptr);
}

// -- end to end through the public API ----------------------------------------------------------

TEST(ObjectStoreEndToEnd, PutBeyondTheLimitSpillsAndGetRestoresTransparently) {
  temp_dir dir;
  actors::init_options opts;
  opts.num_cpus = 2;
  opts.object_store_bytes = 4 * MiB;
  opts.spill_dir = dir.path().string();
  actors::init(opts);
  {
    std::vector<actors::object_ref<blob>> refs;
    for (int i = 0; i < 64; ++i)
      refs.push_back(actors::put(make_blob(256 * KiB, i)));
    EXPECT_GT(dir.file_count(), 0u) << "16 MiB of values in a 4 MiB store spilled nothing";

    for (int i = 0; i < 64; ++i) {
      auto v = actors::get(refs[static_cast<std::size_t>(i)]);
      ASSERT_EQ(v.size(), 256 * KiB) << "object " << i;
      EXPECT_EQ(v, make_blob(256 * KiB, i)) << "object " << i;
    }
    // And in reverse, now that restores have spilled others again.
    for (int i = 63; i >= 0; --i)
      EXPECT_EQ(actors::get(refs[static_cast<std::size_t>(i)]), make_blob(256 * KiB, i)) << "object " << i;
  }
  // With every reference gone, so are the spill files.
  EXPECT_EQ(dir.file_count(), 0u);
  actors::shutdown();
}

TEST(ObjectStoreEndToEnd, PutThrowsObjectStoreFullWhenTheSpillDirectoryIsGone) {
  temp_dir dir;
  auto spill = dir.path() / "spill";
  actors::init_options opts;
  opts.num_cpus = 2;
  opts.object_store_bytes = 1 * MiB;
  opts.spill_dir = spill.string();
  actors::init(opts);
  auto first = actors::put(make_blob(600 * KiB, 1));
  // The directory becomes a file under the running node.
  fs::remove_all(spill);
  { std::ofstream(spill) << "x"; }
  try {
    actors::put(make_blob(600 * KiB, 2));
    ADD_FAILURE() << "a put that neither fits nor spills did not throw";
  } catch (const actors::object_store_full_error& e) {
    EXPECT_NE(std::string(e.what()).find("Not a directory"), std::string::npos) << e.what();
  }
  EXPECT_EQ(actors::get(first), make_blob(600 * KiB, 1));
  EXPECT_EQ(actors::get(actors::put(make_blob(100 * KiB, 3))), make_blob(100 * KiB, 3));
  actors::shutdown();
}

} // namespace
