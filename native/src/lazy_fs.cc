// The FUSE operations, session lifecycle and parked-open bookkeeping of LazyFs
// (see lazy_fs.h for the design, threads, lock order and the deadlock rule).
#include "lazy_fs.h"
#include "reply_file.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace sway {

// ---- Caching policy: the one place it is chosen -------------------------------------
// Images are immutable: names, attributes, absences and contents never change while an
// image is loaded, so the kernel may keep all of them for as long as it likes.
constexpr double kImmutableTimeout = 365.0 * 24 * 3600;
// The mount root lists the loaded images, which come and go: cache positives briefly
// (and invalidate them on unload), never cache absences (an image may be loaded next).
constexpr double kMountRootTimeout = 1.0;
// Kernel readahead on the mount: the kernel's own default, 128 KiB, also the window mmap
// reads around each page fault. It decides how much of a partially cached file a fault
// in a shared library fetches: with 1 MiB, a cold scipy start fetched 59.8 MB (7.1% of
// the image), with 128 KiB 48.5 MB (5.8%) in the same time (an A/B of profiled cold
// starts, docs/ARCHITECTURE.md "Partial fetches"). Sequential readers of such files get
// their readahead from the chunk cache instead (ts/worker/fuse/chunk-cache.ts). The cost:
// read requests are at most 128 KiB, so a cached-mode first read costs 8 requests per MiB
// (measured: one 1 MiB pread, 9 READs); cached files over 1 MiB are read through
// passthrough where the kernel has it, which this window does not touch.
constexpr unsigned kReadaheadKb = 128;
// The session threads' name (at most 15 characters).
constexpr const char* kThreadName = "sway-fuse";
// Passthrough only for blobs over 1 MiB: a smaller file costs at most 8 READs in cached
// mode once, its warm re-reads none, while every passthrough open costs two backing-file
// ioctls and a backing file in the kernel. Measured with 64 readers over 5000 files of up
// to 16 KiB: warm passes 15-20% slower with passthrough, first passes the same. Again
// with idle descriptors kept (their backing ids made once per blob), every file of the
// generated bench tree passing through: warm 64 readers 2.70x ext4 against 2.25x with this
// threshold, same rounds (the kernel still sets up a backing file for every open).
constexpr uint64_t kPassthroughAboveBytes = 1024 * 1024;
// Passthrough files of at least one prefetch step have their blob read ahead while they
// stay open (prefetch.h), from this long after their open on: an open that ends sooner
// (file(1), ldconfig, dlopen, which maps and closes) is not worth a prefetch.
constexpr uint64_t kPrefetchAboveBytes = Prefetcher::kStepBytes;
constexpr auto kPrefetchDelay = std::chrono::milliseconds(20);
// Open-less mode: files kept by inode (each holds its blob's descriptor, shared per blob).
// A python app's start reads a few hundred files; the cap bounds descriptors, not speed.
constexpr size_t kMaxInodeFiles = 4096;
// Blob descriptors kept open after their last file closed (see lazy_fs.h): 64 readers
// each opening a tree's files in turn mostly found the blob's last user gone, and paid
// open + fstat + fadvise + close of the cache file on every OPEN. Bounds descriptors only.
constexpr size_t kMaxIdleBlobFds = 4096;
// Open-less mode: the kernel follows a READ that failed in readahead with its own READ of
// the same page at once. The first miss of a blob within this long after its fetch failed
// is that one: it gets EIO without a fetch (else each failure would cost two fetch
// deadlines), and the next miss fetches again. With OPENs a failed open is final.
constexpr auto kRecentFailure = std::chrono::milliseconds(1000);
// Wait this long for the session threads to stop after the connection is aborted.
constexpr auto kShutdownJoinTimeout = std::chrono::seconds(10);

struct OpenFile {
  fuse_ino_t ino;
  bool passthrough;  // the kernel reads the blob itself: no READ comes for this file
  int fd;
  uint64_t size;
  std::string hash;
  std::shared_ptr<Counters> counters;
  std::shared_ptr<ChunkedBlob> chunked;  // set: served chunk by chunk (chunk_map.h), fd unused
};

// ---- helpers -------------------------------------------------------------------------

static LazyFs* fsOf(fuse_req_t req) { return static_cast<LazyFs*>(fuse_req_userdata(req)); }

static std::string cachePath(const std::string& dir, const std::string& hash) {
  return dir + "/" + hash.substr(0, 2) + "/" + hash.substr(2, 2) + "/" + hash;
}

struct MountInfo {
  std::string mountPoint, fsType;
  unsigned major = 0, minor = 0;
};

// /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo.
static std::string unescapeMountPath(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// The last (topmost) mount at `path`, if any. Reads /proc, never the mount itself.
static bool findMount(const std::string& path, MountInfo* out) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  bool found = false;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, majmin, root, mountPoint, word;
    fields >> id >> parent >> majmin >> root >> mountPoint;
    if (unescapeMountPath(mountPoint) != path) continue;
    while (fields >> word && word != "-") {}
    MountInfo info;
    fields >> info.fsType;
    info.mountPoint = path;
    std::sscanf(majmin.c_str(), "%u:%u", &info.major, &info.minor);
    *out = info;
    found = true;
  }
  return found;
}

// Fail every request still queued on a FUSE connection and wake its readers.
static void abortConnection(unsigned minor) {
  const char* dir = "/sys/fs/fuse/connections";
  std::string abortFile = std::string(dir) + "/" + std::to_string(minor) + "/abort";
  if (access(abortFile.c_str(), F_OK) != 0) {
    // fusectl is not mounted on every system; mounting it is harmless (systemd does).
    ::mount("fusectl", dir, "fusectl", 0, nullptr);
  }
  int fd = open(abortFile.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t ignored = write(fd, "1", 1);
  (void)ignored;
  close(fd);
}

// Best effort: /sys/class/bdi/<maj>:<min>/read_ahead_kb of the mount.
static void setReadahead(unsigned major, unsigned minor, unsigned kb) {
  std::string path = "/sys/class/bdi/" + std::to_string(major) + ":" + std::to_string(minor) + "/read_ahead_kb";
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  std::string value = std::to_string(kb);
  ssize_t ignored = write(fd, value.data(), value.size());
  (void)ignored;
  close(fd);
}

// Test hook, off unless SWAY_FUSE_TEST_SHUTDOWN_PAUSE_MS is set: holds shutdown between
// its connection abort and its detach, so that test/fuse/shutdown-order.test.ts can see
// the connection aborted while the mount (and with it the device minor) is still ours.
static void pauseForShutdownOrderTest() {
  const char* ms = getenv("SWAY_FUSE_TEST_SHUTDOWN_PAUSE_MS");
  if (ms && *ms) std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(ms)));
}

