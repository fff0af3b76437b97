#include "runtime/object_store/shared_memory.hpp"

#include "runtime/common/log.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

namespace actors::runtime {

namespace {

// Where glibc's shm_open keeps its files. The orphan scan and host_id() look here
// directly; creating and opening go through shm_open.
constexpr const char* shm_dir = "/dev/shm";

// Numbers segment names in this process. Process-wide rather than per registry,
// so that two registries of one process never make the same name even with the
// same node id.
std::atomic<std::uint64_t> next_seq{1};

std::string errno_text(int code) {
  return std::strerror(code);
}

shm_error fail(int code, std::string message) {
  return shm_error{code, std::move(message)};
}

/// " (it belonged to node N, pid P)" for a name of this project, else empty.
std::string owner_clause(const std::string& name) {
  auto parsed = parse_shm_name(name);
  if (!parsed)
    return {};
  return " (it belonged to node " + parsed->node.to_string() + ", pid " + std::to_string(parsed->owner.pid)
         + ")";
}

/// FNV-1a, 64 bits: stable across processes, builds and compilers, which
/// std::hash does not promise.
std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

} // namespace

// --- names --------------------------------------------------------------------

std::string shm_name::to_string() const {
  std::string out = "/";
  out.append(shm_name_prefix).append(owner.to_string());
  out.append(".").append(node.to_string()).append(".").append(std::to_string(seq));
  return out;
}

std::optional<shm_name> parse_shm_name(std::string_view name) {
  if (!name.empty() && name.front() == '/')
    name.remove_prefix(1);
  if (!name.starts_with(shm_name_prefix))
    return std::nullopt;
  name.remove_prefix(shm_name_prefix.size());
  std::string_view parts[5];
  for (int i = 0; i < 5; ++i) {
    auto dot = name.find('.');
    if ((dot == std::string_view::npos) != (i == 4))
      return std::nullopt;
    parts[i] = name.substr(0, dot);
    name.remove_prefix(dot == std::string_view::npos ? name.size() : dot + 1);
  }
  // The owner is the first three parts, as process_identity::to_string writes it.
  auto owner = parse_process_identity(
    std::string_view(parts[0].data(), static_cast<std::size_t>(parts[2].data() + parts[2].size() - parts[0].data())));
  shm_name out;
  if (!owner || !parse_decimal(parts[4], out.seq))
    return std::nullopt;
  out.owner = *owner;
  // The node id exactly as node_id::to_string writes it.
  if (parts[3].size() != 16)
    return std::nullopt;
  for (char c : parts[3])
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return std::nullopt;
  std::from_chars(parts[3].data(), parts[3].data() + 16, out.node.value, 16);
  return out;
}

// --- mappings -----------------------------------------------------------------

shm_mapping::~shm_mapping() {
  if (data_)
    ::munmap(data_, size_);
}

shm_mapping::shm_mapping(shm_mapping&& other) noexcept
  : data_(std::exchange(other.data_, nullptr)),
    size_(std::exchange(other.size_, 0)),
    name_(std::move(other.name_)),
    device_(std::exchange(other.device_, 0)),
    inode_(std::exchange(other.inode_, 0)) {}

shm_mapping& shm_mapping::operator=(shm_mapping&& other) noexcept {
  if (this != &other) {
    if (data_)
      ::munmap(data_, size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    name_ = std::move(other.name_);
    device_ = std::exchange(other.device_, 0);
    inode_ = std::exchange(other.inode_, 0);
  }
  return *this;
}

bool shm_mapping::copy_out(std::size_t offset, void* out, std::size_t n) const {
  if (offset > size_ || n > size_ - offset)
    return false;
  if (n == 0)
    return true;
  auto* to = static_cast<char*>(out);
  int fd = data_ ? ::shm_open(name_.c_str(), O_RDONLY | O_CLOEXEC, 0) : -1;
  struct stat st {};
  if (fd >= 0 && ::fstat(fd, &st) == 0 && st.st_dev == device_ && st.st_ino == inode_) {
    while (n > 0) {
      ssize_t got = ::pread(fd, to, n, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        break; // the rest through the mapping, which holds the same bytes
      to += got;
      offset += static_cast<std::size_t>(got);
      n -= static_cast<std::size_t>(got);
    }
  }
  if (fd >= 0)
    ::close(fd);
  if (n > 0)
    std::memcpy(to, data_ + offset, n);
  return true;
}

shm_writer::~shm_writer() {
  reset();
}

shm_writer::shm_writer(shm_writer&& other) noexcept
  : data_(std::exchange(other.data_, nullptr)),
    size_(std::exchange(other.size_, 0)),
    name_(std::move(other.name_)),
    fd_(std::exchange(other.fd_, -1)),
    registry_(std::exchange(other.registry_, nullptr)) {}

shm_writer& shm_writer::operator=(shm_writer&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    name_ = std::move(other.name_);
    fd_ = std::exchange(other.fd_, -1);
    registry_ = std::exchange(other.registry_, nullptr);
  }
  return *this;
}

void shm_writer::reset() noexcept {
  if (fd_ < 0)
    return;
  // Dropped unsealed: the value was never finished, so nobody may read it.
  if (data_)
    ::munmap(data_, size_);
  ::close(fd_);
  if (registry_)
    registry_->remove(name_);
  else
    unlink_shm_segment(name_);
  data_ = nullptr;
  size_ = 0;
  fd_ = -1;
  registry_ = nullptr;
}

std::optional<shm_error> shm_writer::write(std::size_t offset, const void* bytes, std::size_t n) {
  if (fd_ < 0)
    return fail(EINVAL, "cannot write into an empty shared-memory writer");
  if (offset > size_ || n > size_ - offset)
    return fail(EINVAL, "cannot write " + std::to_string(n) + " bytes at offset " + std::to_string(offset)
                          + " into shared-memory segment " + name_ + " of " + std::to_string(size_) + " bytes");
  const auto* from = static_cast<const char*>(bytes);
  while (n > 0) {
    ssize_t wrote = ::pwrite(fd_, from, n, static_cast<off_t>(offset));
    if (wrote < 0 && errno == EINTR)
      continue;
    if (wrote <= 0) {
      int e = wrote < 0 ? errno : EIO;
      return fail(e, "cannot write into shared-memory segment " + name_ + ": " + errno_text(e));
    }
    from += wrote;
    offset += static_cast<std::size_t>(wrote);
    n -= static_cast<std::size_t>(wrote);
  }
  return std::nullopt;
}

std::byte* shm_writer::data() noexcept {
  if (!data_ && fd_ >= 0) {
    // Every page is written next: mapped here in one go rather than by a fault
    // per page as the writer reaches it.
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, 0);
    if (p != MAP_FAILED)
      data_ = static_cast<std::byte*>(p);
  }
  return data_;
}

shm_expected<shm_mapping> shm_writer::seal() {
  if (fd_ < 0)
    return fail(EINVAL, "cannot seal an empty shared-memory writer");
  const bool mapped_here = !data_;
  if (mapped_here) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      return fail(e, "cannot map shared-memory segment " + name_ + ": " + errno_text(e));
    }
    data_ = static_cast<std::byte*>(p);
  } else if (::mprotect(data_, size_, PROT_READ) != 0) {
    int e = errno;
    return fail(e, "cannot make shared-memory segment " + name_ + " read-only: " + errno_text(e));
  }
  // The mode is what tells other processes the segment is complete (see
  // open_shm_segment), and it keeps them from opening it writable.
  if (::fchmod(fd_, 0400) != 0) {
    int e = errno;
    if (mapped_here) {
      ::munmap(data_, size_);
      data_ = nullptr;
    } else {
      ::mprotect(data_, size_, PROT_READ | PROT_WRITE);
    }
    return fail(e, "cannot seal shared-memory segment " + name_ + ": " + errno_text(e));
  }
  struct stat st {};
  ::fstat(fd_, &st); // only to know the file again (copy_out): a failure costs that speed, nothing else
  ::close(fd_);
  shm_mapping sealed(data_, size_, std::move(name_), st.st_dev, st.st_ino);
  data_ = nullptr;
  size_ = 0;
  fd_ = -1;
  registry_ = nullptr;
  return sealed;
}

