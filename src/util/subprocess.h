// Running other programs (initdb, pg_ctl, git, georep itself) without a shell.
//
// Arguments are passed as a vector, never through /bin/sh, so no value is
// ever interpreted by a shell. Thread-safe: each call owns its child.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace georep {

struct RunOptions {
  std::string cwd;                        // empty: inherit
  std::vector<std::string> extra_env;     // "NAME=value", added to the environment
  std::optional<std::string> stdin_data;  // nullopt: stdin is /dev/null
  bool merge_stderr = true;               // stderr joins stdout in `output`
  int cwd_fd = -1;  // else the child starts in the folder this descriptor holds
};

struct CommandResult {
  int exit_code = 0;  // 128+N when killed by signal N
  std::string output;
};

// Runs argv[0] (searched in PATH) to completion and collects its output.
// Fails only when the program cannot be started; a non-zero exit is a result.
absl::StatusOr<CommandResult> Run(const std::vector<std::string>& argv,
                                  const RunOptions& options = {});

// Like Run, but a non-zero exit is an error whose message quotes the program
// name and the last lines of its output.
absl::StatusOr<std::string> RunChecked(const std::vector<std::string>& argv,
                                       const RunOptions& options = {});

// A running child whose stdin and stdout are pipes the caller holds (its
// stderr is inherited). The caller closes both fds and reaps it with
// WaitChild.
struct PipedChild {
  pid_t pid = -1;
  int stdin_fd = -1;
  int stdout_fd = -1;
};
absl::StatusOr<PipedChild> SpawnPiped(const std::vector<std::string>& argv,
                                      const RunOptions& options = {});
// Waits for a child; its exit code (128+N when killed by signal N).
int WaitChild(pid_t pid);

// Starts argv in a new session (so it outlives us and gets no terminal
// signals), stdin from /dev/null, stdout and stderr appended to log_path.
absl::StatusOr<pid_t> SpawnDetached(const std::vector<std::string>& argv,
                                    const std::string& log_path,
                                    const std::vector<std::string>& extra_env = {});

// True if a process with this pid exists (and is not a zombie of ours).
bool ProcessAlive(pid_t pid);

// The command line of a live process, arguments joined by spaces; empty if gone.
std::string ProcessCommandLine(pid_t pid);

// SIGTERM, wait up to `grace`, then SIGKILL. OK if the process is gone.
absl::Status TerminateProcess(pid_t pid, std::chrono::milliseconds grace);

// When running as root, prefixes argv with `runuser -u <user> --` so the
// program runs unprivileged (PostgreSQL refuses to run as root).
std::vector<std::string> AsUnprivileged(const std::string& user, std::vector<std::string> argv);

// The unprivileged account used for PostgreSQL when running as root.
inline constexpr char kPostgresUser[] = "postgres";

}  // namespace georep
