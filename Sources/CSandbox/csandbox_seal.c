// Sealing the checker's view of the file system, and dropping its privileges.
//
// Runs in the forked children between fork and execve, so only async-signal-safe calls are used
// (open, write, mount and friends through syscall(2), no allocation, no stdio). Constants of the
// newer kernel interfaces are defined here rather than taken from the installed headers, which
// may predate them; every call is checked at run time and a refusal only lowers the isolation
// recorded for the run. See docs/exec-protocol.md for what each layer guarantees.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "csandbox_internal.h"

// ---------------------------------------------------------------------------------------------
// The new mount API (Linux 5.2 open_tree/move_mount, 5.12 mount_setattr).

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

enum {
  SEAL_OPEN_TREE_CLONE = 1,
  SEAL_OPEN_TREE_CLOEXEC = O_CLOEXEC,
  SEAL_MOVE_MOUNT_F_EMPTY_PATH = 0x4,
  SEAL_AT_RECURSIVE = 0x8000,
  SEAL_AT_EMPTY_PATH = 0x1000,
};
static const uint64_t kMountAttrReadOnly = 0x1;
static const uint64_t kMountAttrNoSuid = 0x2;
static const uint64_t kMountAttrNoDev = 0x4;

typedef struct seal_mount_attr {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
} seal_mount_attr;

static int set_mount_attributes(int dirfd, const char *path, unsigned flags, uint64_t set,
                                uint64_t clear) {
  seal_mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = set;
  attr.attr_clr = clear;
  return (int)syscall(SYS_mount_setattr, dirfd, path, flags, &attr, sizeof attr);
}

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t length = strlen(text);
  ssize_t written = write(fd, text, length);
  close(fd);
  return written == (ssize_t)length ? 0 : -1;
}

int csandbox_map_identity(const launch_plan *plan) {
  // Deny setgroups first: without CAP_SETGID in the parent namespace a gid map may only be
  // written once setgroups is off. Best effort: missing on kernels before 3.19.
  write_file("/proc/self/setgroups", "deny");
  if (write_file("/proc/self/uid_map", plan->uid_map) != 0) return -1;
  if (write_file("/proc/self/gid_map", plan->gid_map) != 0) return -1;
  return 0;
}

/// Creates the directories of `path` that do not exist (like mkdir -p), mode 0700.
static int make_directories(const char *path) {
  char buffer[4096];
  size_t length = strlen(path);
  if (length == 0 || length >= sizeof buffer) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(buffer, path, length + 1);
  for (size_t index = 1; index <= length; index++) {
    if (buffer[index] != '/' && buffer[index] != 0) continue;
    char saved = buffer[index];
    buffer[index] = 0;
    if (mkdir(buffer, 0700) != 0 && errno != EEXIST) return -1;
    buffer[index] = saved;
  }
  return 0;
}

/// Creates the missing directories above `path` and, when it is missing, `path` itself: a
/// directory or an empty file, as a mount point for something of that type.
static int make_mount_point(const char *path, int directory) {
  char buffer[4096];
  size_t length = strlen(path);
  if (length == 0 || length >= sizeof buffer) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(buffer, path, length + 1);
  size_t slash = length;
  while (slash > 0 && buffer[slash] != '/') slash--;
  if (slash > 0) {
    buffer[slash] = 0;
    if (make_directories(buffer) != 0) return -1;
  }
  struct stat info;
  if (lstat(path, &info) == 0) return 0;
  if (directory) return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : -1;
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return errno == EEXIST ? 0 : -1;
  close(fd);
  return 0;
}

/// What the command needs from paths that sealing may cover: a read-only copy of each, taken
/// before, and its identity, to tell afterwards whether it is still visible.
typedef struct exposed_paths {
  int fd[CSANDBOX_MAX_EXPOSED];
  struct stat before[CSANDBOX_MAX_EXPOSED];
  int count;
} exposed_paths;

static void take_exposed(const launch_plan *plan, exposed_paths *exposed) {
  exposed->count = plan->limits->exposed_count < CSANDBOX_MAX_EXPOSED ? plan->limits->exposed_count
                                                                       : CSANDBOX_MAX_EXPOSED;
  for (int index = 0; index < exposed->count; index++) {
    const char *path = plan->limits->exposed_paths[index];
    exposed->fd[index] = -1;
    if (path == NULL || stat(path, &exposed->before[index]) != 0) continue;
    exposed->fd[index] = (int)syscall(SYS_open_tree, AT_FDCWD, path,
                                      SEAL_OPEN_TREE_CLONE | SEAL_OPEN_TREE_CLOEXEC);
  }
}

