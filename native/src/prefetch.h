// Prefetch of big passthrough files' blobs from the disk cache into the page cache.
//
// Why: a passthrough file's reads go from the kernel straight to the cache file, through
// a backing file the kernel opens itself, with the disk's default readahead; this daemon
// never sees them and cannot hint them. A cold sequential read of a 512 MiB blob ran at
// 383-900 MB/s that way here, and at 1340-1450 MB/s after POSIX_FADV_SEQUENTIAL or
// WILLNEED (deeper queues on a virtual disk; bench/results/fuse.txt). So once a big file
// has stayed open for a moment (start()'s delay), one thread asks the kernel to read its
// blob ahead of the reader: POSIX_FADV_WILLNEED in kStepBytes steps, skipping steps
// already resident (mincore: a warm re-read costs a few page-table checks, no I/O), with
// at most kStepsAhead steps asked for and not yet resident, and stopping as soon as no
// file has the blob open or at stop(). A process that opens and closes at once (file(1),
// ldconfig, dlopen, which maps and closes) is gone before its prefetch would start.
//
// Deliberately does not: read bytes itself (the kernel does the I/O into the shared page
// cache), prefetch partially cached (chunked) blobs, pin pages (they are evicted as any
// page cache), or prefetch two blobs at once (one disk; a queue). Nor follow the reader,
// whose position it cannot see: so that a blob larger than memory is not streamed through
// the page cache ahead of a slow reader, evicting everything else, a blob is prefetched
// up to a quarter of the memory available when its prefetch starts (at least kMinBudget);
// the kernel's own readahead serves the rest.
//
// Threads and locks: start() and stop() run on any thread; the prefetch thread holds mu_
// only to take a job. It calls StillOpen (which takes LazyFs's openMu_) without mu_, so
// mu_ never nests inside or around another lock.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>

namespace sway {

class Prefetcher {
 public:
  // Is any file still open on the blob? Called between steps.
  using StillOpen = std::function<bool()>;
  // Bytes asked for (steps that were not resident), as they are asked.
  using OnPrefetch = std::function<void(uint64_t)>;

  static constexpr uint64_t kStepBytes = 8ull << 20;
  static constexpr unsigned kStepsAhead = 4;
  static constexpr uint64_t kMinBudget = 256ull << 20;

  Prefetcher() = default;
  ~Prefetcher() { stop(); }
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // Queue a blob (fd: a descriptor of its cache file, owned from here on) to prefetch once
  // `delay` has passed, if a file still has it open then. A blob already queued or being
  // prefetched is not queued twice (fd is closed). Never throws (no memory: no prefetch).
  void start(const std::string& hash, int fd, uint64_t size, std::chrono::milliseconds delay,
             StillOpen stillOpen, OnPrefetch onPrefetch);
  // Abandon the queue and the current blob, join the thread. Idempotent.
  void stop();

 private:
  struct Job {
    std::string hash;
    int fd;
    uint64_t size;
    std::chrono::steady_clock::time_point notBefore;
    StillOpen stillOpen;
    OnPrefetch onPrefetch;
  };
  void run();
  void prefetch(const Job& job);
  bool stopping() {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_;
  }

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;
  std::unordered_set<std::string> queued_;  // hashes queued or being prefetched
  bool stopping_ = false;
  std::thread thread_;  // started by the first start()
};

}  // namespace sway
