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
