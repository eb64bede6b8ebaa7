// Shared by the two halves of the sandbox: the child side (csandbox_child.c, fork to exec) and
// the caller side (csandbox.c, supervision). Not part of the module's public header.
#pragma once
#include <stdint.h>
#include <sys/types.h>

#include "csandbox.h"

enum { REPORT_SETUP = 1, REPORT_LAUNCH_FAILED = 2, REPORT_EXIT = 3 };

/// One message on the report pipe. 32 bytes, below PIPE_BUF, so writes are atomic.
typedef struct report_msg {
  int32_t kind;
  int32_t value;  // SETUP: isolation bits; LAUNCH_FAILED: errno; EXIT: wait status
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
} launch_plan;

/// The supervisor: new session, namespaces, then the namespace init or the command. Runs in the
/// forked child and never returns. Uses only async-signal-safe calls.
__attribute__((noreturn)) void csandbox_supervise(const launch_plan *plan);
