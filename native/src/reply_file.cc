// READ replies from a file descriptor (see reply_file.h).
#include "reply_file.h"
#include <unistd.h>
#include <cerrno>
#include <vector>

namespace sway {

void replyFromFile(fuse_req_t req, int fd, size_t size, off_t off) {
  // A request is at most max_pages (256 pages, 1 MiB), so each thread's buffer settles
  // at that size after its first big read.
  thread_local std::vector<char> buffer;
  if (buffer.size() < size) {
    try {
      buffer.resize(size);
    } catch (const std::exception&) {  // never throw: callers answer parked requests in a loop
      fuse_reply_err(req, ENOMEM);
      return;
    }
  }
  size_t got = 0;
  while (got < size) {
    const ssize_t n = pread(fd, buffer.data() + got, size - got, off + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno ? errno : EIO;
      if (got == 0) { fuse_reply_err(req, err); return; }
      break;  // a short read: the bytes so far are right
    }
    if (n == 0) break;  // end of file
    got += static_cast<size_t>(n);
  }
  fuse_reply_buf(req, buffer.data(), got);
}

}  // namespace sway
