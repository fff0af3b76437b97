// get_span: the elements of a stored std::vector read where they lie, in an
// embedded runtime. A value in memory is read in place; a value whose bytes are
// in a shared-memory mapping (another node of this host) or a string (another
// node) is read straight from them when the encoding holds the elements raw and
// aligned, else decoded once. Spans keep their object alive; errors are get's.

#include "tests/support/runtime_fixture.hpp"
#include "tests/support/shm_segments.hpp"

#include "runtime/node/node.hpp"
#include "runtime/object_store/shared_memory.hpp"

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using actors::test::segment_of;
using actors::detail::object_cell;
using actors::runtime::shm_mapping;
using actors::runtime::shm_registry;

std::vector<std::int64_t> fail_to_make(std::int64_t n) {
  throw std::runtime_error("no vector of " + std::to_string(n) + " today");
}

std::vector<std::int64_t> make_iota(std::int64_t n) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), std::int64_t{0});
  return v;
}

struct point {
  std::int32_t x = 0;
  std::int32_t y = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & x & y;
  }
  friend bool operator==(const point&, const point&) = default;
};

} // namespace

ACTORS_REMOTE(fail_to_make, make_iota);

namespace {

// Only an object_ref of a std::vector has a span: anything else is refused at
// compile time.
template <class Ref>
concept spannable = requires(const Ref& r) { actors::get_span(r); };
static_assert(spannable<actors::object_ref<std::vector<std::int64_t>>>);
static_assert(spannable<actors::object_ref<std::vector<point>>>);
static_assert(!spannable<actors::object_ref<std::int64_t>>);
static_assert(!spannable<actors::object_ref<std::string>>);
static_assert(std::is_same_v<decltype(actors::get_span(std::declval<actors::object_ref<std::vector<double>>>())),
                             actors::shared_span<const double>>);

actors::runtime::object_store& store() {
  return actors::runtime::current_node()->store;
}

/// A reference to a new object of this node whose bytes are `mapping`, as if
/// another node of the host held it.
template <class T>
actors::object_ref<T> mapped_object(std::shared_ptr<const shm_mapping> mapping) {
  auto* cell = store().create_pending();
  if (!store().settle_shared(cell, actors::detail::ops_of<T>()->name, std::move(mapping)))
    throw std::logic_error("a new cell was settled already");
  return actors::object_ref<T>(cell, std::in_place);
}

bool decoded(const object_cell* cell) {
  std::lock_guard<std::mutex> guard{const_cast<object_cell*>(cell)->mu};
  return static_cast<bool>(cell->value.value);
}

bool points_into(const void* p, const std::byte* begin, std::size_t size) {
  auto* b = static_cast<const std::byte*>(p);
  return b >= begin && b < begin + size;
}

class Span : public actors::test::runtime_test {};

TEST_F(Span, APutVectorIsReadInPlace) {
  auto ref = actors::put(make_iota(1'000'000));
  auto span = actors::get_span(ref);
  ASSERT_EQ(span.size(), 1'000'000u);
  EXPECT_FALSE(span.empty());
  EXPECT_EQ(span.size_bytes(), 8'000'000u);
  EXPECT_EQ(span[0], 0);
  EXPECT_EQ(span[999'999], 999'999);
  EXPECT_EQ(span.back(), 999'999);
  EXPECT_TRUE(std::equal(span.begin(), span.end(), make_iota(1'000'000).begin()));
  // No copy: the span is over the stored vector's own elements.
  EXPECT_EQ(span.data(), actors::get_shared(ref)->data());
  EXPECT_EQ(span.view().data(), span.data());
}

TEST_F(Span, TheSpanKeepsTheObjectAfterTheLastReferenceGoes) {
  auto ref = actors::put(make_iota(100'000));
  const auto objects = store().stats().objects;
  auto span = actors::get_span(ref);
  const auto* first = span.data();
  ref = {};
  EXPECT_EQ(store().stats().objects, objects) << "the object was freed under its span";
  auto copy = span;
  span = {};
  EXPECT_EQ(copy.data(), first);
  EXPECT_EQ(copy[99'999], 99'999);
  copy = {};
  EXPECT_EQ(store().stats().objects, objects - 1) << "the last span did not let the object go";
}

TEST_F(Span, ATaskResultIsReadInPlace) {
  auto ref = actors::task(make_iota).remote(50'000);
  auto span = actors::get_span(ref);
  ASSERT_EQ(span.size(), 50'000u);
  EXPECT_EQ(span[49'999], 49'999);
  EXPECT_EQ(span.data(), actors::get_shared(ref)->data());
}

TEST_F(Span, AFailedTasksReferenceThrowsTheTaskError) {
  auto ref = actors::task(fail_to_make).max_retries(0).remote(3);
  try {
    (void)actors::get_span(ref);
    FAIL() << "get_span of a failed task's result did not throw";
  } catch (const actors::task_error& e) {
    EXPECT_NE(std::string(e.what()).find("no vector of 3 today"), std::string::npos) << e.what();
  }
}

TEST_F(Span, AnEmptyReferenceAndAnEmptyVector) {
  actors::object_ref<std::vector<double>> none;
  try {
    (void)actors::get_span(none);
    FAIL() << "get_span of an empty reference did not throw";
  } catch (const actors::error& e) {
    EXPECT_EQ(e.code(), actors::errc::invalid_argument) << e.what();
  }
  auto span = actors::get_span(actors::put(std::vector<double>{}));
  EXPECT_TRUE(span.empty());
  EXPECT_EQ(span.begin(), span.end());
}

TEST_F(Span, AReferenceReadAsAnotherVectorTypeIsATypeMismatch) {
  // Bytes holding an object_ref<std::vector<std::int64_t>> decoded as one of
  // another element type: the only way to get such a reference.
  auto ref = actors::put(make_iota(10));
  auto bytes = actors::detail::encode(ref);
  auto wrong = actors::detail::decode<actors::object_ref<std::vector<double>>>(bytes);
  try {
    (void)actors::get_span(wrong);
    FAIL() << "a vector of int64 was read as a span of double";
  } catch (const actors::error& e) {
    EXPECT_EQ(e.code(), actors::errc::type_mismatch) << e.what();
  }
}

TEST_F(Span, AVectorInAnotherNodesSegmentIsReadStraightFromTheMapping) {
  shm_registry holder(actors::node_id{0x7777});
  const auto v = make_iota(300'000);
  const auto encoded = actors::detail::encode(v);
  // Observed layout: the element count as 8 bytes, then the elements as in memory.
  ASSERT_EQ(encoded.size(), 8 + v.size() * sizeof(std::int64_t));
  auto mapping = segment_of(holder, encoded);
  auto ref = mapped_object<std::vector<std::int64_t>>(mapping);
  auto span = actors::get_span(ref);
  ASSERT_EQ(span.size(), v.size());
  EXPECT_EQ(reinterpret_cast<const std::byte*>(span.data()), mapping->data() + 8);
  EXPECT_TRUE(std::equal(span.begin(), span.end(), v.begin()));
  EXPECT_FALSE(decoded(ref.cell())) << "the span decoded the value instead of reading the mapping";

  // The span keeps the mapping after the reference is dropped and the holder
  // removes the segment.
  const auto* first = span.data();
  ref = {};
  mapping.reset();
  holder.shutdown();
  EXPECT_EQ(span.data(), first);
  EXPECT_EQ(span[299'999], 299'999);
}

TEST_F(Span, VectorsOfOtherArithmeticTypesReadFromTheMapping) {
  shm_registry holder(actors::node_id{0x7777});
  std::vector<double> d(1000);
  for (std::size_t i = 0; i < d.size(); ++i)
    d[i] = 0.5 * static_cast<double>(i);
  auto dm = segment_of(holder, actors::detail::encode(d));
  auto dspan = actors::get_span(mapped_object<std::vector<double>>(dm));
  EXPECT_EQ(reinterpret_cast<const std::byte*>(dspan.data()), dm->data() + 8);
  EXPECT_TRUE(std::equal(dspan.begin(), dspan.end(), d.begin()));

  std::vector<char> c{'s', 'h', 'm'};
  auto cm = segment_of(holder, actors::detail::encode(c));
  auto cspan = actors::get_span(mapped_object<std::vector<char>>(cm));
  EXPECT_EQ(reinterpret_cast<const std::byte*>(cspan.data()), cm->data() + 8);
  EXPECT_EQ(std::string(cspan.begin(), cspan.end()), "shm");
}

TEST_F(Span, MisalignedElementsAreDecodedOnce) {
  // A long double vector carries 5 bytes of class information before its count,
  // so its elements start at byte 13 of the mapping: not aligned for them.
  shm_registry holder(actors::node_id{0x7777});
  std::vector<long double> v{1.5L, -2.25L, 1e300L};
  auto mapping = segment_of(holder, actors::detail::encode(v));
  auto ref = mapped_object<std::vector<long double>>(mapping);
  auto span = actors::get_span(ref);
  EXPECT_FALSE(points_into(span.data(), mapping->data(), mapping->size()));
  // Compared by value: a long double's 6 padding bytes are not part of it.
  ASSERT_EQ(span.size(), v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    EXPECT_EQ(span[i], v[i]) << "element " << i;
  EXPECT_TRUE(decoded(ref.cell()));
  EXPECT_EQ(span.data(), actors::get_shared(ref)->data());
}

TEST_F(Span, OtherTriviallyCopyableElementsAreDecodedOnceIntoTheValue) {
  shm_registry holder(actors::node_id{0x7777});
  std::vector<point> v{{1, 2}, {3, 4}, {5, 6}};
  auto mapping = segment_of(holder, actors::detail::encode(v));
  auto ref = mapped_object<std::vector<point>>(mapping);
  auto span = actors::get_span(ref);
  ASSERT_EQ(span.size(), 3u);
  EXPECT_EQ(span[2], (point{5, 6}));
  EXPECT_EQ(span.data(), actors::get_shared(ref)->data());
  EXPECT_EQ(actors::get_span(ref).data(), span.data()) << "decoded twice";
}

TEST_F(Span, BytesFromAnotherNodeAreReadInPlace) {
  const auto v = make_iota(20'000);
  auto* cell = store().create_pending();
  ASSERT_TRUE(store().settle_encoded(cell, actors::detail::ops_of<std::vector<std::int64_t>>()->name,
                                     actors::detail::encode(v)));
  actors::object_ref<std::vector<std::int64_t>> ref(cell, std::in_place);
  std::string_view bytes;
  {
    std::lock_guard<std::mutex> guard{cell->mu};
    bytes = cell->encoded->view();
  }
  auto span = actors::get_span(ref);
  EXPECT_EQ(reinterpret_cast<const char*>(span.data()), bytes.data() + 8);
  EXPECT_FALSE(decoded(cell));
  // A later get decodes the value; the span still holds the bytes it reads.
  EXPECT_EQ(actors::get(ref), v);
  EXPECT_TRUE(decoded(cell));
  EXPECT_EQ(reinterpret_cast<const char*>(span.data()), bytes.data() + 8);
  EXPECT_TRUE(std::equal(span.begin(), span.end(), v.begin()));
}

class SpanOfSpilledValues : public actors::test::runtime_test {
 protected:
  actors::init_options options() const override {
    auto o = runtime_test::options();
    o.object_store_bytes = 4 << 20;
    return o;
  }
};

TEST_F(SpanOfSpilledValues, ASpilledValueIsRestoredAndHeldInMemory) {
  auto a = actors::put(make_iota(300'000)); // 2.4 MB
  auto b = actors::put(make_iota(300'000));
  ASSERT_EQ(store().stats().spilled_objects, 1u);
  auto span = actors::get_span(a);
  EXPECT_EQ(span[299'999], 299'999);
  // While its span lives, a is held in memory: putting more spills b instead.
  auto c = actors::put(make_iota(300'000));
  EXPECT_EQ(span.data(), actors::get_shared(a)->data());
  EXPECT_EQ(span[123'456], 123'456);
}

} // namespace