/// Mounts back (read-only) each exposed path that is no longer the file it was. Best effort: a
/// path under a hidden one stays hidden (its mount point cannot be made), and a command whose
/// script is missing fails with the interpreter's own error.
static void restore_exposed(const launch_plan *plan, exposed_paths *exposed) {
  for (int index = 0; index < exposed->count; index++) {
    int fd = exposed->fd[index];
    if (fd < 0) continue;
    const char *path = plan->limits->exposed_paths[index];
    struct stat now;
    int same = stat(path, &now) == 0 && now.st_dev == exposed->before[index].st_dev &&
               now.st_ino == exposed->before[index].st_ino;
    if (!same &&
        set_mount_attributes(fd, "", SEAL_AT_EMPTY_PATH, kMountAttrReadOnly | kMountAttrNoSuid,
                             0) == 0 &&
        make_mount_point(path, S_ISDIR(exposed->before[index].st_mode)) == 0) {
      syscall(SYS_move_mount, fd, "", AT_FDCWD, path, SEAL_MOVE_MOUNT_F_EMPTY_PATH);
    }
    close(fd);
  }
}

/// Covers `path`: a directory with an empty, read-only, unreadable file system, a file with
/// /dev/null. 0 if covered or if the path does not exist (nothing to hide), -1 otherwise.
static int hide(const char *path) {
  struct stat info;
  if (stat(path, &info) != 0) return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
  if (S_ISDIR(info.st_mode)) {
    return mount("hindcast-hidden", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                 "size=4k,nr_inodes=1,mode=000");
  }
  return mount("/dev/null", path, NULL, MS_BIND, NULL);
}

int csandbox_seal_mounts(const launch_plan *plan, int *failed_errno) {
  *failed_errno = 0;
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return 0;
  // Keep a writable copy of the working directory before anything becomes read-only. Without
  // open_tree there is no way to keep it writable, so nothing is sealed (the run continues with
  // the namespaces it has, recorded as unsealed).
  int work = (int)syscall(SYS_open_tree, AT_FDCWD, plan->workdir,
                          SEAL_OPEN_TREE_CLONE | SEAL_OPEN_TREE_CLOEXEC);
  if (work < 0) return 0;
  exposed_paths exposed;
  take_exposed(plan, &exposed);
  int isolation = 0;
  if (set_mount_attributes(AT_FDCWD, "/", SEAL_AT_RECURSIVE, kMountAttrReadOnly | kMountAttrNoSuid,
                           0) != 0) {
    close(work);
    for (int index = 0; index < exposed.count; index++) {
      if (exposed.fd[index] >= 0) close(exposed.fd[index]);
    }
    return 0;
  }
  isolation |= CSANDBOX_ISOLATED_READ_ONLY;

  int hidden_all = 1;
  for (int index = 0; index < plan->limits->hidden_count; index++) {
    const char *path = plan->limits->hidden_paths[index];
    if (path == NULL || hide(path) != 0) hidden_all = 0;
  }
  if (hidden_all) isolation |= CSANDBOX_ISOLATED_HIDDEN;

  if (mount("hindcast-tmp", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, plan->tmp_options) == 0) {
    isolation |= CSANDBOX_ISOLATED_TMP;
  }

  restore_exposed(plan, &exposed);
  // Put the working directory back (it may now lie under the private /tmp, which is empty).
  set_mount_attributes(work, "", SEAL_AT_EMPTY_PATH, kMountAttrNoSuid | kMountAttrNoDev,
                       kMountAttrReadOnly);
  if (make_directories(plan->workdir) != 0 ||
      syscall(SYS_move_mount, work, "", AT_FDCWD, plan->workdir, SEAL_MOVE_MOUNT_F_EMPTY_PATH) !=
          0) {
    *failed_errno = errno;
    close(work);
    return -1;
  }
  close(work);
  return isolation;
}