// Test hook, off unless SWAY_FUSE_TEST_AS_IF_NO_PASSTHROUGH=1: NoOpen::Auto decides as if
// the kernel offered no passthrough (test/fuse/requests.test.ts; this kernel has it).
static bool testAsIfNoPassthrough() {
  const char* v = getenv("SWAY_FUSE_TEST_AS_IF_NO_PASSTHROUGH");
  return v && std::strcmp(v, "1") == 0;
}

// ---- libfuse trampolines -------------------------------------------------------------

static void llInit(void* userdata, fuse_conn_info* conn) {
  // Zero-message opendir: directories open without a round trip, and the kernel then
  // caches their listings (FOPEN_CACHE_DIR is its default for that case).
  static_cast<LazyFs*>(userdata)->setZeroMessageOpendir(conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT);
  // Open-less files where asked for (lazy_fs.h): the kernel learns it from the first OPEN's ENOSYS.
  static_cast<LazyFs*>(userdata)->chooseNoOpen(conn->capable & FUSE_CAP_NO_OPEN_SUPPORT);
  // No splice: reads are answered by pread + write (reply_file.h says why).
  conn->want &= ~(FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE | FUSE_CAP_SPLICE_READ);
  // Immutable content: let the kernel cache symlinks, never re-validate data by mtime.
  if (conn->capable & FUSE_CAP_CACHE_SYMLINKS) conn->want |= FUSE_CAP_CACHE_SYMLINKS;
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  // Every listing carries the attributes of its entries (readdirplus), and always, not
  // only for the first buffer of a directory (READDIRPLUS_AUTO off): with AUTO the kernel
  // lists the rest of a big directory without attributes and a walk then pays one LOOKUP
  // per entry (measured on the python base image: 1663 lookups per first stat pass with
  // AUTO, 160 without; the rest are symlink targets).
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  conn->max_readahead = kReadaheadKb * 1024;
  // max_read stays unlimited and max_write/max_pages stay libfuse's 1 MiB (256 pages), so
  // a read request can carry a whole readahead window (O_DIRECT reads: up to 1 MiB).
  // max_background and the congestion threshold stay the kernel's (12 and 9): raising them
  // (64/48) with 1 or 4 MiB of readahead did not speed up first reads here (2 cores; see
  // bench/results/fuse.txt).
}
// Device I/O through Passthrough (fuse_session_custom_io hands over the session userdata).
// Every request is counted by opcode here, as it comes off the device.
static ssize_t ioRead(int fd, void* buf, size_t len, void* userdata) {
  auto* fs = static_cast<LazyFs*>(userdata);
  const ssize_t n = fs->passthrough().readRequest(fd, buf, len);
  if (n >= 24) {  // struct fuse_in_header { uint32_t len, opcode; uint64_t unique, nodeid; ... }
    uint32_t opcode;
    uint64_t nodeid;
    std::memcpy(&opcode, static_cast<const char*>(buf) + 4, sizeof(opcode));
    std::memcpy(&nodeid, static_cast<const char*>(buf) + 16, sizeof(nodeid));
    fs->requests().note(opcode, nodeid);
  }
  return n;
}
static ssize_t ioWritev(int fd, struct iovec* iov, int count, void* userdata) {
  return static_cast<LazyFs*>(userdata)->passthrough().writeReply(fd, iov, count);
}

// No exception leaves a FUSE thread (that would be std::terminate: every user's worker
// gone): one that escapes an operation answers its request with ENOMEM or EIO. An
// operation throws only before it has answered or parked its request; the code that runs
// after (answering parked requests, handing misses on, releasing) catches its own.
template <typename Op>
static void guarded(fuse_req_t req, Op op) {
  try {
    op();
  } catch (const std::bad_alloc&) {
    fuse_reply_err(req, ENOMEM);
  } catch (const std::exception&) {
    fuse_reply_err(req, EIO);
  }
}

static void llLookup(fuse_req_t req, fuse_ino_t parent, const char* name) { guarded(req, [&] { fsOf(req)->opLookup(req, parent, name); }); }
static void llForget(fuse_req_t req, fuse_ino_t, uint64_t) { fuse_reply_none(req); }
static void llForgetMulti(fuse_req_t req, size_t, fuse_forget_data*) { fuse_reply_none(req); }
static void llGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) { guarded(req, [&] { fsOf(req)->opGetattr(req, ino); }); }
static void llReadlink(fuse_req_t req, fuse_ino_t ino) { guarded(req, [&] { fsOf(req)->opReadlink(req, ino); }); }
static void llOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) { guarded(req, [&] { fsOf(req)->opOpendir(req, ino, fi); }); }
static void llReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  guarded(req, [&] { fsOf(req)->opReaddir(req, ino, size, off, false); });
}
static void llReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  guarded(req, [&] { fsOf(req)->opReaddir(req, ino, size, off, true); });
}
static void llReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }
static void llOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) { guarded(req, [&] { fsOf(req)->opOpen(req, ino, fi); }); }
static void llRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) { guarded(req, [&] { fsOf(req)->opRead(req, ino, size, off, fi); }); }
static void llRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) { guarded(req, [&] { fsOf(req)->opRelease(req, fi); }); }
static void llStatfs(fuse_req_t req, fuse_ino_t) { guarded(req, [&] { fsOf(req)->opStatfs(req); }); }
static void llGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) { guarded(req, [&] { fsOf(req)->opGetxattr(req, ino, name, size); }); }
static void llListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) { guarded(req, [&] { fsOf(req)->opListxattr(req, ino, size); }); }

