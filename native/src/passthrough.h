// FUSE passthrough (kernel >= 6.9, FUSE protocol 7.40) on Debian's libfuse 3.14, which
// predates it: a big file whose blob is in the disk cache is opened with FOPEN_PASSTHROUGH
// and a backing id for the cache file, and the kernel then serves its reads (and mmap)
// straight from the cache file's page cache; no READ reaches the daemon.
//
// How, without libfuse support: libfuse 3.14 lets a session do its own device I/O
// (fuse_session_custom_io). These hooks read requests and write replies on the same
// /dev/fuse descriptor as libfuse would, and edit exactly two replies on the way out:
//   - the INIT reply gets FUSE_INIT_EXT, FUSE_PASSTHROUGH (flags2 bit 5) and
//     max_stack_depth = 1 (the cache directory is on a plain filesystem, and overlayfs
//     may still be stacked on this mount), if the kernel offered FUSE_PASSTHROUGH;
//   - an OPEN reply written while the calling thread has armed a backing id
//     (armOpenReply) gets FOPEN_PASSTHROUGH and that id in fuse_open_out.backing_id
//     (the field libfuse 3.14 still calls padding).
// Backing ids come from the FUSE_DEV_IOC_BACKING_OPEN ioctl on the device (root only).
// The layouts below are the kernel's UAPI (include/uapi/linux/fuse.h, 7.40), which only
// ever grows: fields are never moved.
//
// Deliberately does not: decide which opens pass through (LazyFs does: files over 1 MiB,
// one backing id per blob, never for an inode that has cached-mode opens), or touch any other message.
// If the kernel does not take passthrough (older kernel, CONFIG_FUSE_PASSTHROUGH off,
// not root), openBacking fails and every open stays a normal cached open.
#pragma once
#include <atomic>
#include <cstdint>
#include <fuse_lowlevel.h>

namespace sway {

class Passthrough {
 public:
  // The session's device descriptor (after fuse_session_mount), for the ioctls. LazyFs
  // then hands libfuse hooks that call readRequest/writeReply (fuse_session_custom_io
  // passes them the session's userdata, the LazyFs).
  void setDevice(int fd) { deviceFd_ = fd; }
  // The INIT reply asked for passthrough and no backing open has failed with EPERM.
  bool usable() const { return requested_.load() && !refused_.load(); }
  // The INIT request offered FUSE_PASSTHROUGH (known once it has been read).
  bool kernelOffers() const { return kernelOffers_.load(); }
  // A backing id for the open descriptor `fd`, or -errno.
  int openBacking(int fd);
  void closeBacking(int id);
  // The next OPEN reply this thread writes passes through to `backingId` (0: disarm).
  static void armOpenReply(int backingId);

  // The device I/O hooks: read(2) and writev(2), plus the two edits.
  ssize_t readRequest(int fd, void* buf, size_t len);
  ssize_t writeReply(int fd, struct iovec* iov, int count);

 private:
  int deviceFd_ = -1;
  std::atomic<uint64_t> initUnique_{0};    // unique of the INIT request, until its reply
  std::atomic<bool> kernelOffers_{false};  // the INIT request offered FUSE_PASSTHROUGH
  std::atomic<bool> requested_{false};     // our INIT reply asked for it
  std::atomic<bool> refused_{false};       // a backing open said EPERM: not for this connection
};

}  // namespace sway
