// The checker sandbox: fork, confine, exec, supervise, kill, reap.
//
// Process layout (host view):
//
//   caller (Swift, any thread)
//     └─ supervisor      setsid(): its pid is the session and process-group id of the sandbox;
//        │               unshare(user, network, pid namespaces) where the machine allows it
//        └─ init         only with a new PID namespace: pid 1 inside it, reaps orphans; when it
//           │            dies the kernel kills every process left in the namespace
//           └─ command   rlimits, fresh working directory, stdin/stdout/stderr pipes, execve
//
// Without a PID namespace the supervisor forks the command directly. The process that waits for
// the command writes its wait status to a report pipe; the caller polls that pipe together with
// stdout/stderr, enforces the wall-clock deadline, the output caps and the process watchdog, and
// kills the whole process group (and the namespace init) with SIGKILL at any limit.
//
// Between fork and execve only async-signal-safe calls are used, so this is safe to call from a
// multithreaded process.
#define _GNU_SOURCE
#include "csandbox_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/// Milliseconds the caller keeps draining pipes after everything was killed.
static const int64_t kGraceMicros = 250000;
/// How often the process watchdog scans /proc.
static const int64_t kWatchdogMicros = 10000;

static int64_t now_micros(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

// ---------------------------------------------------------------------------------------------
// Caller side.

static int append(uint8_t **buffer, size_t *length, const uint8_t *bytes, size_t count) {
  uint8_t *grown = realloc(*buffer, *length + count + 1);
  if (grown == NULL) return -1;
  memcpy(grown + *length, bytes, count);
  *buffer = grown;
  *length += count;
  return 0;
}

/// Reads /proc/PID/stat and returns the session id, or -1 (zombies count as gone).
static int session_of(const char *pid_name) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%s/stat", pid_name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char text[512];
  ssize_t count = read(fd, text, sizeof text - 1);
  close(fd);
  if (count <= 0) return -1;
  text[count] = 0;
  char *close_paren = strrchr(text, ')');
  if (close_paren == NULL) return -1;
  char state = 0;
  int ppid = 0, pgrp = 0, session = 0;
  if (sscanf(close_paren + 1, " %c %d %d %d", &state, &ppid, &pgrp, &session) != 4) return -1;
  if (state == 'Z' || state == 'X') return -1;
  return session;
}

/// Counts live processes that are in the PID namespace (dev, ino) or, when ino is 0, in the
/// session `session`. Zombies do not count: they hold no resources but a pid, and orphaned ones
/// wait for the machine's init to reap them.
static int64_t count_processes(dev_t dev, ino_t ino, int32_t session) {
  DIR *proc = opendir("/proc");
  if (proc == NULL) return 0;
  int64_t count = 0;
  struct dirent *entry;
  while ((entry = readdir(proc)) != NULL) {
    if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
    int process_session = session_of(entry->d_name);
    if (process_session < 0) continue;  // gone or a zombie
    if (ino != 0) {
      char path[64];
      snprintf(path, sizeof path, "/proc/%s/ns/pid", entry->d_name);
      struct stat info;
      if (stat(path, &info) == 0 && info.st_ino == ino && info.st_dev == dev) count++;
    } else if (process_session == session) {
      count++;
    }
  }
  closedir(proc);
  return count;
}

int csandbox_count_session(int32_t session) {
  return (int)count_processes(0, 0, session);
}

static void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

typedef struct run_state {
  pid_t leader;
  pid_t inside;  // first process inside the sandbox (namespace init or the command), 0 if unknown
  int inside_alive;  // 0 once its supervisor reported or exited: the pid may then be reused
  int killed;
} run_state;

/// SIGKILLs the process group (the leader is our unreaped child, so its group id cannot be
/// reused) and, while it is certainly alive, the first process inside the sandbox: killing the
/// namespace init kills every process in the namespace, including ones that left the group.
static void kill_everything(run_state *state) {
  killpg(state->leader, SIGKILL);
  if (state->inside > 0 && state->inside_alive) kill(state->inside, SIGKILL);
  state->killed = 1;
}