static const fuse_lowlevel_ops kOps = [] {
  fuse_lowlevel_ops ops{};
  ops.init = llInit;
  ops.lookup = llLookup;
  ops.forget = llForget;  // inodes live as long as their image; nothing to count
  ops.forget_multi = llForgetMulti;
  ops.getattr = llGetattr;
  ops.readlink = llReadlink;
  ops.opendir = llOpendir;
  ops.readdir = llReaddir;
  ops.readdirplus = llReaddirplus;
  ops.releasedir = llReleasedir;
  ops.open = llOpen;
  ops.read = llRead;
  ops.release = llRelease;
  ops.statfs = llStatfs;
  ops.getxattr = llGetxattr;
  ops.listxattr = llListxattr;
  // Every modifying operation is refused by the kernel itself: the mount is `ro`.
  return ops;
}();

// ---- lifecycle -----------------------------------------------------------------------

LazyFs::LazyFs(Options options, MissCallback onMiss, ChunkMaps::ChunkMissCallback onChunkMiss)
    : options_(std::move(options)), onMiss_(std::move(onMiss)),
      chunks_(options_.cacheDir, total_, onChunkMiss ? std::move(onChunkMiss) : [](const std::string&, uint64_t, uint32_t, uint32_t, uint32_t) { return false; }) {}

LazyFs::~LazyFs() { shutdown(); }

void LazyFs::chooseNoOpen(bool kernelOffersNoOpen) {
  const bool passthrough = passthrough_.kernelOffers() && !testAsIfNoPassthrough();
  const bool wanted = options_.noOpen == Options::NoOpen::On || (options_.noOpen == Options::NoOpen::Auto && !passthrough);
  noOpen_ = wanted && kernelOffersNoOpen;
}

std::string LazyFs::mount() {
  const std::string& mp = options_.mountpoint;
  MountInfo existing;
  if (findMount(mp, &existing)) {
    struct statvfs st;
    // A dead FUSE connection answers at once with ENOTCONN; anything else is a live mount.
    // statfs, not stat: stat may be answered from attributes the kernel still caches.
    if (statvfs(mp.c_str(), &st) != 0 && errno == ENOTCONN) {
      if (umount2(mp.c_str(), MNT_DETACH) != 0) return "cannot clear the stale mount at " + mp + ": " + std::strerror(errno);
    } else {
      return "something is already mounted at " + mp + " (" + existing.fsType + ")";
    }
  }
  fuse_args args = FUSE_ARGS_INIT(0, nullptr);
  fuse_opt_add_arg(&args, "sway");
  fuse_opt_add_arg(&args, "-o");
  // ro: the kernel refuses every write with EROFS. allow_other: containers run as other
  // uids. default_permissions: the kernel checks modes, since we are root.
  fuse_opt_add_arg(&args, "ro,allow_other,default_permissions,fsname=sway,subtype=sway");
  session_ = fuse_session_new(&args, &kOps, sizeof(kOps), this);
  fuse_opt_free_args(&args);
  if (!session_) return "fuse_session_new failed";
  if (fuse_session_mount(session_, mp.c_str()) != 0) {
    fuse_session_destroy(session_);
    session_ = nullptr;
    return "cannot mount FUSE at " + mp + " (is /dev/fuse available and are we root?)";
  }
  // Before the session loop reads the INIT request: passthrough needs to edit its reply.
  fuse_custom_io io{};
  io.read = ioRead;
  io.writev = ioWritev;
  const int deviceFd = fuse_session_fd(session_);
  if (fuse_session_custom_io(session_, &io, deviceFd) == 0) passthrough_.setDevice(deviceFd);
  MountInfo ours;
  if (findMount(mp, &ours)) {
    device_ = makedev(ours.major, ours.minor);
    setReadahead(ours.major, ours.minor, kReadaheadKb);
  }
  mounted_ = true;
  loopThread_ = std::thread([this] {
    // Signals belong to Node's main thread; libfuse's workers inherit this mask, and this
    // name (for top -H, perf and /proc/PID/task: a new thread starts with its creator's).
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    pthread_setname_np(pthread_self(), kThreadName);
    fuse_loop_config* config = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(config, options_.threads);
    fuse_loop_cfg_set_idle_threads(config, options_.threads);
    fuse_loop_cfg_set_clone_fd(config, 0);
    fuse_session_loop_mt(session_, config);
    fuse_loop_cfg_destroy(config);
    std::lock_guard<std::mutex> lock(loopMu_);
    loopFinished_ = true;
    loopDone_.notify_all();
  });
  return "";
}

bool LazyFs::stillOurMount() const {
  MountInfo now;
  return findMount(options_.mountpoint, &now) && now.fsType.rfind("fuse", 0) == 0 &&
         now.major == major(device_) && now.minor == minor(device_);
}

