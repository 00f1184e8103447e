// Counters of one image (and one set for the whole mount): plain atomics bumped by the
// FUSE threads and by the JS thread, read by stats(). Deliberately does not reset,
// aggregate over time, or export anything: the worker samples them per run.
#pragma once
#include <atomic>
#include <cstdint>

namespace sway {

struct Counters {
  std::atomic<uint64_t> lookups{0};
  std::atomic<uint64_t> negativeLookups{0};
  std::atomic<uint64_t> memoryHits{0};     // answered from the in-memory tree or an empty file
  std::atomic<uint64_t> diskHits{0};       // opens served from the disk cache
  std::atomic<uint64_t> passthroughOpens{0};  // of which the kernel reads the cache file itself
  std::atomic<uint64_t> prefetchedBytes{0};   // of passthrough blobs, asked ahead of the reader (prefetch.h)
  std::atomic<uint64_t> serverFetches{0};  // fetches handed to TypeScript (one per missing blob)
  std::atomic<uint64_t> bytesFetched{0};
  std::atomic<uint64_t> fetchLatencyTotalUs{0};
  std::atomic<uint64_t> fetchLatencyMaxUs{0};
  std::atomic<uint64_t> eios{0};
  std::atomic<uint64_t> reads{0};
  std::atomic<uint64_t> bytesRead{0};

  void noteLatency(uint64_t us) {
    fetchLatencyTotalUs += us;
    uint64_t prev = fetchLatencyMaxUs.load();
    while (us > prev && !fetchLatencyMaxUs.compare_exchange_weak(prev, us)) {}
  }
};

// Bump a counter on both the image's set and the mount's total.
#define SWAY_COUNT(image_counters, total, field, n) \
  do { (image_counters).field += (n); (total).field += (n); } while (0)

}  // namespace sway

namespace sway {

// Requests the kernel sent on the connection, by FUSE opcode (include/uapi/linux/fuse.h),
// counted as the session reads them off /dev/fuse (LazyFs's device read hook). Mount-wide,
// not per image: they tell which round trips an access pattern costs (a warm stat pass
// should cost none; a warm open OPEN and RELEASE, no FLUSH). Requests about the mount root
// itself (node 1: LOOKUP of an image's name, GETATTR of the root) are counted apart, since
// the root's entries are cached for one second only (images come and go) and every path
// walk through the mount revalidates them once a second. Opcodes past the table
// (CUSE_INIT, newer ones) are counted as "other".
class RequestCounts {
 public:
  static constexpr unsigned kSlots = 64;
  static constexpr uint64_t kRootNode = 1;  // FUSE_ROOT_ID
  void note(uint32_t opcode, uint64_t nodeid) {
    auto& counts = nodeid == kRootNode ? onRoot_ : byOpcode_;
    counts[opcode < kSlots ? opcode : 0].fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t count(unsigned slot) const { return byOpcode_[slot].load(std::memory_order_relaxed); }
  uint64_t countOnRoot(unsigned slot) const { return onRoot_[slot].load(std::memory_order_relaxed); }
  // The opcode's name without the FUSE_ prefix ("OPEN"), slot 0 "other", null if unnamed.
  static const char* name(unsigned slot) {
    static const char* const kNames[] = {
        "other", "LOOKUP", "FORGET", "GETATTR", "SETATTR", "READLINK", "SYMLINK", nullptr, "MKNOD", "MKDIR",
        "UNLINK", "RMDIR", "RENAME", "LINK", "OPEN", "READ", "WRITE", "STATFS", "RELEASE", nullptr,
        "FSYNC", "SETXATTR", "GETXATTR", "LISTXATTR", "REMOVEXATTR", "FLUSH", "INIT", "OPENDIR", "READDIR",
        "RELEASEDIR", "FSYNCDIR", "GETLK", "SETLK", "SETLKW", "ACCESS", "CREATE", "INTERRUPT", "BMAP",
        "DESTROY", "IOCTL", "POLL", "NOTIFY_REPLY", "BATCH_FORGET", "FALLOCATE", "READDIRPLUS", "RENAME2",
        "LSEEK", "COPY_FILE_RANGE", "SETUPMAPPING", "REMOVEMAPPING", "SYNCFS", "TMPFILE", "STATX"};
    constexpr unsigned kNamed = sizeof(kNames) / sizeof(kNames[0]);
    return slot < kNamed ? kNames[slot] : nullptr;
  }

 private:
  std::atomic<uint64_t> byOpcode_[kSlots] = {};
  std::atomic<uint64_t> onRoot_[kSlots] = {};
};

}  // namespace sway
