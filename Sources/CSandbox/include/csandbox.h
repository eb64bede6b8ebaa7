// Process-spawning helpers for the checker sandbox of HindcastTasks.
//
// The Swift wrapper (HindcastTasks/Sandbox) prepares argv/envp and a fresh working directory,
// then calls csandbox_run, which forks, confines and runs the command and collects its output.
// Everything between fork and exec uses only async-signal-safe system calls, so it is safe to
// call from a multithreaded process. See docs/exec-protocol.md for what each limit means.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Limits for one run. A negative value means "no limit" (the wall limit must be positive).
typedef struct csandbox_limits {
  int64_t wall_millis;       // wall-clock deadline in milliseconds; > 0
  int64_t cpu_seconds;       // RLIMIT_CPU (soft; the hard limit is one second higher)
  int64_t memory_bytes;      // RLIMIT_AS (address space) of every process
  int64_t file_size_bytes;   // RLIMIT_FSIZE (largest file any process may write)
  int64_t max_processes;     // RLIMIT_NPROC plus a watchdog that counts processes (see docs)
  int64_t max_output_bytes;  // per stream (stdout and stderr separately); the run is killed beyond
  int isolate_network;       // 1: try a new network namespace (no interfaces but a down loopback)
  int isolate_processes;     // 1: try a new PID namespace (the command is its init process)
  int seal_filesystem;       // 1: try a mount namespace with / read-only, a private /tmp,
                             //    the working directory writable and `hidden_paths` covered,
                             //    plus Landlock and dropped privileges (see docs/exec-protocol.md)
  int64_t tmp_bytes;         // size of the private /tmp (tmpfs), > 0 when sealing
  const char *const *hidden_paths;  // absolute paths the command must not see (e.g. the run)
  int hidden_count;
  const char *const *exposed_paths;  // absolute paths the command needs (its program and script):
  int exposed_count;                 // kept visible (read-only) when the private /tmp covers them
} csandbox_limits;

/// Why the parent killed the process group (0 if it did not).
enum {
  CSANDBOX_KILL_NONE = 0,
  CSANDBOX_KILL_WALL = 1,
  CSANDBOX_KILL_STDOUT = 2,
  CSANDBOX_KILL_STDERR = 3,
  CSANDBOX_KILL_PROCESSES = 4,
};

/// Bits of csandbox_result.isolation: which namespaces were created.
enum {
  CSANDBOX_ISOLATED_USER = 1,
  CSANDBOX_ISOLATED_NETWORK = 2,
  CSANDBOX_ISOLATED_PROCESSES = 4,
  CSANDBOX_ISOLATED_READ_ONLY = 8,        // own mount namespace, every mount read-only
  CSANDBOX_ISOLATED_TMP = 16,             // a private, empty, writable /tmp
  CSANDBOX_ISOLATED_HIDDEN = 32,          // every hidden path covered by an empty file system
  CSANDBOX_ISOLATED_PROC = 64,            // /proc shows only the sandbox's processes (or nothing)
  CSANDBOX_ISOLATED_LANDLOCK = 128,       // Landlock: writes only beneath the working directory
  CSANDBOX_ISOLATED_NO_PRIVILEGES = 256,  // no capabilities, no_new_privs
};

/// The step of the launch that failed (csandbox_result.launch_step).
enum {
  CSANDBOX_STEP_NONE = 0,
  CSANDBOX_STEP_PIPE = 1,
  CSANDBOX_STEP_FORK = 2,
  CSANDBOX_STEP_CHDIR = 3,
  CSANDBOX_STEP_RLIMIT = 4,
  CSANDBOX_STEP_EXEC = 5,
  CSANDBOX_STEP_LOST = 6,  // the supervisor died before reporting (killed at a limit)
  CSANDBOX_STEP_SEAL = 7,  // the working directory could not be mounted into the sealed view
};

typedef struct csandbox_result {
  int launched;            // 1 if the command was exec'd
  int launch_errno;        // errno of the failed launch step
  int launch_step;         // CSANDBOX_STEP_*
  int status_known;        // 1 if the command's wait status is known
  int exited;              // 1 if it exited normally (then exit_code is valid)
  int exit_code;
  int signal;              // terminating signal, 0 if none
  int kill_reason;         // CSANDBOX_KILL_*
  int isolation;           // CSANDBOX_ISOLATED_* bits
  int64_t wall_micros;     // wall time from fork to the end of the run
  int64_t cpu_micros;      // user + system CPU time of the command and its reaped children
  int64_t max_rss_bytes;   // peak resident set size of the largest process
  int64_t max_processes_seen;  // largest process count the watchdog observed
  int32_t session;         // session and process-group id of the sandbox (host pid numbering)
  uint8_t *out;            // stdout bytes (malloc'd, at most max_output_bytes), owned by result
  size_t out_len;
  uint8_t *err;            // stderr bytes, likewise
  size_t err_len;
  int out_overflow;        // 1 if stdout exceeded max_output_bytes
  int err_overflow;
} csandbox_result;

/// Runs `path` (an absolute path) with `argv`/`envp` (NULL-terminated) in `workdir`, writing
/// `input` to its stdin. Always fills `result` (call csandbox_result_free afterwards). Returns 0
/// when the command was launched, -1 when it could not be (result->launch_step says where).
/// When it returns, every process of the sandbox has been killed and reaped. A NULL `path` sets
/// the sandbox up as for a command and exits with status 0 instead of exec'ing (an isolation
/// probe: result->isolation says what this machine grants).
int csandbox_run(const char *path, char *const argv[], char *const envp[], const char *workdir,
                 const uint8_t *input, size_t input_len, const csandbox_limits *limits,
                 csandbox_result *result);

/// Frees the output buffers of a result.
void csandbox_result_free(csandbox_result *result);

/// Removes a directory tree without following symbolic links, making unreadable directories
/// readable first. Returns 0 on success, -1 (errno set) if something could not be removed.
int csandbox_remove_tree(const char *path);

/// Number of live processes whose session id is `session` (reads /proc). For tests.
int csandbox_count_session(int32_t session);

#ifdef __cplusplus
}
#endif