void LazyFs::shutdown() {
  if (shutDown_) return;
  shutDown_ = true;
  std::vector<Waiter> parked;
  {
    std::lock_guard<std::mutex> lock(pendingMu_);
    acceptingWaiters_ = false;
    for (auto& entry : pending_) {
      for (auto& w : entry.second.waiters) parked.push_back(std::move(w));
    }
    pending_.clear();
  }
  failWaiters(parked);
  chunks_.shutdown();
  prefetcher_.stop();
  if (!mounted_) return;
  fuse_session_exit(session_);
  // Abort the connection so that session threads blocked reading /dev/fuse wake up even
  // while other processes hold files open, THEN detach. The order matters: once detached
  // and unused, the superblock dies and its device minor is free for the next FUSE mount
  // on the machine, so an abort written after the detach could hit another process's
  // connection (seen as ECONNABORTED in a neighbouring worker's container).
  // Only while the mount at our mountpoint is still ours: if someone else detached it
  // (`umount -l`), its superblock may be gone, the kernel has aborted our connection
  // itself, and the minor may already belong to another process's new mount.
  if (device_ && stillOurMount()) abortConnection(minor(device_));
  pauseForShutdownOrderTest();
  umount2(options_.mountpoint.c_str(), MNT_DETACH);
  bool finished;
  {
    std::unique_lock<std::mutex> lock(loopMu_);
    finished = loopDone_.wait_for(lock, kShutdownJoinTimeout, [this] { return loopFinished_; });
  }
  mounted_ = false;
  if (!finished) {
    // Better a leaked thread and session than a hung process exit.
    loopThread_.detach();
    return;
  }
  loopThread_.join();
  std::unordered_map<fuse_ino_t, InodeFile> inodeFiles;  // released after the lock below
  {
    std::lock_guard<std::mutex> lock(openMu_);
    inodeFiles.swap(inodeFiles_);
    inodeLru_.clear();
  }
  inodeFiles.clear();
  {
    std::lock_guard<std::mutex> lock(openMu_);
    for (OpenFile* of : openFiles_) delete of;
    openFiles_.clear();
    for (const auto& entry : blobFds_) close(entry.second.fd);
    blobFds_.clear();
    idleBlobs_.clear();
  }
  fuse_session_destroy(session_);
  session_ = nullptr;
}

// ---- images --------------------------------------------------------------------------

void LazyFs::addImage(std::shared_ptr<Image> image) {
  {
    std::unique_lock<std::shared_mutex> lock(imagesMu_);
    image->base = nextBase_;
    nextBase_ += image->nodes.size() + 16;  // inode numbers are never reused
    byBase_[image->base] = image;
    for (const auto& name : image->names) byName_[name] = image;
  }
  mountRootChanged();
}

bool LazyFs::removeImage(const std::string& id) {
  std::shared_ptr<Image> image;
  {
    std::unique_lock<std::shared_mutex> lock(imagesMu_);
    auto it = byName_.find(id);
    if (it == byName_.end() || it->second->id != id) return false;
    image = it->second;
    byBase_.erase(image->base);
    for (const auto& name : image->names) {
      auto n = byName_.find(name);
      if (n != byName_.end() && n->second == image) byName_.erase(n);
    }
  }
  if (mounted_ && session_) {
    for (const auto& name : image->names) {
      fuse_lowlevel_notify_inval_entry(session_, FUSE_ROOT_ID, name.c_str(), name.size());
    }
  }
  mountRootChanged();
  return true;
}

std::shared_ptr<Counters> LazyFs::countersOf(const std::string& id) {
  std::shared_lock<std::shared_mutex> lock(imagesMu_);
  auto it = byName_.find(id);
  return it == byName_.end() ? nullptr : it->second->counters;
}

bool LazyFs::resolve(fuse_ino_t ino, Resolved* out) {
  if (ino == FUSE_ROOT_ID) {
    out->image = nullptr;
    out->index = 0;
    return true;
  }
  std::shared_lock<std::shared_mutex> lock(imagesMu_);
  auto it = byBase_.upper_bound(ino);
  if (it == byBase_.begin()) return false;
  --it;
  const uint64_t index = ino - it->first;
  if (index >= it->second->nodes.size()) return false;
  out->image = it->second;
  out->index = static_cast<uint32_t>(index);
  return true;
}

void LazyFs::fillMountRootStat(struct stat* st) {
  std::memset(st, 0, sizeof(*st));
  st->st_ino = FUSE_ROOT_ID;
  st->st_mode = S_IFDIR | 0755;
  st->st_nlink = 2;
  // Changes whenever an image comes or goes, so the kernel drops its cached listing.
  const int64_t changed = rootChangedNs_.load();
  st->st_mtim.tv_sec = st->st_ctim.tv_sec = changed / 1000000000;
  st->st_mtim.tv_nsec = st->st_ctim.tv_nsec = changed % 1000000000;
}

void LazyFs::mountRootChanged() {
  rootChangedNs_ = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  if (mounted_ && session_) fuse_lowlevel_notify_inval_inode(session_, FUSE_ROOT_ID, 0, 0);
}

// ---- metadata operations -------------------------------------------------------------

void LazyFs::replyImageRootEntry(fuse_req_t req, const std::shared_ptr<Image>& image) {
  fuse_entry_param e{};
  e.ino = image->inodeOf(0);
  image->fillStat(0, &e.attr);
  e.attr_timeout = kMountRootTimeout;
  e.entry_timeout = kMountRootTimeout;
  fuse_reply_entry(req, &e);
}

void LazyFs::opLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  total_.lookups++;
  if (parent == FUSE_ROOT_ID) {
    std::shared_ptr<Image> image;
    {
      std::shared_lock<std::shared_mutex> lock(imagesMu_);
      auto it = byName_.find(name);
      if (it != byName_.end()) image = it->second;
    }
    if (!image) {
      total_.negativeLookups++;
      fuse_reply_err(req, ENOENT);  // not cached: the image may be loaded next
      return;
    }
    replyImageRootEntry(req, image);
    return;
  }
  Resolved r;
  if (!resolve(parent, &r)) { fuse_reply_err(req, ESTALE); return; }
  const Image& image = *r.image;
  Counters& counters = *image.counters;
  counters.lookups++;
  if (!S_ISDIR(image.nodes[r.index].mode)) { fuse_reply_err(req, ENOTDIR); return; }
  const int64_t child = image.findChild(r.index, name);
  fuse_entry_param e{};
  e.entry_timeout = kImmutableTimeout;
  if (child < 0) {
    SWAY_COUNT(counters, total_, negativeLookups, 1);
    e.ino = 0;  // a negative entry the kernel keeps: absences never change either
    fuse_reply_entry(req, &e);
    return;
  }
  SWAY_COUNT(counters, total_, memoryHits, 1);
  e.ino = image.inodeOf(static_cast<uint32_t>(child));
  e.attr_timeout = kImmutableTimeout;
  image.fillStat(static_cast<uint32_t>(child), &e.attr);
  fuse_reply_entry(req, &e);
}

