// The lazy read-only FUSE filesystem: one libfuse3 low-level session that presents every
// loaded image as a directory `<mountpoint>/<id>` (and `<mountpoint>/<alias>`), answers
// all metadata from the in-memory trees, serves file contents from the disk cache by file
// descriptor (pread + reply; reply_file.h says why not splice), and parks opens of blobs that are not in
// the cache until the embedder says they arrived (blobReady).
//
// Deliberately does not: talk to the network, hash, evict, or call into JavaScript. A
// miss is reported through the MissCallback (the addon turns it into a thread-safe
// function call); the embedder fetches the blob into the cache and calls blobReady.
//
// Threads. The session loop runs on its own native threads (fuse_session_loop_mt). A
// FUSE thread never waits for the network or for JavaScript: an open that misses parks
// its fuse_req_t in `pending_` and returns, and whichever thread calls blobReady (the JS
// thread) replies later. Every request path ends in exactly one fuse_reply_* call.
//
// Deadlock rule (as go-fuse documents it): the process that serves this mount must never
// access the mount from a thread the mount's requests depend on. The replies to parked
// opens come from the Node main thread, and fetches run on the libuv loop, so if the main
// thread (or libuv's threadpool, which backs fs.* calls) touched the mount and hit a miss,
// it would wait for a reply that only it can produce. Read the mount from other processes.
//
// Lock order: imagesMu_ (shared) before pendingMu_ before openMu_ before ChunkMaps' own
// mutex. No lock is held while calling fuse_reply_* or the MissCallback. openMu_ is held
// across the backing-file ioctls on /dev/fuse (Passthrough::openBacking/closeBacking),
// which never wait for a request of this filesystem. The Prefetcher's own mutex is never
// held with any of these (prefetch.h).
//
// Caching policy is chosen in one place: the constants at the top of lazy_fs.cc and the
// INIT handler (immutable images: year-long entry/attr/negative timeouts, keep_cache,
// kernel-cached listings through zero-message opendir, readdirplus for every listing
// buffer (a walk costs one request per directory, no LOOKUP per entry), cached symlinks, no
// auto-invalidation, the kernel's 128 KiB readahead; the mount root, whose listing changes as images
// are loaded, gets short positive caching, no negative caching, and an invalidation
// whenever an image comes or goes).
//
// Open blobs share one descriptor per blob (blobFds_); a blob with a descriptor is
// "open" for the embedder's eviction (openHashes). A descriptor no file uses any more is
// kept, up to kMaxIdleBlobFds most recently released (idleBlobs_), so that the next open
// of the blob costs no open/fstat/close; dropIdleFiles closes them before an eviction.
//
// Passthrough (passthrough.h): where the kernel takes it, a file bigger than one read
// request (1 MiB) whose blob is in the disk cache opens with the blob's backing id (one per blob, made at its first such open
// and closed with its descriptor), and its reads never reach this daemon (so the reads
// and bytesRead counters count only cached-mode reads). The kernel fails an open with EIO
// if one inode mixes cached-mode and passthrough opens, so an inode with cached-mode
// opens (partially cached blobs, chunk_map.h) keeps opening in cached mode until they are
// released (cachedOpens_). A passthrough file of at least kPrefetchAboveBytes that stays
// open has its blob read ahead into the page cache (prefetch.h): the daemon never sees a
// passthrough file's reads, so it cannot otherwise make the kernel read deeper.
//
// Open-less mode (Options::noOpen On, or Auto where the kernel offers no passthrough; only
// where it offers FUSE_CAP_NO_OPEN_SUPPORT): the
// first OPEN is answered ENOSYS, and from then on the kernel opens and closes files of
// this connection without a request (no OPEN, no RELEASE), keeps their page cache across
// opens (FOPEN_KEEP_CACHE is its no-open default) and sends READs with fh 0. What serves
// an inode's reads (its blob's descriptor or its chunk state) is then made at the first
// READ that needs it, which also starts a missing blob's fetch (that READ is parked like
// an open is otherwise), and kept per inode in an LRU of kMaxInodeFiles entries
// (inodeFiles_): a warm open+read+close of a cached file costs the daemon nothing. Costs:
// no passthrough (it is chosen in the OPEN reply), and "opened but never read" files are
// not fetched at all, so a fetch failure shows at read(2), not at open(2).
#pragma once
#include <atomic>
#include <condition_variable>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>
#include <fuse_lowlevel.h>
#include "chunk_map.h"
#include "counters.h"
#include "image_tree.h"
#include "passthrough.h"
#include "prefetch.h"