int csandbox_private_proc(int own_pid_namespace) {
  if (own_pid_namespace &&
      mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0) {
    return CSANDBOX_ISOLATED_PROC;
  }
  // No /proc of its own: hide the machine's, which would show every process and, through
  // /proc/PID/root and /proc/PID/cwd, other processes' views of the file system.
  if (mount("hindcast-noproc", "/proc", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
            "size=4k,nr_inodes=1,mode=555") == 0) {
    return CSANDBOX_ISOLATED_PROC;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Privileges.

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef PR_SET_NO_NEW_PRIVS
#define PR_SET_NO_NEW_PRIVS 38
#endif
// SECBIT_NOROOT | NOROOT_LOCKED | NO_SETUID_FIXUP | NO_SETUID_FIXUP_LOCKED | KEEP_CAPS_LOCKED
// | NO_CAP_AMBIENT_RAISE | NO_CAP_AMBIENT_RAISE_LOCKED.
static const unsigned long kSecureBits = 0x1 | 0x2 | 0x4 | 0x8 | 0x20 | 0x40 | 0x80;

typedef struct seal_cap_header {
  uint32_t version;
  int pid;
} seal_cap_header;
typedef struct seal_cap_data {
  uint32_t effective, permitted, inheritable;
} seal_cap_data;

int csandbox_drop_privileges(void) {
  int ok = 1;
  // Without the root exemption, execve of a uid-0 process grants no capabilities; emptying the
  // bounding set makes sure no file capability can grant one either.
  if (prctl(PR_SET_SECUREBITS, kSecureBits, 0, 0, 0) != 0) ok = 0;
  for (int cap = 0; cap < 64; cap++) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) ok = 0;
  }
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  seal_cap_header header = {0x20080522, 0};  // _LINUX_CAPABILITY_VERSION_3
  seal_cap_data data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &header, data) != 0) ok = 0;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 0;
  return ok ? CSANDBOX_ISOLATED_NO_PRIVILEGES : 0;
}

// ---------------------------------------------------------------------------------------------
// Landlock (Linux 5.13+): the command may create, change and remove files only beneath its
// working directory (and the private /tmp when there is one). Reading is not restricted here;
// the mounts hide what must not be read.

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif

typedef struct seal_landlock_ruleset {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
} seal_landlock_ruleset;

typedef struct __attribute__((packed)) seal_landlock_path_beneath {
  uint64_t allowed_access;
  int32_t parent_fd;
} seal_landlock_path_beneath;

enum {
  LL_WRITE_FILE = 1 << 1,
  LL_REMOVE_DIR = 1 << 4,
  LL_REMOVE_FILE = 1 << 5,
  LL_MAKE_CHAR = 1 << 6,
  LL_MAKE_DIR = 1 << 7,
  LL_MAKE_REG = 1 << 8,
  LL_MAKE_SOCK = 1 << 9,
  LL_MAKE_FIFO = 1 << 10,
  LL_MAKE_BLOCK = 1 << 11,
  LL_MAKE_SYM = 1 << 12,
  LL_REFER = 1 << 13,     // ABI 2
  LL_TRUNCATE = 1 << 14,  // ABI 3
  LL_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0,  // ABI 6
  LL_SCOPE_SIGNAL = 1 << 1,                // ABI 6
};

static int allow_beneath(int ruleset, const char *path, uint64_t access) {
  int fd = open(path, O_PATH | O_CLOEXEC);
  if (fd < 0) return -1;
  seal_landlock_path_beneath rule = {access, fd};
  int result = (int)syscall(SYS_landlock_add_rule, ruleset, 1 /* PATH_BENEATH */, &rule, 0);
  close(fd);
  return result;
}

int csandbox_landlock(const launch_plan *plan, int private_tmp) {
  long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1 /* CREATE_RULESET_VERSION */);
  if (abi < 1) return 0;
  uint64_t writes = LL_WRITE_FILE | LL_REMOVE_DIR | LL_REMOVE_FILE | LL_MAKE_CHAR | LL_MAKE_DIR |
                    LL_MAKE_REG | LL_MAKE_SOCK | LL_MAKE_FIFO | LL_MAKE_BLOCK | LL_MAKE_SYM;
  if (abi >= 2) writes |= LL_REFER;
  if (abi >= 3) writes |= LL_TRUNCATE;
  seal_landlock_ruleset attr;
  memset(&attr, 0, sizeof attr);
  attr.handled_access_fs = writes;
  size_t size = sizeof attr;
  if (abi >= 6) {
    attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
  } else {
    size = offsetof(seal_landlock_ruleset, scoped);
    if (abi < 4) size = offsetof(seal_landlock_ruleset, handled_access_net);
  }
  int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
  if (ruleset < 0) return 0;
  int ok = allow_beneath(ruleset, plan->workdir, writes) == 0;
  if (ok && private_tmp) ok = allow_beneath(ruleset, "/tmp", writes) == 0;
  // Writing to the usual character devices (shells redirect to /dev/null, with O_TRUNC).
  uint64_t device = LL_WRITE_FILE | (abi >= 3 ? LL_TRUNCATE : 0);
  const char *devices[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/tty"};
  for (size_t index = 0; ok && index < sizeof devices / sizeof devices[0]; index++) {
    allow_beneath(ruleset, devices[index], device);  // a missing device is no error
  }
  if (ok) ok = syscall(SYS_landlock_restrict_self, ruleset, 0) == 0;
  close(ruleset);
  return ok ? CSANDBOX_ISOLATED_LANDLOCK : 0;
}
