// Answers a FUSE READ from a cache file descriptor with one fuse_reply_* call: pread into
// a buffer owned by the calling thread (reused, so a 1 MiB request costs no allocation
// and no page faults), then fuse_reply_buf, which copies it into the kernel's pages.
//
// Deliberately not splice (fuse_reply_data with FUSE_BUF_SPLICE_MOVE): the kernel no
// longer moves spliced pages into the FUSE page cache, it copies them, and on top of
// that pays for the pipe; measured on this 2-core machine, a first read of a 512 MiB
// blob from the disk cache ran at about half the speed of pread + write (see
// bench/results/fuse.txt, "before" rows).
#pragma once
#include <sys/types.h>
#include <cstddef>
#include <fuse_lowlevel.h>

namespace sway {

// Replies with the bytes of [off, off + size) that exist (fewer at end of file), or with
// the error of a failed pread (EIO if it gave none).
void replyFromFile(fuse_req_t req, int fd, size_t size, off_t off);

}  // namespace sway
