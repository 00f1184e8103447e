// ChunkMaps: parked chunk reads of partially cached blobs (see chunk_map.h).
#include "chunk_map.h"
#include "reply_file.h"
#include <fcntl.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>

namespace sway {

enum class ChunkState : uint8_t { Unknown = 0, Asked = 1, Present = 2 };

struct ParkedRead {
  fuse_req_t req;
  size_t size;
  off_t off;
  uint32_t first, last;  // chunks it needs
  std::shared_ptr<Counters> counters;
};

struct ChunkedBlob {
  std::string hash;
  uint64_t size = 0;
  uint32_t chunkSize = 0;
  std::vector<ChunkState> chunks;
  int fd = -1;  // the partial file, opened at the first chunksReady; or the whole blob
  bool whole = false;  // fd is the whole blob from the cache: verified, every chunk reads right
  std::vector<int> retired;  // fds replaced by the whole blob's; a reply may still pread from one
  uint32_t refs = 0;
  std::shared_ptr<Counters> counters;  // of the image whose open created the state
  std::vector<ParkedRead> parked;
};

static std::string partialPath(const std::string& dir, const std::string& hash) {
  return dir + "/partial/" + hash.substr(0, 2) + "/" + hash.substr(2, 2) + "/" + hash;
}

static std::string wholePath(const std::string& dir, const std::string& hash) {
  return dir + "/" + hash.substr(0, 2) + "/" + hash.substr(2, 2) + "/" + hash;
}

ChunkMaps::ChunkMaps(std::string cacheDir, Counters& total, ChunkMissCallback onMiss)
    : cacheDir_(std::move(cacheDir)), total_(total), onMiss_(std::move(onMiss)) {}

ChunkMaps::~ChunkMaps() {
  for (auto& entry : blobs_) {
    if (entry.second->fd >= 0) close(entry.second->fd);
    for (int fd : entry.second->retired) close(fd);
  }
}

std::shared_ptr<ChunkedBlob> ChunkMaps::acquire(const std::string& hash, uint64_t size, uint32_t chunkSize,
                                                std::shared_ptr<Counters> counters) {
  if (chunkSize == 0 || size == 0 || (size - 1) / chunkSize >= kMaxChunks) return nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  auto found = blobs_.find(hash);
  if (found != blobs_.end()) {
    // One size per content hash (decoding checks it); never index past this state's chunks.
    if (found->second->size != size || found->second->chunkSize != chunkSize) return nullptr;
    found->second->refs++;
    return found->second;
  }
  try {
    auto blob = std::make_shared<ChunkedBlob>();
    blob->hash = hash;
    blob->size = size;
    blob->chunkSize = chunkSize;
    blob->chunks.assign(static_cast<size_t>((size + chunkSize - 1) / chunkSize), ChunkState::Unknown);
    blob->counters = std::move(counters);
    blob->refs = 1;
    blobs_.emplace(hash, blob);
    return blob;
  } catch (const std::exception&) {  // bad_alloc: the open fails, the process stays up
    return nullptr;
  }
}

void ChunkMaps::release(const std::shared_ptr<ChunkedBlob>& blob) {
  std::lock_guard<std::mutex> lock(mu_);
  if (--blob->refs > 0) return;
  // No open file: no read can be parked (the kernel releases after its reads end).
  if (blob->fd >= 0) { close(blob->fd); blob->fd = -1; }
  for (int fd : blob->retired) close(fd);
  blob->retired.clear();
  auto it = blobs_.find(blob->hash);
  if (it != blobs_.end() && it->second == blob) blobs_.erase(it);
}

void ChunkMaps::read(fuse_req_t req, const std::shared_ptr<ChunkedBlob>& blob, size_t size, off_t off,
                     const std::shared_ptr<Counters>& counters) {
  const uint64_t start = static_cast<uint64_t>(off);
  if (start >= blob->size || size == 0) { fuse_reply_buf(req, nullptr, 0); return; }
  size = static_cast<size_t>(std::min<uint64_t>(size, blob->size - start));
  const uint32_t first = static_cast<uint32_t>(start / blob->chunkSize);
  const uint32_t last = static_cast<uint32_t>((start + size - 1) / blob->chunkSize);
  std::vector<std::pair<uint32_t, uint32_t>> runs;  // (first, count) to ask for
  int fd = -1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    bool all = blob->fd >= 0;
    for (uint32_t c = first; c <= last && all; c++) all = blob->chunks[c] == ChunkState::Present;
    if (all) {
      fd = blob->fd;
    } else if (!accepting_) {
      fd = -2;
    } else {
      // Everything that allocates comes before any state changes: if it throws, the
      // request is neither parked nor marked (the FUSE handler's guard answers it).
      for (uint32_t c = first; c <= last; c++) {
        if (blob->chunks[c] != ChunkState::Unknown) continue;
        if (!runs.empty() && runs.back().first + runs.back().second == c) runs.back().second++;
        else runs.emplace_back(c, 1);
      }
      blob->parked.push_back(ParkedRead{req, size, off, first, last, counters});
      for (const auto& run : runs) std::fill_n(blob->chunks.begin() + run.first, run.second, ChunkState::Asked);
    }
  }
  if (fd == -2) { SWAY_COUNT(*counters, total_, eios, 1); fuse_reply_err(req, EIO); return; }
  if (fd >= 0) { replyFromFile(req, fd, size, off); return; }
  // The read is parked (chunksReady answers it): nothing from here on may throw.
  for (const auto& run : runs) {
    bool handed = false;
    try { handed = onMiss_(blob->hash, blob->size, blob->chunkSize, run.first, run.second); } catch (const std::exception&) {}
    // Out of memory even for that: the read stays parked until its chunks come or shutdown.
    if (!handed) try { chunksReady(blob->hash, run.first, run.second, EIO, 0); } catch (const std::exception&) {}
  }
}