namespace sway {

struct OpenFile;

class LazyFs {
 public:
  struct Options {
    std::string mountpoint;
    std::string cacheDir;
    unsigned threads = 8;
    // Open-less files (see the header comment). Off: OPEN/RELEASE per open and passthrough
    // for big cached blobs. Auto: open-less where the kernel offers no passthrough (before
    // Linux 6.9, or built without it), where OPENs would buy nothing.
    enum class NoOpen { Off, On, Auto };
    NoOpen noOpen = NoOpen::Off;
  };
  // Called on a FUSE thread, once per blob that becomes wanted and is not yet in flight.
  // Returns false if the miss could not be handed on (then the waiters get EIO).
  using MissCallback = std::function<bool(const std::string& hash, uint64_t size)>;

  LazyFs(Options options, MissCallback onMiss, ChunkMaps::ChunkMissCallback onChunkMiss = nullptr);
  ~LazyFs();
  LazyFs(const LazyFs&) = delete;
  LazyFs& operator=(const LazyFs&) = delete;

  // Clears a stale mount, mounts and starts the session threads. "" or an error message.
  std::string mount();
  // Idempotent: answers parked opens with EIO, aborts the connection (only while the
  // mount at the mountpoint is still ours, pinning its device number), detaches the mount, joins the session threads,
  // closes open blob descriptors.
  void shutdown();
  bool mounted() const { return mounted_; }

  void addImage(std::shared_ptr<Image> image);
  bool removeImage(const std::string& id);
  // The blob `hash` is in the cache (err == 0) or could not be fetched (err = errno).
  void blobReady(const std::string& hash, int err);
  // Chunks of a partially cached blob are in `<cacheDir>/partial/…` (see chunk_map.h).
  void chunksReady(const std::string& hash, uint32_t first, uint32_t count, int err, uint64_t fetchedBytes) {
    chunks_.chunksReady(hash, first, count, err, fetchedBytes);
  }

  Counters& total() { return total_; }
  RequestCounts& requests() { return requests_; }
  // Set by the INIT handler: the kernel accepts ENOSYS from opendir for good.
  void setZeroMessageOpendir(bool on) { zeroMessageOpendir_ = on; }
  // Set by the INIT handler (after the INIT request was read, so passthrough_ knows what
  // the kernel offers): whether files are open-less on this connection.
  void chooseNoOpen(bool kernelOffersNoOpen);
  std::shared_ptr<Counters> countersOf(const std::string& id);
  std::vector<std::string> openHashes();
  // Closes the blob descriptors no open file uses and (open-less mode) the kept inode
  // files that no read is using, so that their blobs are no longer open (openHashes) and
  // the embedder may evict or remove them. A later open or read opens the blob again, or
  // fetches it again if it was evicted.
  void dropIdleFiles();
  std::vector<std::string> drainAccessed();
  size_t pendingCount();

  // FUSE operations (static trampolines in lazy_fs.cc call these).
  void opLookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  void opGetattr(fuse_req_t req, fuse_ino_t ino);
  void opReadlink(fuse_req_t req, fuse_ino_t ino);
  void opOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void opReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus);
  void opOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void opRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
  void opRelease(fuse_req_t req, fuse_file_info* fi);
  Passthrough& passthrough() { return passthrough_; }
  void opStatfs(fuse_req_t req);
  void opGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
  void opListxattr(fuse_req_t req, fuse_ino_t ino, size_t size);

 private:
  // The topmost mount at the mountpoint is still the one this session made (same device).
  bool stillOurMount() const;
  // A parked OPEN, or in open-less mode a parked READ (isRead, with its size and offset).
  struct Waiter {
    fuse_req_t req;
    fuse_ino_t ino;
    fuse_file_info fi;
    std::shared_ptr<Counters> counters;
    bool isRead = false;
    size_t readSize = 0;
    off_t readOff = 0;
  };
  struct PendingFetch {
    uint64_t size = 0;
    std::chrono::steady_clock::time_point started;
    std::shared_ptr<Counters> counters;  // of the image whose open caused the fetch
    std::vector<Waiter> waiters;
  };
  struct Resolved {
    std::shared_ptr<Image> image;  // null for the mount root
    uint32_t index = 0;
  };