/// Drains one pipe; returns 1 if the stream went past the cap, and closes it at end of file.
static int drain(int *fd, uint8_t **buffer, size_t *length, int *overflow, size_t cap) {
  uint8_t chunk[65536];
  for (;;) {
    ssize_t count = read(*fd, chunk, sizeof chunk);
    if (count > 0) {
      size_t room = *length < cap ? cap - *length : 0;
      size_t keep = (size_t)count < room ? (size_t)count : room;
      if (keep > 0 && append(buffer, length, chunk, keep) != 0) keep = 0;
      if ((size_t)count > keep && !*overflow) {
        *overflow = 1;
        return 1;
      }
      continue;
    }
    if (count == 0) close_fd(fd);
    else if (errno == EINTR) continue;
    else if (errno != EAGAIN && errno != EWOULDBLOCK) close_fd(fd);
    return 0;
  }
}

static void handle_report(const report_msg *msg, csandbox_result *result, run_state *state) {
  switch (msg->kind) {
    case REPORT_ISOLATION:
      result->isolation |= msg->value;
      break;
    case REPORT_SETUP:
      result->isolation |= msg->value;
      state->inside = (pid_t)msg->a;
      state->inside_alive = !result->status_known;
      break;
    case REPORT_LAUNCH_FAILED:
      result->launched = 0;
      result->launch_errno = msg->value;
      result->launch_step = (int)msg->a;
      break;
    case REPORT_EXIT:
      state->inside_alive = 0;
      result->status_known = 1;
      result->exited = WIFEXITED(msg->value) ? 1 : 0;
      result->exit_code = WIFEXITED(msg->value) ? WEXITSTATUS(msg->value) : 0;
      result->signal = WIFSIGNALED(msg->value) ? WTERMSIG(msg->value) : 0;
      result->cpu_micros = msg->b;
      result->max_rss_bytes = msg->c;
      break;
    default:
      break;
  }
}