// --- segments -----------------------------------------------------------------

shm_expected<shm_writer> create_shm_segment(const std::string& name, std::size_t size) {
  if (size == 0)
    return fail(EINVAL, "cannot create shared-memory segment " + name + " of 0 bytes");
  int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    if (e == EEXIST)
      return fail(e, "shared-memory segment " + name + " exists already");
    if (e == EINVAL || e == ENAMETOOLONG)
      return fail(e, "'" + name + "' is not a valid shared-memory segment name: one '/', then up to 254 "
                     "characters without '/'");
    return fail(e, "cannot create shared-memory segment " + name + " in " + shm_dir + ": " + errno_text(e));
  }
  auto undo = [&](int e, std::string message) {
    ::close(fd);
    ::shm_unlink(name.c_str());
    return fail(e, std::move(message));
  };
  // shm_open applied the umask; the seal relies on the mode being exactly 0600
  // until then.
  if (::fchmod(fd, 0600) != 0) {
    int e = errno;
    return undo(e, "cannot set the mode of shared-memory segment " + name + ": " + errno_text(e));
  }
  // Reserve the pages now: tmpfs grows files sparsely, and a write into a page
  // that a full /dev/shm cannot back is a SIGBUS, not an error.
  if (::fallocate(fd, 0, 0, static_cast<off_t>(size)) != 0) {
    int e = errno;
    if (e == EOPNOTSUPP) {
      if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
        e = errno;
        return undo(e, "cannot size shared-memory segment " + name + ": " + errno_text(e));
      }
    } else if (e == ENOSPC || e == ENOMEM || e == EFBIG) {
      return undo(e, "no room for shared-memory segment " + name + " of " + std::to_string(size) + " bytes in "
                       + shm_dir + " (" + errno_text(e) + "): free objects or give " + shm_dir + " more room");
    } else {
      return undo(e, "cannot reserve " + std::to_string(size) + " bytes for shared-memory segment " + name + ": "
                       + errno_text(e));
    }
  }
  return shm_writer(size, name, fd);
}