void LazyFs::opGetattr(fuse_req_t req, fuse_ino_t ino) {
  Resolved r;
  if (!resolve(ino, &r)) { fuse_reply_err(req, ESTALE); return; }
  struct stat st;
  if (!r.image) {
    fillMountRootStat(&st);
    fuse_reply_attr(req, &st, kMountRootTimeout);
    return;
  }
  SWAY_COUNT(*r.image->counters, total_, memoryHits, 1);
  r.image->fillStat(r.index, &st);
  fuse_reply_attr(req, &st, kImmutableTimeout);
}

void LazyFs::opReadlink(fuse_req_t req, fuse_ino_t ino) {
  Resolved r;
  if (!resolve(ino, &r)) { fuse_reply_err(req, ESTALE); return; }
  if (!r.image || !S_ISLNK(r.image->nodes[r.index].mode)) { fuse_reply_err(req, EINVAL); return; }
  SWAY_COUNT(*r.image->counters, total_, memoryHits, 1);
  fuse_reply_readlink(req, r.image->nodes[r.index].target.c_str());
}

void LazyFs::opOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (zeroMessageOpendir_) { fuse_reply_err(req, ENOSYS); return; }
  Resolved r;
  if (!resolve(ino, &r)) { fuse_reply_err(req, ESTALE); return; }
  if (r.image && !S_ISDIR(r.image->nodes[r.index].mode)) { fuse_reply_err(req, ENOTDIR); return; }
  if (r.image) {
    // An image directory never changes: the kernel may keep its listing across opens.
    fi->keep_cache = 1;
    fi->cache_readdir = 1;
  }
  fuse_reply_open(req, fi);
}

void LazyFs::opReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
  Resolved r;
  if (!resolve(ino, &r)) { fuse_reply_err(req, ESTALE); return; }
  // The listing as (name, node index or -1 for "the mount root", image) in cookie order.
  struct Item { const char* name; std::shared_ptr<Image> image; uint32_t index; bool mountRoot; };
  std::vector<Item> items;
  std::vector<std::string> rootNames;  // keeps names alive for the mount root listing
  if (!r.image) {
    std::vector<std::shared_ptr<Image>> images;
    {
      std::shared_lock<std::shared_mutex> lock(imagesMu_);
      for (const auto& entry : byName_) { rootNames.push_back(entry.first); images.push_back(entry.second); }
    }
    items.push_back({".", nullptr, 0, true});
    items.push_back({"..", nullptr, 0, true});
    for (size_t i = 0; i < rootNames.size(); i++) items.push_back({rootNames[i].c_str(), images[i], 0, false});
  } else {
    const Image& image = *r.image;
    const Node& dir = image.nodes[r.index];
    if (!S_ISDIR(dir.mode)) { fuse_reply_err(req, ENOTDIR); return; }
    SWAY_COUNT(*image.counters, total_, memoryHits, 1);
    items.reserve(dir.children.size() + 2);
    items.push_back({".", r.image, r.index, false});
    if (r.index == 0) items.push_back({"..", nullptr, 0, true});
    else items.push_back({"..", r.image, dir.parent, false});
    for (const auto& child : dir.children) items.push_back({child.first.c_str(), r.image, child.second, false});
  }
  std::vector<char> buf(size);
  size_t used = 0;
  for (size_t i = static_cast<size_t>(off); i < items.size(); i++) {
    const Item& item = items[i];
    fuse_entry_param e{};
    if (item.mountRoot) fillMountRootStat(&e.attr);
    else item.image->fillStat(item.index, &e.attr);
    const bool atMountRoot = !r.image;
    e.ino = e.attr.st_ino;
    e.attr_timeout = e.entry_timeout = atMountRoot ? kMountRootTimeout : kImmutableTimeout;
    const off_t next = static_cast<off_t>(i + 1);
    size_t need = plus ? fuse_add_direntry_plus(req, buf.data() + used, size - used, item.name, &e, next)
                       : fuse_add_direntry(req, buf.data() + used, size - used, item.name, &e.attr, next);
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void LazyFs::opStatfs(fuse_req_t req) {
  struct statvfs st{};
  uint64_t bytes = 0, files = 0;
  {
    std::shared_lock<std::shared_mutex> lock(imagesMu_);
    for (const auto& entry : byBase_) { bytes += entry.second->totalBytes; files += entry.second->nodes.size(); }
  }
  st.f_bsize = st.f_frsize = 4096;
  st.f_blocks = (bytes + 4095) / 4096;
  st.f_files = files;
  st.f_namemax = 255;
  fuse_reply_statfs(req, &st);
}

void LazyFs::opGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Resolved r;
  if (!resolve(ino, &r)) { fuse_reply_err(req, ESTALE); return; }
  if (!r.image) { fuse_reply_err(req, ENODATA); return; }
  SWAY_COUNT(*r.image->counters, total_, memoryHits, 1);
  for (const auto& attr : r.image->nodes[r.index].xattrs) {
    if (attr.first != name) continue;
    if (size == 0) fuse_reply_xattr(req, attr.second.size());
    else if (size < attr.second.size()) fuse_reply_err(req, ERANGE);
    else fuse_reply_buf(req, attr.second.data(), attr.second.size());
    return;
  }
  fuse_reply_err(req, ENODATA);
}

void LazyFs::opListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Resolved r;
  if (!resolve(ino, &r)) { fuse_reply_err(req, ESTALE); return; }
  std::string names;
  if (r.image) {
    SWAY_COUNT(*r.image->counters, total_, memoryHits, 1);
    for (const auto& attr : r.image->nodes[r.index].xattrs) { names += attr.first; names.push_back('\0'); }
  }
  if (size == 0) fuse_reply_xattr(req, names.size());
  else if (size < names.size()) fuse_reply_err(req, ERANGE);
  else fuse_reply_buf(req, names.data(), names.size());
}

// ---- contents ------------------------------------------------------------------------

