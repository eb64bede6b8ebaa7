// The child side of the sandbox: everything between fork and execve. Only async-signal-safe
// calls are allowed here (the caller may be multithreaded). See csandbox.c for the layout.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csandbox_internal.h"

static void report(int fd, int32_t kind, int32_t value, int64_t a, int64_t b, int64_t c) {
  report_msg msg;
  memset(&msg, 0, sizeof msg);
  msg.kind = kind;
  msg.value = value;
  msg.a = a;
  msg.b = b;
  msg.c = c;
  ssize_t ignored = write(fd, &msg, sizeof msg);
  (void)ignored;
}

/// Closes every descriptor >= 3 that is not in `keep` (async-signal-safe).
static void close_all_except(const int *keep, int count) {
  long max_fd = sysconf(_SC_OPEN_MAX);
  if (max_fd < 0 || max_fd > 65536) max_fd = 65536;
  int next = 3;
  for (;;) {
    // The smallest kept descriptor >= next.
    int limit = -1;
    for (int i = 0; i < count; i++) {
      if (keep[i] >= next && (limit < 0 || keep[i] < limit)) limit = keep[i];
    }
    unsigned int last = limit < 0 ? ~0U : (unsigned int)(limit - 1);
    if (limit < 0 || limit > next) {
#ifdef SYS_close_range
      if (syscall(SYS_close_range, (unsigned int)next, last, 0) != 0)
#endif
      {
        long end = limit < 0 ? max_fd : limit;
        for (long fd = next; fd < end; fd++) close((int)fd);
      }
    }
    if (limit < 0) return;
    next = limit + 1;
  }
}

static void reset_signals(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < 32; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &action, NULL);
  }
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, NULL);
}

static int set_limit(int resource, int64_t soft, int64_t hard) {
  struct rlimit current;
  if (getrlimit(resource, &current) != 0) return -1;
  struct rlimit wanted;
  wanted.rlim_cur = (rlim_t)soft;
  wanted.rlim_max = (rlim_t)hard;
  if (geteuid() != 0 && current.rlim_max != RLIM_INFINITY) {
    if (wanted.rlim_max > current.rlim_max) wanted.rlim_max = current.rlim_max;
    if (wanted.rlim_cur > wanted.rlim_max) wanted.rlim_cur = wanted.rlim_max;
  }
  return setrlimit(resource, &wanted);
}


/// Becomes the command: wires the pipes, enters the working directory, applies rlimits, execs.
__attribute__((noreturn)) static void exec_command(const launch_plan *plan, int isolation) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Move the pipe ends out of the way first so that dup2 onto 0-2 cannot clobber one of them.
  int in_r = fcntl(plan->in_r, F_DUPFD_CLOEXEC, 10);
  int out_w = fcntl(plan->out_w, F_DUPFD_CLOEXEC, 10);
  int err_w = fcntl(plan->err_w, F_DUPFD_CLOEXEC, 10);
  if (in_r < 0 || out_w < 0 || err_w < 0 || dup2(in_r, 0) < 0 || dup2(out_w, 1) < 0 ||
      dup2(err_w, 2) < 0) {
    report(plan->report_w, REPORT_LAUNCH_FAILED, errno, CSANDBOX_STEP_PIPE, 0, 0);
    _exit(127);
  }
  if (chdir(plan->workdir) != 0) {
    report(plan->report_w, REPORT_LAUNCH_FAILED, errno, CSANDBOX_STEP_CHDIR, 0, 0);
    _exit(127);
  }
  const csandbox_limits *limits = plan->limits;
  int failed = set_limit(RLIMIT_CORE, 0, 0);
  if (limits->cpu_seconds >= 0) {
    failed |= set_limit(RLIMIT_CPU, limits->cpu_seconds, limits->cpu_seconds + 1);
  }
  if (limits->memory_bytes >= 0) {
    failed |= set_limit(RLIMIT_AS, limits->memory_bytes, limits->memory_bytes);
  }
  if (limits->file_size_bytes >= 0) {
    failed |= set_limit(RLIMIT_FSIZE, limits->file_size_bytes, limits->file_size_bytes);
  }
  // RLIMIT_NPROC counts per user (per user namespace since Linux 5.14): only meaningful when this
  // sandbox has its own user namespace, and never enforced for root (see docs/exec-protocol.md).
  if (limits->max_processes >= 0 && (isolation & CSANDBOX_ISOLATED_USER)) {
    failed |= set_limit(RLIMIT_NPROC, limits->max_processes + 1, limits->max_processes + 1);
  }
  if (failed) {
    report(plan->report_w, REPORT_LAUNCH_FAILED, errno, CSANDBOX_STEP_RLIMIT, 0, 0);
    _exit(127);
  }
  if (limits->seal_filesystem) {
    // Last, because Landlock forbids mounting and dropping capabilities forbids everything else.
    int sealed = csandbox_drop_privileges();
    if (sealed) sealed |= csandbox_landlock(plan, isolation & CSANDBOX_ISOLATED_TMP);
    report(plan->report_w, REPORT_ISOLATION, sealed, 0, 0, 0);
  }
  if (plan->path == NULL) _exit(0);  // an isolation probe: set up, do not run anything
  int keep[1] = {plan->report_w};  // close-on-exec: closed by a successful execve
  close_all_except(keep, 1);
  execve(plan->path, plan->argv, plan->envp);
  report(plan->report_w, REPORT_LAUNCH_FAILED, errno, CSANDBOX_STEP_EXEC, 0, 0);
  _exit(127);
}

