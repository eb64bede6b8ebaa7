// Shared by the two halves of the sandbox: the child side (csandbox_child.c, fork to exec) and
// the caller side (csandbox.c, supervision). Not part of the module's public header.
#pragma once
#include <stdint.h>
#include <sys/types.h>

#include "csandbox.h"

/// Exposed paths beyond this many are ignored (the program and a script are the usual two).
enum { CSANDBOX_MAX_EXPOSED = 16 };

enum { REPORT_SETUP = 1, REPORT_LAUNCH_FAILED = 2, REPORT_EXIT = 3, REPORT_ISOLATION = 4 };

/// One message on the report pipe. 32 bytes, below PIPE_BUF, so writes are atomic.
typedef struct report_msg {
  int32_t kind;
  int32_t value;  // SETUP, ISOLATION: isolation bits (ISOLATION adds to SETUP's); LAUNCH_FAILED:
                  // errno; EXIT: wait status
  int64_t a;      // SETUP: pid of the first process inside the sandbox; LAUNCH_FAILED: step
  int64_t b;      // EXIT: CPU microseconds
  int64_t c;      // EXIT: peak RSS in bytes
} report_msg;

/// Everything the child side needs, prepared by the caller before fork (no allocation after).
typedef struct launch_plan {
  const char *path;
  char *const *argv;
  char *const *envp;
  const char *workdir;
  const csandbox_limits *limits;
  int in_r, out_w, err_w, report_w;
  pid_t caller;
  char uid_map[48];      // "UID UID 1": the caller's ids mapped onto themselves in a user namespace
  char gid_map[48];
  char tmp_options[64];  // tmpfs options of the private /tmp
} launch_plan;

/// The supervisor: new session, namespaces, then the namespace init or the command. Runs in the
/// forked child and never returns. Uses only async-signal-safe calls.
__attribute__((noreturn)) void csandbox_supervise(const launch_plan *plan);

// Sealing (csandbox_seal.c). Each returns the CSANDBOX_ISOLATED_* bits it achieved.

/// Maps the caller's uid and gid onto themselves inside a fresh user namespace. 0 or -1.
int csandbox_map_identity(const launch_plan *plan);
/// In a fresh mount namespace: every mount read-only, `hidden_paths` covered, a private /tmp, the
/// working directory writable at its path. -1 (errno in *failed_errno) if the working directory
/// could not be put back after the view was made read-only: the command must not start then.
int csandbox_seal_mounts(const launch_plan *plan, int *failed_errno);
/// A /proc of the sandbox's own PID namespace, or an empty one over the machine's.
int csandbox_private_proc(int own_pid_namespace);
/// Drops every capability (and the bounding set), locks out the root exemption, no_new_privs.
int csandbox_drop_privileges(void);
/// Landlock: writes only beneath the working directory (and /tmp when it is private).
int csandbox_landlock(const launch_plan *plan, int private_tmp);