// One descriptor per cached blob, shared by all its open files (reads use pread
// at an offset, so sharing is safe): an open of a blob already open costs no syscall.
int LazyFs::acquireBlob(const std::string& hash, uint64_t size) {
  {
    std::lock_guard<std::mutex> lock(openMu_);
    auto it = blobFds_.find(hash);
    if (it != blobFds_.end()) {
      accessed_.insert(hash);  // first: if it throws, no reference was taken
      if (it->second.refs++ == 0) idleBlobs_.erase(it->second.idle);
      return it->second.fd;
    }
  }
  int fd = open(cachePath(options_.cacheDir, hash).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  // A cache entry of the wrong size is not the blob (the fetch will replace it).
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) != size) {
    close(fd);
    return -1;
  }
  // Readers of a container's files mostly read them whole: read ahead generously.
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  std::lock_guard<std::mutex> lock(openMu_);
  std::pair<std::unordered_map<std::string, BlobFd>::iterator, bool> inserted;
  try {
    accessed_.insert(hash);
    inserted = blobFds_.try_emplace(hash, BlobFd{fd, 0, 0, {}});
  } catch (const std::exception&) {
    close(fd);
    throw;
  }
  if (!inserted.second) close(fd);  // another thread opened it meanwhile: use theirs
  if (inserted.first->second.refs++ == 0 && !inserted.second) idleBlobs_.erase(inserted.first->second.idle);
  return inserted.first->second.fd;
}

void LazyFs::releaseBlob(const std::string& hash) {
  std::lock_guard<std::mutex> lock(openMu_);
  auto it = blobFds_.find(hash);
  if (it == blobFds_.end() || --it->second.refs > 0) return;
  try {
    idleBlobs_.push_front(hash);
  } catch (const std::exception&) {  // runs after replies: close it instead of keeping it idle
    if (it->second.backingId > 0) passthrough_.closeBacking(it->second.backingId);
    close(it->second.fd);
    blobFds_.erase(it);
    return;
  }
  it->second.idle = idleBlobs_.begin();
  if (idleBlobs_.size() > kMaxIdleBlobFds) closeBlobFd(blobFds_.find(idleBlobs_.back()));
}

void LazyFs::closeBlobFd(std::unordered_map<std::string, BlobFd>::iterator it) {
  idleBlobs_.erase(it->second.idle);
  // The kernel holds its own reference to the backing file while a file uses it.
  if (it->second.backingId > 0) passthrough_.closeBacking(it->second.backingId);
  close(it->second.fd);
  blobFds_.erase(it);
}

void LazyFs::replyOpened(fuse_req_t req, fuse_file_info* fi, OpenFile* of) {
  const bool wholeBlob = of->fd >= 0 && !of->chunked;
  const uint64_t size = of->size;
  const std::string& hash = of->hash;
  const fuse_ino_t ino = of->ino;
  int backingId = 0;
  int prefetchFd = -1;
  {
    std::lock_guard<std::mutex> lock(openMu_);
    auto blob = blobFds_.find(hash);
    if (wholeBlob && size > kPassthroughAboveBytes && blob != blobFds_.end() && passthrough_.usable() &&
        cachedOpens_.count(ino) == 0) {
      // One backing id per blob: the kernel refuses two backing files for one inode.
      if (blob->second.backingId == 0) blob->second.backingId = passthrough_.openBacking(blob->second.fd);
      backingId = blob->second.backingId;
      if (backingId > 0 && size >= kPrefetchAboveBytes) prefetchFd = fcntl(blob->second.fd, F_DUPFD_CLOEXEC, 0);
    }
    of->passthrough = backingId > 0;
    // Either both or neither (if one throws, the caller closes `of` and answers).
    openFiles_.insert(of);
    if (!of->passthrough) {
      try { cachedOpens_[ino]++; } catch (const std::exception&) { openFiles_.erase(of); throw; }
    }
    if (of->passthrough) SWAY_COUNT(*of->counters, total_, passthroughOpens, 1);
  }
  if (prefetchFd >= 0) {
    // A read-ahead is an optimisation: without memory for it, the open goes on without it.
    try {
      Prefetcher::StillOpen stillOpen = [this, hash] {
        std::lock_guard<std::mutex> lock(openMu_);
        auto it = blobFds_.find(hash);
        return it != blobFds_.end() && it->second.refs > 0;
      };
      std::shared_ptr<Counters> counters = of->counters;
      Prefetcher::OnPrefetch onPrefetch = [this, counters](uint64_t bytes) { SWAY_COUNT(*counters, total_, prefetchedBytes, bytes); };
      prefetcher_.start(hash, prefetchFd, size, kPrefetchDelay, std::move(stillOpen), std::move(onPrefetch));  // owns the fd
    } catch (const std::exception&) {
      close(prefetchFd);  // thrown before start() took it
    }
  }
  fi->fh = reinterpret_cast<uint64_t>(of);
  // Content never changes: keep the page cache across opens. Not with passthrough: the
  // kernel refuses FOPEN_KEEP_CACHE there (FOPEN_PASSTHROUGH_MASK) and keeps no pages of
  // its own for the file anyway, the cache file's pages serve every read.
  fi->keep_cache = of->passthrough ? 0 : 1;
  fi->noflush = 1;     // nothing to flush on close: spare the FLUSH round trip
  Passthrough::armOpenReply(backingId);  // the reply is written on this thread, inside fuse_reply_open
  const int replied = fuse_reply_open(req, fi);
  Passthrough::armOpenReply(0);
  if (replied != 0) {
    // The opener went away (interrupted); the kernel will never send a release.
    opRelease(nullptr, fi);
  }
}

void LazyFs::opOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  // Open-less mode: this ENOSYS tells the kernel that no open needs a request; it sets
  // no_open for the connection and opens this file (and every later one) itself.
  if (noOpen_) { fuse_reply_err(req, ENOSYS); return; }
  if ((fi->flags & O_ACCMODE) != O_RDONLY) { fuse_reply_err(req, EROFS); return; }
  Opening o = startOpen(ino);
  if (o.err != 0) { fuse_reply_err(req, o.err); return; }
  if (o.empty) {
    fi->fh = 0;  // empty file: nothing to read, nothing to fetch
    fi->keep_cache = 1;
    fuse_reply_open(req, fi);
    return;
  }
  if (o.file) {
    try {
      replyOpened(req, fi, o.file);
    } catch (const std::exception&) {
      closeFile(o.file);  // replyOpened throws only before it answers
      throw;
    }
    return;
  }
  parkOnFetch(o.hash, o.size, Waiter{req, ino, *fi, o.counters});
}