  bool resolve(fuse_ino_t ino, Resolved* out);
  int acquireBlob(const std::string& hash, uint64_t size);
  void releaseBlob(const std::string& hash);
  // What opening an inode takes, from memory and the disk cache alone (an OPEN, or in
  // open-less mode an inode's first READ), with its hit counted: an errno to reply, an
  // empty file, a file to read (its cached blob's descriptor or its chunk state), or else
  // the blob `hash` must be fetched.
  struct Opening {
    int err = 0;
    bool empty = false;
    OpenFile* file = nullptr;
    std::shared_ptr<Counters> counters;
    std::string hash;
    uint64_t size = 0;
  };
  Opening startOpen(fuse_ino_t ino);
  void replyOpened(fuse_req_t req, fuse_file_info* fi, OpenFile* of);
  void failWaiters(std::vector<Waiter>& waiters);
  // Parks `w` on the fetch of `hash`, starting it if it is the first; answers EIO instead
  // when shutting down, or to the kernel's own retry of a READ that just failed.
  void parkOnFetch(const std::string& hash, uint64_t size, Waiter w);
  // Releases what an open file holds (its blob's descriptor or chunk state) and frees it.
  void closeFile(OpenFile* of);
  void serveRead(fuse_req_t req, OpenFile& of, size_t size, off_t off);
  // Open-less mode: the inode's file, if one is kept (and marks it recently used).
  std::shared_ptr<OpenFile> inodeFile(fuse_ino_t ino);
  // Open-less mode: keeps a file for `ino` made from `of` (or the one another thread kept
  // meanwhile, closing `of`), evicting the least recently used idle files over the cap.
  std::shared_ptr<OpenFile> keepInodeFile(fuse_ino_t ino, OpenFile* of);
  bool inUse(const std::shared_ptr<OpenFile>& file);
  void replyImageRootEntry(fuse_req_t req, const std::shared_ptr<Image>& image);
  void fillMountRootStat(struct stat* st);
  void mountRootChanged();

  Options options_;
  MissCallback onMiss_;
  fuse_session* session_ = nullptr;
  std::thread loopThread_;
  bool mounted_ = false;
  bool shutDown_ = false;
  dev_t device_ = 0;  // st_dev of the mount, names /sys/fs/fuse/connections/<minor>
  std::mutex loopMu_;
  std::condition_variable loopDone_;
  bool loopFinished_ = false;

  std::shared_mutex imagesMu_;
  std::map<uint64_t, std::shared_ptr<Image>> byBase_;            // inode base -> image
  std::map<std::string, std::shared_ptr<Image>> byName_;         // id and aliases -> image
  uint64_t nextBase_ = 16;

  std::mutex pendingMu_;
  std::unordered_map<std::string, PendingFetch> pending_;
  // Open-less mode: blobs whose fetch failed lately, and when; the first miss of one within
  // kRecentFailure fails at once (the kernel re-reads right after a failed readahead).
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> recentFailures_;
  bool acceptingWaiters_ = true;

  std::mutex openMu_;
  std::unordered_set<OpenFile*> openFiles_;
  // backingId: 0 none yet, < 0 refused; idle: its place in idleBlobs_ while refs == 0.
  struct BlobFd { int fd; uint32_t refs; int backingId; std::list<std::string>::iterator idle; };
  std::unordered_map<std::string, BlobFd> blobFds_;  // open blobs: one shared descriptor each
  std::list<std::string> idleBlobs_;  // blobFds_ with no user, most recently released first
  void closeBlobFd(std::unordered_map<std::string, BlobFd>::iterator it);  // openMu_ held
  std::unordered_set<std::string> accessed_;
  std::unordered_map<fuse_ino_t, uint32_t> cachedOpens_;  // inode -> its open cached-mode files
  Passthrough passthrough_;
  // Open-less mode: files by inode, most recently read at the front of inodeLru_.
  struct InodeFile { std::shared_ptr<OpenFile> file; std::list<fuse_ino_t>::iterator lru; };
  std::unordered_map<fuse_ino_t, InodeFile> inodeFiles_;
  std::list<fuse_ino_t> inodeLru_;

  Counters total_;
  RequestCounts requests_;
  ChunkMaps chunks_;  // after total_, which it counts into
  std::atomic<bool> zeroMessageOpendir_{false};
  std::atomic<bool> noOpen_{false};
  std::atomic<int64_t> rootChangedNs_{0};
  // Last: its thread uses openMu_, blobFds_ and total_, so it is stopped before they go.
  Prefetcher prefetcher_;
};

}  // namespace sway
