// FUSE passthrough on libfuse 3.14 through custom device I/O (see passthrough.h).
#include "passthrough.h"
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>

namespace sway {

namespace {

// include/uapi/linux/fuse.h (protocol 7.40), only what the edits need.
constexpr uint32_t kOpcodeInit = 26;
constexpr uint32_t kInitExt = 1u << 30;          // FUSE_INIT_EXT: flags2 is meaningful
constexpr uint32_t kPassthroughFlags2 = 1u << 5;  // FUSE_PASSTHROUGH = 1ULL << 37
constexpr uint32_t kOpenPassthrough = 1u << 7;    // FOPEN_PASSTHROUGH
constexpr uint32_t kMaxStackDepth = 1;

struct InHeader { uint32_t len, opcode; uint64_t unique, nodeid; uint32_t uid, gid, pid; uint16_t totalExtlen, padding; };
struct OutHeader { uint32_t len; int32_t error; uint64_t unique; };
struct InitIn { uint32_t major, minor, maxReadahead, flags, flags2, unused[11]; };
struct InitOut {
  uint32_t major, minor, maxReadahead, flags;
  uint16_t maxBackground, congestionThreshold;
  uint32_t maxWrite, timeGran;
  uint16_t maxPages, mapAlignment;
  uint32_t flags2, maxStackDepth;
  uint16_t requestTimeout, unused[11];
};
struct OpenOut { uint64_t fh; uint32_t openFlags; int32_t backingId; };
struct BackingMap { int32_t fd; uint32_t flags; uint64_t padding; };
static_assert(sizeof(InHeader) == 40 && sizeof(OutHeader) == 16 && sizeof(InitIn) == 64, "FUSE UAPI layout");
static_assert(sizeof(InitOut) == 64 && sizeof(OpenOut) == 16 && sizeof(BackingMap) == 16, "FUSE UAPI layout");

// FUSE_DEV_IOC_MAGIC 229: BACKING_OPEN _IOW(229, 1, struct fuse_backing_map),
// BACKING_CLOSE _IOW(229, 2, uint32_t).
const unsigned long kIocBackingOpen = _IOW(229, 1, BackingMap);
const unsigned long kIocBackingClose = _IOW(229, 2, uint32_t);

thread_local int armedBackingId = 0;

}  // namespace

void Passthrough::armOpenReply(int backingId) { armedBackingId = backingId; }

int Passthrough::openBacking(int fd) {
  if (!usable()) return -EPERM;
  BackingMap map{};
  map.fd = fd;
  const int id = ioctl(deviceFd_, kIocBackingOpen, &map);
  if (id > 0) return id;
  const int err = id < 0 ? errno : EIO;
  // EPERM: the kernel did not take passthrough for this connection (or we are not root).
  if (err == EPERM) refused_ = true;
  return -err;
}

void Passthrough::closeBacking(int id) {
  uint32_t arg = static_cast<uint32_t>(id);
  ioctl(deviceFd_, kIocBackingClose, &arg);
}

ssize_t Passthrough::readRequest(int fd, void* buf, size_t len) {
  const ssize_t n = read(fd, buf, len);
  if (n >= static_cast<ssize_t>(sizeof(InHeader) + sizeof(InitIn))) {
    InHeader in;
    std::memcpy(&in, buf, sizeof(in));
    if (in.opcode == kOpcodeInit) {
      InitIn init;
      std::memcpy(&init, static_cast<char*>(buf) + sizeof(in), sizeof(init));
      kernelOffers_ = (init.flags & kInitExt) && (init.flags2 & kPassthroughFlags2);
      initUnique_ = in.unique;
    }
  }
  return n;
}

ssize_t Passthrough::writeReply(int fd, struct iovec* iov, int count) {
  if (count < 2 || iov[0].iov_len != sizeof(OutHeader)) return writev(fd, iov, count);
  OutHeader out;
  std::memcpy(&out, iov[0].iov_base, sizeof(out));
  if (out.error != 0 || out.unique == 0) return writev(fd, iov, count);
  // The edited payload goes out from a copy; libfuse's own buffer is left as it was.
  const uint64_t init = initUnique_.load();
  if (init != 0 && out.unique == init && iov[1].iov_len == sizeof(InitOut) && count == 2) {
    initUnique_ = 0;
    InitOut reply;
    std::memcpy(&reply, iov[1].iov_base, sizeof(reply));
    if (kernelOffers_) {
      reply.flags |= kInitExt;
      reply.flags2 |= kPassthroughFlags2;
      reply.maxStackDepth = kMaxStackDepth;
      requested_ = true;
    }
    struct iovec edited[2] = {iov[0], {&reply, sizeof(reply)}};
    return writev(fd, edited, 2);
  }
  if (armedBackingId > 0 && count == 2 && iov[1].iov_len == sizeof(OpenOut)) {
    OpenOut reply;
    std::memcpy(&reply, iov[1].iov_base, sizeof(reply));
    reply.openFlags |= kOpenPassthrough;
    reply.backingId = armedBackingId;
    armedBackingId = 0;
    struct iovec edited[2] = {iov[0], {&reply, sizeof(reply)}};
    return writev(fd, edited, 2);
  }
  return writev(fd, iov, count);
}

}  // namespace sway