LazyFs::Opening LazyFs::startOpen(fuse_ino_t ino) {
  Opening o;
  Resolved r;
  if (!resolve(ino, &r)) { o.err = ESTALE; return o; }
  if (!r.image || S_ISDIR(r.image->nodes[r.index].mode)) { o.err = EISDIR; return o; }
  const Node& node = r.image->nodes[r.index];
  Counters& counters = *r.image->counters;
  if (node.size == 0) {
    SWAY_COUNT(counters, total_, memoryHits, 1);
    o.empty = true;
    return o;
  }
  o.counters = r.image->counters;
  o.hash = node.hash;
  o.size = node.size;
  int fd = acquireBlob(node.hash, node.size);
  if (fd >= 0) {
    SWAY_COUNT(counters, total_, diskHits, 1);
    o.file = new OpenFile{ino, false, fd, node.size, node.hash, o.counters, nullptr};
  } else if (node.chunkSize > 0) {
    // Not cached whole: open at once, fetch only the chunks that reads touch.
    auto chunked = chunks_.acquire(node.hash, node.size, node.chunkSize, o.counters);
    if (!chunked) {  // over what the JS layer promised, or no memory for its state
      SWAY_COUNT(counters, total_, eios, 1);
      o.err = EIO;
      return o;
    }
    try {
      o.file = new OpenFile{ino, false, -1, node.size, node.hash, o.counters, chunked};
    } catch (const std::exception&) {
      chunks_.release(chunked);
      throw;
    }
  }
  return o;
}

void LazyFs::parkOnFetch(const std::string& hash, uint64_t size, Waiter w) {
  const std::shared_ptr<Counters> counters = w.counters;
  const fuse_req_t req = w.req;
  bool first = false;
  bool parked = false;
  {
    std::lock_guard<std::mutex> lock(pendingMu_);
    bool kernelsRetry = false;  // of a READ whose fetch just failed (open-less mode)
    auto failed = recentFailures_.find(hash);
    if (failed != recentFailures_.end()) {
      kernelsRetry = std::chrono::steady_clock::now() - failed->second < kRecentFailure;
      recentFailures_.erase(failed);
    }
    if (acceptingWaiters_ && !kernelsRetry) {
      auto found = pending_.find(hash);
      if (found == pending_.end()) {
        first = true;
        PendingFetch& p = pending_[hash];
        p.size = size;
        p.started = std::chrono::steady_clock::now();
        p.counters = counters;
        found = pending_.find(hash);
      }
      try {
        found->second.waiters.push_back(std::move(w));
      } catch (const std::exception&) {
        if (first) pending_.erase(found);  // a fetch nobody will start must not take waiters
        throw;                             // not parked: the handler's guard answers
      }
      parked = true;
    }
  }
  if (!parked) {
    SWAY_COUNT(*counters, total_, eios, 1);
    fuse_reply_err(req, EIO);
    return;
  }
  if (first) {
    SWAY_COUNT(*counters, total_, serverFetches, 1);
    // The request is parked (blobReady answers it): nothing from here on may throw.
    bool handed = false;
    try { handed = onMiss_(hash, size); } catch (const std::exception&) {}
    if (!handed) blobReady(hash, EIO);
  }
}

void LazyFs::blobReady(const std::string& hash, int err) {
  PendingFetch fetch;
  {
    std::lock_guard<std::mutex> lock(pendingMu_);
    auto it = pending_.find(hash);
    if (it == pending_.end()) return;  // already answered (shutdown)
    fetch = std::move(it->second);
    pending_.erase(it);
    if (err != 0 && noOpen_) {
      const auto now = std::chrono::steady_clock::now();
      if (recentFailures_.size() >= 1024) {  // a long outage: forget the old ones
        for (auto f = recentFailures_.begin(); f != recentFailures_.end();) {
          f = now - f->second >= kRecentFailure ? recentFailures_.erase(f) : std::next(f);
        }
      }
      try { recentFailures_[hash] = now; } catch (const std::exception&) {}  // only spares a fetch
    }
  }
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - fetch.started).count();
  fetch.counters->noteLatency(static_cast<uint64_t>(us));
  total_.noteLatency(static_cast<uint64_t>(us));
  if (err == 0) SWAY_COUNT(*fetch.counters, total_, bytesFetched, fetch.size);
  // The waiters are out of pending_: each gets exactly one answer, whatever throws.
  for (Waiter& w : fetch.waiters) {
    int fd = -1;
    try {
      fd = err == 0 ? acquireBlob(hash, fetch.size) : -1;
    } catch (const std::exception&) {}
    if (fd < 0) {
      SWAY_COUNT(*w.counters, total_, eios, 1);
      fuse_reply_err(w.req, EIO);
      continue;
    }
    OpenFile* made = nullptr;
    try {
      made = new OpenFile{w.ino, false, fd, fetch.size, hash, w.counters, nullptr};
    } catch (const std::exception&) {
      releaseBlob(hash);
      fuse_reply_err(w.req, ENOMEM);
      continue;
    }
    // replyOpened, keepInodeFile and serveRead throw only before they answer.
    if (!w.isRead) {
      try { replyOpened(w.req, &w.fi, made); } catch (const std::exception&) { closeFile(made); fuse_reply_err(w.req, ENOMEM); }
      continue;
    }
    try {
      std::shared_ptr<OpenFile> kept = keepInodeFile(w.ino, made);  // owns `made` from here, even if it throws
      serveRead(w.req, *kept, w.readSize, w.readOff);
    } catch (const std::exception&) {
      fuse_reply_err(w.req, ENOMEM);
    }
  }
}

void LazyFs::failWaiters(std::vector<Waiter>& waiters) {
  for (Waiter& w : waiters) {
    SWAY_COUNT(*w.counters, total_, eios, 1);
    fuse_reply_err(w.req, EIO);
  }
  waiters.clear();
}

