#pragma once

#include "runtime/object_store/shared_memory.hpp"

#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

namespace actors::test {

/// A sealed segment holding `bytes`, made by `registry` as another node of this
/// host would make it.
inline std::shared_ptr<const runtime::shm_mapping> segment_of(runtime::shm_registry& registry,
                                                              const std::string& bytes) {
  auto writer = registry.create(bytes.size());
  if (!writer)
    throw std::runtime_error(writer.error().message);
  std::memcpy(writer->data(), bytes.data(), bytes.size());
  auto sealed = writer->seal();
  if (!sealed)
    throw std::runtime_error(sealed.error().message);
  return std::make_shared<const runtime::shm_mapping>(std::move(*sealed));
}

} // namespace actors::test