shm_expected<shm_mapping> open_shm_segment(const std::string& name) {
  int fd = ::shm_open(name.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT)
      return fail(e, "shared-memory segment " + name + " does not exist: its value was freed, or the node that "
                       "made it died" + owner_clause(name) + "; fetch the object from its owner again");
    if (e == EINVAL || e == ENAMETOOLONG)
      return fail(e, "'" + name + "' is not a valid shared-memory segment name");
    return fail(e, "cannot open shared-memory segment " + name + ": " + errno_text(e));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return fail(e, "cannot read the size of shared-memory segment " + name + ": " + errno_text(e));
  }
  if ((st.st_mode & 0222) != 0) {
    ::close(fd);
    return fail(EAGAIN, "shared-memory segment " + name + " is not sealed yet: its value is still being written");
  }
  if (st.st_size <= 0) {
    ::close(fd);
    return fail(EINVAL, "shared-memory segment " + name + " is empty");
  }
  auto size = static_cast<std::size_t>(st.st_size);
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  int e = errno;
  // The mapping keeps the segment; the descriptor is not needed any more.
  ::close(fd);
  if (p == MAP_FAILED)
    return fail(e, "cannot map shared-memory segment " + name + " (" + std::to_string(size)
                     + " bytes): " + errno_text(e));
  return shm_mapping(static_cast<std::byte*>(p), size, name, st.st_dev, st.st_ino);
}

std::optional<shm_error> unlink_shm_segment(const std::string& name) {
  if (::shm_unlink(name.c_str()) == 0)
    return std::nullopt;
  int e = errno;
  if (e == ENOENT)
    return fail(e, "shared-memory segment " + name + " does not exist");
  return fail(e, "cannot unlink shared-memory segment " + name + ": " + errno_text(e));
}

std::size_t remove_orphaned_segments() {
  DIR* dir = ::opendir(shm_dir);
  if (!dir)
    return 0;
  // First the names that could be orphans; the owners are checked after the
  // scan, each pid once.
  std::vector<std::pair<std::string, shm_name>> candidates;
  while (dirent* entry = ::readdir(dir)) {
    std::string_view file = entry->d_name;
    if (!file.starts_with(shm_name_prefix))
      continue;
    if (auto parsed = parse_shm_name(file))
      candidates.emplace_back(std::string(file), *parsed);
  }
  if (candidates.empty()) {
    ::closedir(dir);
    return 0;
  }
  gone_processes owners;
  std::size_t removed = 0;
  std::uint64_t removed_bytes = 0;
  std::set<pid_t> dead_pids;
  for (auto& [file, name] : candidates) {
    if (!owners.gone(name.owner))
      continue;
    struct stat st {};
    bool sized = ::fstatat(::dirfd(dir), file.c_str(), &st, 0) == 0;
    if (::shm_unlink(("/" + file).c_str()) == 0) {
      ++removed;
      removed_bytes += sized ? static_cast<std::uint64_t>(st.st_size) : 0;
      dead_pids.insert(name.owner.pid);
    } else if (int e = errno; e != ENOENT) { // ENOENT: another process removed it first
      log(log_level::warning, "shm", "cannot remove orphaned shared-memory segment /", file, ": ",
          errno_text(e));
    }
  }
  ::closedir(dir);
  if (removed > 0) {
    std::string pids;
    for (pid_t p : dead_pids)
      pids += (pids.empty() ? "" : ", ") + std::to_string(p);
    log(log_level::warning, "shm", "removed ", removed, " shared-memory segment", removed == 1 ? "" : "s", " (",
        removed_bytes, " bytes) left in ", shm_dir, " by node processes that are gone (pids ", pids, ")");
  }
  return removed;
}