void LazyFs::opRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  if (fi->fh != 0) { serveRead(req, *reinterpret_cast<OpenFile*>(fi->fh), size, off); return; }
  // fh 0 with OPENs: an empty file. Without: any file, opened by the kernel alone.
  if (!noOpen_) { fuse_reply_buf(req, nullptr, 0); return; }
  if (std::shared_ptr<OpenFile> kept = inodeFile(ino)) { serveRead(req, *kept, size, off); return; }
  // The inode's first read (since its file was evicted): do what an OPEN would have done.
  Opening o = startOpen(ino);
  if (o.err != 0) { fuse_reply_err(req, o.err); return; }
  if (o.empty) { fuse_reply_buf(req, nullptr, 0); return; }
  if (o.file) { serveRead(req, *keepInodeFile(ino, o.file), size, off); return; }
  parkOnFetch(o.hash, o.size, Waiter{req, ino, fuse_file_info{}, o.counters, true, size, off});
}

void LazyFs::serveRead(fuse_req_t req, OpenFile& of, size_t size, off_t off) {
  const uint64_t available = static_cast<uint64_t>(off) < of.size ? of.size - static_cast<uint64_t>(off) : 0;
  SWAY_COUNT(*of.counters, total_, reads, 1);
  SWAY_COUNT(*of.counters, total_, bytesRead, std::min<uint64_t>(available, size));
  if (of.chunked) { chunks_.read(req, of.chunked, size, off, of.counters); return; }
  replyFromFile(req, of.fd, size, off);
}

std::shared_ptr<OpenFile> LazyFs::inodeFile(fuse_ino_t ino) {
  std::lock_guard<std::mutex> lock(openMu_);
  auto it = inodeFiles_.find(ino);
  if (it == inodeFiles_.end()) return nullptr;
  inodeLru_.splice(inodeLru_.begin(), inodeLru_, it->second.lru);
  // Without opens, a read is the only sign of use the disk cache's LRU can get.
  accessed_.insert(it->second.file->hash);
  return it->second.file;
}

std::shared_ptr<OpenFile> LazyFs::keepInodeFile(fuse_ino_t ino, OpenFile* of) {
  // Declared before the lock: files dropped here are closed after it is released
  // (closing one takes openMu_ again).
  std::vector<std::shared_ptr<OpenFile>> dropped;
  std::shared_ptr<OpenFile> made(of, [this](OpenFile* f) { closeFile(f); });
  std::lock_guard<std::mutex> lock(openMu_);
  auto it = inodeFiles_.find(ino);
  if (it != inodeFiles_.end()) {  // another thread kept one meanwhile: use theirs
    dropped.push_back(std::move(made));
    inodeLru_.splice(inodeLru_.begin(), inodeLru_, it->second.lru);
    return it->second.file;
  }
  inodeLru_.push_front(ino);
  try {
    inodeFiles_.emplace(ino, InodeFile{made, inodeLru_.begin()});
  } catch (const std::exception&) {
    inodeLru_.pop_front();
    throw;  // `made` closes the file
  }
  // Evict from the cold end, skipping files in use.
  auto victim = std::prev(inodeLru_.end());
  while (inodeFiles_.size() > kMaxInodeFiles && victim != inodeLru_.begin()) {
    auto file = inodeFiles_.find(*victim);
    auto next = std::prev(victim);
    if (!inUse(file->second.file)) {
      dropped.push_back(std::move(file->second.file));
      inodeFiles_.erase(file);
      inodeLru_.erase(victim);
    }
    victim = next;
  }
  return made;
}

// A read is running on it (it holds a reference), or a chunk read is parked on its blob
// (whose state chunksReady must still find). Called with openMu_ held.
bool LazyFs::inUse(const std::shared_ptr<OpenFile>& file) {
  return file.use_count() > 1 || (file->chunked && chunks_.hasParkedReads(file->chunked));
}

void LazyFs::dropIdleFiles() {
  {
    std::vector<std::shared_ptr<OpenFile>> dropped;  // closed after the lock is released
    std::lock_guard<std::mutex> lock(openMu_);
    for (auto it = inodeFiles_.begin(); it != inodeFiles_.end();) {
      if (inUse(it->second.file)) { ++it; continue; }
      dropped.push_back(std::move(it->second.file));
      inodeLru_.erase(it->second.lru);
      it = inodeFiles_.erase(it);
    }
  }
  // The inode files just closed released their blobs into idleBlobs_: close those too.
  std::lock_guard<std::mutex> lock(openMu_);
  while (!idleBlobs_.empty()) closeBlobFd(blobFds_.find(idleBlobs_.back()));
}

void LazyFs::closeFile(OpenFile* of) {
  if (of->chunked) chunks_.release(of->chunked);
  else releaseBlob(of->hash);
  delete of;
}

// req is null when called for an open whose reply failed.
void LazyFs::opRelease(fuse_req_t req, fuse_file_info* fi) {
  if (fi->fh != 0) {
    auto* of = reinterpret_cast<OpenFile*>(fi->fh);
    {
      std::lock_guard<std::mutex> lock(openMu_);
      openFiles_.erase(of);
      if (!of->passthrough) {
        auto cached = cachedOpens_.find(of->ino);
        if (cached != cachedOpens_.end() && --cached->second == 0) cachedOpens_.erase(cached);
      }
    }
    closeFile(of);
  }
  if (req) fuse_reply_err(req, 0);
}

std::vector<std::string> LazyFs::openHashes() {
  std::lock_guard<std::mutex> lock(openMu_);
  std::vector<std::string> out = chunks_.openHashes();
  for (const auto& entry : blobFds_) out.push_back(entry.first);
  return out;
}

std::vector<std::string> LazyFs::drainAccessed() {
  std::lock_guard<std::mutex> lock(openMu_);
  std::vector<std::string> out(accessed_.begin(), accessed_.end());
  accessed_.clear();
  return out;
}

size_t LazyFs::pendingCount() {
  std::lock_guard<std::mutex> lock(pendingMu_);
  return pending_.size();
}

}  // namespace sway