int csandbox_run(const char *path, char *const argv[], char *const envp[], const char *workdir,
                 const uint8_t *input, size_t input_len, const csandbox_limits *limits,
                 csandbox_result *result) {
  memset(result, 0, sizeof *result);
  int64_t start = now_micros();
  int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1}, rep_p[2] = {-1, -1};
  if (pipe2(in_p, O_CLOEXEC) != 0 || pipe2(out_p, O_CLOEXEC) != 0 ||
      pipe2(err_p, O_CLOEXEC) != 0 || pipe2(rep_p, O_CLOEXEC) != 0) {
    result->launch_errno = errno;
    result->launch_step = CSANDBOX_STEP_PIPE;
    int all[8] = {in_p[0], in_p[1], out_p[0], out_p[1], err_p[0], err_p[1], rep_p[0], rep_p[1]};
    for (int i = 0; i < 8; i++) close_fd(&all[i]);
    return -1;
  }
  // A checker that exits without reading stdin must not kill the caller with SIGPIPE: block it in
  // this thread for the duration of the run and discard a pending one at the end.
  sigset_t pipe_set, old_mask;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);

  launch_plan plan;
  memset(&plan, 0, sizeof plan);
  plan.path = path;
  plan.argv = argv;
  plan.envp = envp;
  plan.workdir = workdir;
  plan.limits = limits;
  plan.in_r = in_p[0];
  plan.out_w = out_p[1];
  plan.err_w = err_p[1];
  plan.report_w = rep_p[1];
  plan.caller = getpid();
  snprintf(plan.uid_map, sizeof plan.uid_map, "%u %u 1\n", (unsigned)geteuid(), (unsigned)geteuid());
  snprintf(plan.gid_map, sizeof plan.gid_map, "%u %u 1\n", (unsigned)getegid(), (unsigned)getegid());
  snprintf(plan.tmp_options, sizeof plan.tmp_options, "size=%lld,mode=1777",
           (long long)(limits->tmp_bytes > 0 ? limits->tmp_bytes : 64 << 20));
  pid_t leader = fork();
  if (leader == 0) csandbox_supervise(&plan);
  int fork_errno = errno;
  close_fd(&in_p[0]);
  close_fd(&out_p[1]);
  close_fd(&err_p[1]);
  close_fd(&rep_p[1]);
  int in_fd = in_p[1], out_fd = out_p[0], err_fd = err_p[0], rep_fd = rep_p[0];
  if (leader < 0) {
    result->launch_errno = fork_errno;
    result->launch_step = CSANDBOX_STEP_FORK;
    close_fd(&in_fd);
    close_fd(&out_fd);
    close_fd(&err_fd);
    close_fd(&rep_fd);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    return -1;
  }
  result->launched = 1;
  result->session = leader;
  set_nonblocking(in_fd);
  set_nonblocking(out_fd);
  set_nonblocking(err_fd);
  set_nonblocking(rep_fd);
  if (input_len == 0) close_fd(&in_fd);

  run_state state = {leader, 0, 0, 0};
  size_t cap = limits->max_output_bytes < 0 ? SIZE_MAX - 1 : (size_t)limits->max_output_bytes;
  int64_t deadline = start + limits->wall_millis * 1000;
  int64_t grace_end = -1;
  int64_t next_count = start;
  int ns_known = 0;
  struct stat ns_info;
  memset(&ns_info, 0, sizeof ns_info);
  size_t in_offset = 0;
  uint8_t report_buffer[sizeof(report_msg)];
  size_t report_fill = 0;

  while (out_fd >= 0 || err_fd >= 0 || rep_fd >= 0) {
    int64_t now = now_micros();
    if (!state.killed && now >= deadline) {
      result->kill_reason = CSANDBOX_KILL_WALL;
      kill_everything(&state);
    }
    if (state.killed && grace_end < 0) grace_end = now + kGraceMicros;
    if (grace_end >= 0 && now >= grace_end) break;

    if (!ns_known && state.inside > 0 && state.inside_alive &&
        (result->isolation & CSANDBOX_ISOLATED_PROCESSES)) {
      // Identify the namespace once, while its init is certainly alive.
      char ns_path[64];
      snprintf(ns_path, sizeof ns_path, "/proc/%d/ns/pid", (int)state.inside);
      ns_known = stat(ns_path, &ns_info) == 0;
      if (!ns_known) state.inside_alive = 0;
    }
    if (!state.killed && limits->max_processes >= 0 && rep_fd >= 0 && now >= next_count) {
      int64_t counted = ns_known ? count_processes(ns_info.st_dev, ns_info.st_ino, 0)
                                 : count_processes(0, 0, leader);
      int64_t processes = counted > 0 ? counted - 1 : 0;  // minus the init or the supervisor
      if (processes > result->max_processes_seen) result->max_processes_seen = processes;
      if (processes > limits->max_processes) {
        result->kill_reason = CSANDBOX_KILL_PROCESSES;
        kill_everything(&state);
        continue;
      }
      next_count = now + kWatchdogMicros;
    }

    int64_t wake = state.killed ? grace_end : deadline;
    if (!state.killed && limits->max_processes >= 0 && rep_fd >= 0 && next_count < wake) {
      wake = next_count;
    }
    int64_t wait_micros = wake - now;
    int timeout = wait_micros <= 0 ? 0 : (int)((wait_micros + 999) / 1000);

    struct pollfd polls[4];
    int count = 0, in_index = -1, out_index = -1, err_index = -1, rep_index = -1;
    if (in_fd >= 0) {
      in_index = count;
      polls[count++] = (struct pollfd){in_fd, POLLOUT, 0};
    }
    if (out_fd >= 0) {
      out_index = count;
      polls[count++] = (struct pollfd){out_fd, POLLIN, 0};
    }
    if (err_fd >= 0) {
      err_index = count;
      polls[count++] = (struct pollfd){err_fd, POLLIN, 0};
    }
    if (rep_fd >= 0) {
      rep_index = count;
      polls[count++] = (struct pollfd){rep_fd, POLLIN, 0};
    }
    int ready = poll(polls, (nfds_t)count, timeout);
    if (ready < 0) {
      if (errno == EINTR) continue;
      kill_everything(&state);
      break;
    }
    if (ready == 0) continue;

    if (in_index >= 0 && polls[in_index].revents != 0) {
      ssize_t written = write(in_fd, input + in_offset, input_len - in_offset);
      if (written > 0) {
        in_offset += (size_t)written;
        if (in_offset >= input_len) close_fd(&in_fd);
      } else if (written < 0 && errno != EAGAIN && errno != EINTR) {
        close_fd(&in_fd);  // EPIPE: the command stopped reading; not an error of ours
      }
    }
    if (out_index >= 0 && polls[out_index].revents != 0) {
      if (drain(&out_fd, &result->out, &result->out_len, &result->out_overflow, cap) &&
          !state.killed) {
        result->kill_reason = CSANDBOX_KILL_STDOUT;
        kill_everything(&state);
      }
    }
    if (err_index >= 0 && polls[err_index].revents != 0) {
      if (drain(&err_fd, &result->err, &result->err_len, &result->err_overflow, cap) &&
          !state.killed) {
        result->kill_reason = CSANDBOX_KILL_STDERR;
        kill_everything(&state);
      }
    }
    if (rep_index >= 0 && polls[rep_index].revents != 0) {
      for (;;) {
        ssize_t got = read(rep_fd, report_buffer + report_fill, sizeof report_buffer - report_fill);
        if (got > 0) {
          report_fill += (size_t)got;
          if (report_fill == sizeof report_buffer) {
            report_msg msg;
            memcpy(&msg, report_buffer, sizeof msg);
            handle_report(&msg, result, &state);
            report_fill = 0;
          }
          continue;
        }
        if (got < 0 && errno == EINTR) continue;
        if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
          // The supervisor is gone: the command has ended. Kill stragglers, drain what is left.
          close_fd(&rep_fd);
          state.inside_alive = 0;
          kill_everything(&state);
        }
        break;
      }
    }
  }

  kill_everything(&state);
  close_fd(&in_fd);
  close_fd(&out_fd);
  close_fd(&err_fd);
  close_fd(&rep_fd);
  int status;
  while (waitpid(leader, &status, 0) < 0 && errno == EINTR) {
  }
  // SIGKILL is asynchronous: wait (bounded) until every killed process has actually exited.
  for (int round = 0; round < 5000; round++) {
    int64_t left = count_processes(0, 0, leader);
    if (ns_known) left += count_processes(ns_info.st_dev, ns_info.st_ino, 0);
    if (left == 0) break;
    killpg(leader, SIGKILL);
    struct timespec pause = {0, 1000000};
    nanosleep(&pause, NULL);
  }
  if (result->launch_step != CSANDBOX_STEP_NONE) result->launched = 0;
  if (!result->status_known && result->launch_step == CSANDBOX_STEP_NONE &&
      result->kill_reason == CSANDBOX_KILL_NONE) {
    result->launch_step = CSANDBOX_STEP_LOST;
  }
  result->wall_micros = now_micros() - start;

  sigset_t pending;
  sigpending(&pending);
  if (sigismember(&pending, SIGPIPE)) {
    struct timespec zero = {0, 0};
    sigtimedwait(&pipe_set, NULL, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
  return 0;
}

void csandbox_result_free(csandbox_result *result) {
  free(result->out);
  free(result->err);
  result->out = NULL;
  result->err = NULL;
  result->out_len = 0;
  result->err_len = 0;
}

static int make_traversable(const char *path, const struct stat *info, int type, struct FTW *ftw) {
  (void)ftw;
  if (type == FTW_D || type == FTW_DNR) chmod(path, (info->st_mode & 07777) | S_IRWXU);
  return 0;
}

static int remove_entry(const char *path, const struct stat *info, int type, struct FTW *ftw) {
  (void)info;
  (void)ftw;
  int failed = (type == FTW_DP) ? rmdir(path) : unlink(path);
  return failed != 0 && errno != ENOENT ? -1 : 0;
}

int csandbox_remove_tree(const char *path) {
  nftw(path, make_traversable, 32, FTW_PHYS);
  return nftw(path, remove_entry, 32, FTW_PHYS | FTW_DEPTH);
}