// --- host identity ------------------------------------------------------------

// Two processes may exchange a segment by name exactly when they see the same
// /dev/shm; the project's model adds that a network namespace is a host of its
// own (the multi-host tests run each "host" in one, and it must not shortcut
// them through memory). Hence three parts:
//  - the boot id, random per boot of a kernel: processes of two machines or VMs
//    never share memory, and inode numbers below are only unique within a boot;
//  - the inode of the network namespace: one per "host" of the project's model,
//    even though namespaces on one kernel could share /dev/shm;
//  - the device and inode of /dev/shm: which tmpfs this process sees there. Two
//    containers in one network namespace (`--network=host`) each with a private
//    /dev/shm differ here, so they do not try to open each other's segments;
//    a /dev/shm bind-mounted into several mount namespaces (as `ip netns exec`
//    and `--ipc=host` do) is the same tmpfs and compares equal.
// The IPC namespace is left out: it governs System V memory and POSIX message
// queues, not shm_open, which is a plain open() under /dev/shm. The mount
// namespace is left out as such for the same reason as above: what matters is the
// tmpfs it shows at /dev/shm, not that it is another namespace.
// When a part cannot be read, the id falls back to one of this process alone, so
// that nothing is ever shared by mistake.
std::string host_id() {
  std::string material;
  std::ifstream boot("/proc/sys/kernel/random/boot_id");
  std::string boot_id;
  std::getline(boot, boot_id);
  struct stat net {};
  struct stat shm {};
  if (!boot_id.empty() && ::stat("/proc/self/ns/net", &net) == 0 && ::stat(shm_dir, &shm) == 0) {
    material = "boot " + boot_id + " net " + std::to_string(net.st_ino) + " shm "
               + std::to_string(static_cast<std::uint64_t>(shm.st_dev)) + ":" + std::to_string(shm.st_ino);
  } else {
    auto me = this_process();
    material = "process " + std::to_string(me.pid) + " " + std::to_string(me.start_time) + " " + boot_id;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fnv1a(material)));
  return buf;
}

// --- registry -----------------------------------------------------------------

shm_registry::shm_registry(node_id node) : node_(node), owner_(this_process()) {
  remove_orphaned_segments();
}

shm_registry::~shm_registry() {
  shutdown();
}

shm_expected<shm_writer> shm_registry::create(std::size_t size) {
  {
    std::lock_guard<std::mutex> guard(mu_);
    if (closed_)
      return fail(ESHUTDOWN, "the shared-memory segments of node " + node_.to_string() + " are shut down");
  }
  shm_name name{owner_, node_, next_seq.fetch_add(1, std::memory_order_relaxed)};
  auto writer = create_shm_segment(name.to_string(), size);
  if (!writer)
    return writer;
  {
    std::lock_guard<std::mutex> guard(mu_);
    if (!closed_) {
      live_.emplace(writer->name(), size);
      bytes_.fetch_add(size, std::memory_order_relaxed);
      writer->registry_ = this;
      return writer;
    }
  }
  // Shut down while the segment was being made: the writer unlinks it as it goes.
  return fail(ESHUTDOWN, "the shared-memory segments of node " + node_.to_string() + " are shut down");
}

bool shm_registry::remove(const std::string& name) {
  {
    std::lock_guard<std::mutex> guard(mu_);
    auto it = live_.find(name);
    if (it == live_.end())
      return false;
    bytes_.fetch_sub(it->second, std::memory_order_relaxed);
    live_.erase(it);
  }
  if (auto why = unlink_shm_segment(name); why && why->code != ENOENT)
    log(log_level::warning, "shm", why->message);
  return true;
}

void shm_registry::shutdown() noexcept {
  std::unordered_map<std::string, std::size_t> live;
  {
    std::lock_guard<std::mutex> guard(mu_);
    closed_ = true;
    live.swap(live_);
    bytes_.store(0, std::memory_order_relaxed);
  }
  for (auto& [name, size] : live)
    if (auto why = unlink_shm_segment(name); why && why->code != ENOENT)
      log(log_level::warning, "shm", why->message);
}

std::vector<std::string> shm_registry::names() const {
  std::lock_guard<std::mutex> guard(mu_);
  std::vector<std::string> out;
  out.reserve(live_.size());
  for (auto& [name, size] : live_)
    out.push_back(name);
  return out;
}

} // namespace actors::runtime