/// Forks the command, waits for it (reaping every other child too) and reports its status.
__attribute__((noreturn)) static void spawn_and_wait(const launch_plan *plan, int isolation,
                                                     int announce) {
  if (!announce && (isolation & CSANDBOX_ISOLATED_READ_ONLY)) {
    // The namespace init: only a process inside the new PID namespace can mount its /proc.
    int proc = csandbox_private_proc(1);
    isolation |= proc;
    report(plan->report_w, REPORT_ISOLATION, proc, 0, 0, 0);
  }
  pid_t command = fork();
  if (command < 0) {
    report(plan->report_w, REPORT_LAUNCH_FAILED, errno, CSANDBOX_STEP_FORK, 0, 0);
    _exit(127);
  }
  if (command == 0) exec_command(plan, isolation);
  if (announce) report(plan->report_w, REPORT_SETUP, isolation, command, 0, 0);
  close(plan->in_r);
  close(plan->out_w);
  close(plan->err_w);
  for (;;) {
    int status = 0;
    struct rusage usage;
    memset(&usage, 0, sizeof usage);
    pid_t done = wait4(-1, &status, 0, &usage);
    if (done < 0) {
      if (errno == EINTR) continue;
      _exit(0);
    }
    if (done == command) {
      int64_t cpu = (int64_t)usage.ru_utime.tv_sec * 1000000 + usage.ru_utime.tv_usec +
                    (int64_t)usage.ru_stime.tv_sec * 1000000 + usage.ru_stime.tv_usec;
      report(plan->report_w, REPORT_EXIT, status, 0, cpu, (int64_t)usage.ru_maxrss * 1024);
      _exit(0);
    }
  }
}

void csandbox_supervise(const launch_plan *plan) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != plan->caller) _exit(127);
  setsid();
  reset_signals();
  int keep[4] = {plan->in_r, plan->out_w, plan->err_w, plan->report_w};
  close_all_except(keep, 4);

  const csandbox_limits *limits = plan->limits;
  int want = 0;
  if (limits->isolate_network) want |= CLONE_NEWNET;
  if (limits->isolate_processes) want |= CLONE_NEWPID;
  if (limits->seal_filesystem) want |= CLONE_NEWNS;
  int isolation = 0;
  int mount_namespace = 0;
  if (want != 0) {
    if (unshare(CLONE_NEWUSER | want) == 0) {
      isolation = CSANDBOX_ISOLATED_USER;
      if (want & CLONE_NEWNET) isolation |= CSANDBOX_ISOLATED_NETWORK;
      if (want & CLONE_NEWPID) isolation |= CSANDBOX_ISOLATED_PROCESSES;
      // Files created in the private /tmp need the command's ids mapped in the namespace.
      mount_namespace = (want & CLONE_NEWNS) && csandbox_map_identity(plan) == 0;
    } else {
      // No user namespaces here; a privileged caller can still create the others directly.
      if ((want & CLONE_NEWNET) && unshare(CLONE_NEWNET) == 0) isolation |= CSANDBOX_ISOLATED_NETWORK;
      if ((want & CLONE_NEWPID) && unshare(CLONE_NEWPID) == 0) {
        isolation |= CSANDBOX_ISOLATED_PROCESSES;
      }
      mount_namespace = (want & CLONE_NEWNS) && unshare(CLONE_NEWNS) == 0;
    }
  }
  if (mount_namespace) {
    int seal_errno = 0;
    int sealed = csandbox_seal_mounts(plan, &seal_errno);
    if (sealed < 0) {
      report(plan->report_w, REPORT_LAUNCH_FAILED, seal_errno, CSANDBOX_STEP_SEAL, 0, 0);
      _exit(127);
    }
    isolation |= sealed;
    if ((sealed & CSANDBOX_ISOLATED_READ_ONLY) && !(isolation & CSANDBOX_ISOLATED_PROCESSES)) {
      isolation |= csandbox_private_proc(0);
    }
  }

  if (!(isolation & CSANDBOX_ISOLATED_PROCESSES)) spawn_and_wait(plan, isolation, 1);

  // The next child is pid 1 of the new namespace.
  pid_t init = fork();
  if (init < 0) {
    report(plan->report_w, REPORT_LAUNCH_FAILED, errno, CSANDBOX_STEP_FORK, 0, 0);
    _exit(127);
  }
  if (init == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    spawn_and_wait(plan, isolation, 0);
  }
  report(plan->report_w, REPORT_SETUP, isolation, init, 0, 0);
  close(plan->in_r);
  close(plan->out_w);
  close(plan->err_w);
  close(plan->report_w);
  int status;
  while (waitpid(init, &status, 0) < 0 && errno == EINTR) {
  }
  _exit(0);
}

