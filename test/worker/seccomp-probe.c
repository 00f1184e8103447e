// A static probe of the container's seccomp profile, for seccomp.test.ts (busybox has no
// way to make raw syscalls). `seccomp-probe [NAME...]` runs the named probes (all without
// names) and prints one `NAME RESULT` line each: 0 for success, else the errno, or
// `sig<N>` when the call killed the process. Raw syscall numbers where libc has no
// wrapper; the x86 compat probes use `int $0x80` from this 64-bit program.
// Deliberately does not: anything with lasting effect (no connect, no mounts), so the
// safe probes can also run on the host for comparison.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define AF_ALG_ 38
#define AF_VSOCK_ 40
#define FAN_CLASS_NOTIF_REPORT_FID 0x200
#define READ_IMPLIES_EXEC_ 0x0400000
#define PER_BSD_ 0x0006
#define SYS_lsm_list_modules_ 460 /* the same number on every architecture */

static long result(long r) { return r < 0 ? errno : 0; }

static long fd_result(long fd) {
  if (fd < 0) return errno;
  close((int)fd);
  return 0;
}

static long probe_socket(int family, int type) { return fd_result(socket(family, type, 0)); }

// Runs fn in a child, so a call that kills (or a clone child) cannot take the probe down.
static void in_child(const char *name, long (*fn)(void)) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    long r = fn();
    printf("%s %ld\n", name, r);
    fflush(stdout);
    _exit(0);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0) printf("%s fork-%d\n", name, errno);
  else if (WIFSIGNALED(status)) printf("%s sig%d\n", name, WTERMSIG(status));
}

static long p_inet(void) { return probe_socket(AF_INET, SOCK_STREAM); }
static long p_unix(void) { return probe_socket(AF_UNIX, SOCK_STREAM); }
static long p_vsock(void) { return probe_socket(AF_VSOCK_, SOCK_STREAM); }
static long p_alg(void) { return probe_socket(AF_ALG_, SOCK_SEQPACKET); }
static long p_persona_query(void) { return result(syscall(SYS_personality, 0xffffffffUL)); }
static long p_persona_linux(void) { return result(syscall(SYS_personality, 0UL)); }
static long p_persona_rie(void) { return result(syscall(SYS_personality, (unsigned long)READ_IMPLIES_EXEC_)); }
static long p_persona_bsd(void) { return result(syscall(SYS_personality, (unsigned long)PER_BSD_)); }
static long p_fanotify(void) { return fd_result(syscall(SYS_fanotify_init, FAN_CLASS_NOTIF_REPORT_FID, O_RDONLY)); }
static long p_kexec_load(void) { return result(syscall(SYS_kexec_load, 0, 0, 0, 0)); }
static long p_lsm_list_modules(void) {
  uint64_t ids[64];
  uint32_t size = sizeof ids;
  return result(syscall(SYS_lsm_list_modules_, ids, &size, 0));
}
static long p_unshare_user(void) { return result(unshare(CLONE_NEWUSER)); }
static long p_ptrace(void) { return result(ptrace(PTRACE_PEEKDATA, getppid(), 0, 0)); }
static long p_clone3(void) { return result(syscall(SYS_clone3, NULL, 0)); }
static long raw_clone(unsigned long flags) {
  long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) _exit(0);
  if (pid < 0) return errno;
  waitpid((pid_t)pid, NULL, 0);
  return 0;
}
static long p_clone_plain(void) { return raw_clone(0); }
static long p_clone_newns(void) { return raw_clone(CLONE_NEWNS); }
static long p_clone_newuser(void) { return raw_clone(CLONE_NEWUSER); }

#if defined(__x86_64__)
// 32-bit x86 system calls from this 64-bit process; pointers must be below 4 GiB, which
// they are in a static non-PIE binary's data.
static long int80(long nr, long a, long b, long c) {
  long r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory", "r8", "r9", "r10", "r11");
  return r;
}
static uint32_t socketcall_args[3];
static long compat_fd(long r) {
  if (r < 0) return -r;
  int80(6, r, 0, 0); /* close */
  return 0;
}
static long p_compat_getpid(void) { long r = int80(20, 0, 0, 0); return r < 0 ? -r : 0; }
static long p_compat_socket_inet(void) { return compat_fd(int80(359, AF_INET, SOCK_STREAM, 0)); }
static long p_compat_socket_vsock(void) { return compat_fd(int80(359, AF_VSOCK_, SOCK_STREAM, 0)); }
static long compat_socketcall(int family) {
  socketcall_args[0] = family; socketcall_args[1] = SOCK_STREAM; socketcall_args[2] = 0;
  return compat_fd(int80(102, 1 /* SYS_SOCKET */, (long)(uintptr_t)socketcall_args, 0));
}
static long p_compat_socketcall_inet(void) { return compat_socketcall(AF_INET); }
static long p_compat_socketcall_vsock(void) { return compat_socketcall(AF_VSOCK_); }
#endif

static const struct { const char *name; long (*fn)(void); } PROBES[] = {
  {"inet", p_inet}, {"unix", p_unix}, {"vsock", p_vsock}, {"alg", p_alg},
  {"persona_query", p_persona_query}, {"persona_linux", p_persona_linux},
  {"persona_read_implies_exec", p_persona_rie}, {"persona_bsd", p_persona_bsd},
  {"fanotify_init", p_fanotify}, {"kexec_load", p_kexec_load}, {"lsm_list_modules", p_lsm_list_modules},
  {"unshare_user", p_unshare_user}, {"ptrace", p_ptrace}, {"clone3", p_clone3},
  {"clone_plain", p_clone_plain}, {"clone_newns", p_clone_newns}, {"clone_newuser", p_clone_newuser},
#if defined(__x86_64__)
  {"compat_getpid", p_compat_getpid}, {"compat_socket_inet", p_compat_socket_inet},
  {"compat_socket_vsock", p_compat_socket_vsock}, {"compat_socketcall_inet", p_compat_socketcall_inet},
  {"compat_socketcall_vsock", p_compat_socketcall_vsock},
#endif
};

int main(int argc, char **argv) {
  size_t n = sizeof PROBES / sizeof PROBES[0];
  for (size_t i = 0; i < n; i++) {
    int wanted = argc == 1;
    for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], PROBES[i].name) == 0;
    if (wanted) in_child(PROBES[i].name, PROBES[i].fn);
  }
  return 0;
}
