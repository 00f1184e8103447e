// Partially cached blobs (issue 5, partial fetches): for a file whose manifest carries
// chunk hashes and whose blob is not in the disk cache, reads are served chunk by chunk
// from a sparse file `<cacheDir>/partial/ab/cd/<hash>` that the embedder fills. A read
// whose chunks are all known present is answered from that file at once; otherwise the
// read is parked and the chunks nobody asked for yet are handed to the embedder
// (ChunkMissCallback, once per contiguous run); chunksReady answers the parked reads.
//
// Deliberately does not: fetch, verify, write the file or remember presence across
// opens. The embedder (ts/worker/fuse/chunk-cache.ts) is the source of truth for which
// chunks are present and verified; a blob's state here lives while one of its files is
// open and starts empty, so the first read of each chunk asks the embedder, which answers
// at once for chunks it already holds.
//
// Threads: read() runs on FUSE threads, chunksReady() and shutdown() on the JS thread.
// One mutex guards all state; no lock is held while calling fuse_reply_* or the callback.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>
#include <fuse_lowlevel.h>
#include "counters.h"

namespace sway {

struct ChunkedBlob;

class ChunkMaps {
 public:
  // (hash, blob size, chunk size, first chunk, chunk count); false: could not hand it on.
  using ChunkMissCallback = std::function<bool(const std::string&, uint64_t, uint32_t, uint32_t, uint32_t)>;

  ChunkMaps(std::string cacheDir, Counters& total, ChunkMissCallback onMiss);
  ~ChunkMaps();

  // Chunks one blob's state may have: the JS layer promises sizes of at most 2^40 bytes
  // and chunks of at least 64 KiB (ts/common/manifest.ts MAX_FILE_SIZE), 2^24 chunks.
  static constexpr uint64_t kMaxChunks = uint64_t{1} << 24;

  // A file of this blob was opened / released (refcounted; state dies with the last).
  // Null, never an exception, for a size or chunk size over what the JS layer promised or
  // when the state cannot be allocated (the open then fails, the process stays up).
  std::shared_ptr<ChunkedBlob> acquire(const std::string& hash, uint64_t size, uint32_t chunkSize,
                                       std::shared_ptr<Counters> counters);
  void release(const std::shared_ptr<ChunkedBlob>& blob);

  void read(fuse_req_t req, const std::shared_ptr<ChunkedBlob>& blob, size_t size, off_t off,
            const std::shared_ptr<Counters>& counters);

  // Chunks [first, first + count) are in the partial file, verified (err == 0), or could
  // not be had (err = errno). fetchedBytes: what one fetch brought over the network
  // (counted once; a call with count 0 only counts).
  void chunksReady(const std::string& hash, uint32_t first, uint32_t count, int err, uint64_t fetchedBytes);

  // A read of this blob waits for chunks (its state must live until they come).
  bool hasParkedReads(const std::shared_ptr<ChunkedBlob>& blob);
  // Blobs with a file open (never evicted by the embedder).
  std::vector<std::string> openHashes();
  // Fail every parked read with EIO and refuse new misses.
  void shutdown();

 private:
  std::string cacheDir_;
  Counters& total_;
  ChunkMissCallback onMiss_;
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<ChunkedBlob>> blobs_;
  bool accepting_ = true;
};

}  // namespace sway