void ChunkMaps::chunksReady(const std::string& hash, uint32_t first, uint32_t count, int err, uint64_t fetchedBytes) {
  struct Answer { ParkedRead read; int fd; };
  std::vector<Answer> answers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = blobs_.find(hash);
    if (it == blobs_.end()) {  // every file closed meanwhile (a readahead run ending late)
      if (fetchedBytes > 0) { total_.serverFetches++; total_.bytesFetched += fetchedBytes; }
      return;
    }
    ChunkedBlob& blob = *it->second;
    // Room for every parked read up front: once one is moved out, nothing may throw.
    answers.reserve(blob.parked.size());
    std::vector<ParkedRead> still;
    still.reserve(blob.parked.size());
    if (fetchedBytes > 0) {  // count 0: a report of fetched bytes only
      SWAY_COUNT(*blob.counters, total_, serverFetches, 1);
      SWAY_COUNT(*blob.counters, total_, bytesFetched, fetchedBytes);
    }
    const uint32_t end = std::min<uint32_t>(first + count, static_cast<uint32_t>(blob.chunks.size()));
    if (err == 0 && !blob.whole) {
      // Once the whole blob is in the cache (completed from chunks, or fetched whole by a
      // prefetch), read from it: it was verified end to end. The partial file holds only
      // the chunks it lists, and its holes read as zeros, so it must never stand in for
      // chunks reported present because the whole blob arrived.
      int whole = open(wholePath(cacheDir_, hash).c_str(), O_RDONLY | O_CLOEXEC);
      if (whole >= 0) {
        try {
          if (blob.fd >= 0) blob.retired.push_back(blob.fd);
        } catch (const std::exception&) {
          close(whole);  // keep serving from the partial file
          whole = -1;
        }
      }
      if (whole >= 0) {
        blob.fd = whole;
        blob.whole = true;
        std::fill(blob.chunks.begin(), blob.chunks.end(), ChunkState::Present);
      } else if (blob.fd < 0) {
        blob.fd = open(partialPath(cacheDir_, hash).c_str(), O_RDONLY | O_CLOEXEC);
        if (blob.fd < 0) err = EIO;
      }
    }
    // Present, or back to unknown so that a later read asks again.
    for (uint32_t c = first; c < end; c++) blob.chunks[c] = err == 0 ? ChunkState::Present : ChunkState::Unknown;
    for (ParkedRead& r : blob.parked) {
      const bool touched = r.first < end && first <= r.last;
      if (err != 0 && touched) { answers.push_back({std::move(r), -1}); continue; }
      bool all = true;
      for (uint32_t c = r.first; c <= r.last && all; c++) all = blob.chunks[c] == ChunkState::Present;
      if (all) answers.push_back({std::move(r), blob.fd});
      else still.push_back(std::move(r));
    }
    blob.parked.swap(still);
  }
  for (Answer& a : answers) {
    if (a.fd < 0) {
      SWAY_COUNT(*a.read.counters, total_, eios, 1);
      fuse_reply_err(a.read.req, EIO);
    } else {
      replyFromFile(a.read.req, a.fd, a.read.size, a.read.off);
    }
  }
}

bool ChunkMaps::hasParkedReads(const std::shared_ptr<ChunkedBlob>& blob) {
  std::lock_guard<std::mutex> lock(mu_);
  return !blob->parked.empty();
}

std::vector<std::string> ChunkMaps::openHashes() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& entry : blobs_) out.push_back(entry.first);
  return out;
}

void ChunkMaps::shutdown() {
  std::vector<ParkedRead> parked;
  {
    std::lock_guard<std::mutex> lock(mu_);
    accepting_ = false;
    for (auto& entry : blobs_) {
      for (auto& r : entry.second->parked) parked.push_back(std::move(r));
      entry.second->parked.clear();
    }
  }
  for (ParkedRead& r : parked) {
    SWAY_COUNT(*r.counters, total_, eios, 1);
    fuse_reply_err(r.req, EIO);
  }
}

}  // namespace sway
