#include "util/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

extern char** environ;

namespace georep {
namespace {

// argv/envp arrays prepared before fork, so the child calls only
// async-signal-safe functions.
struct ExecArgs {
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;

  ExecArgs(const std::vector<std::string>& args, const std::vector<std::string>& extra_env) {
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
    for (const auto& e : extra_env) {
      std::string name = e.substr(0, e.find('=') + 1);
      std::erase_if(env_storage, [&](const std::string& s) { return s.starts_with(name); });
      env_storage.push_back(e);
    }
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);
  }
};

// Starts the program with stdin/stdout/stderr on the given fds. posix_spawn
// (vfork-like in glibc) rather than fork: no copy of this process's page
// tables, which matters when a busy daemon starts many git processes.
absl::StatusOr<pid_t> Spawn(const ExecArgs& args, int in_fd, int out_fd, int err_fd,
                            const RunOptions& options) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  // Before the descriptors are closed, of which it may be one.
  if (options.cwd_fd >= 0) posix_spawn_file_actions_addfchdir_np(&actions, options.cwd_fd);
  // Nothing else of this process reaches the child: a socket Asio opened
  // without close-on-exec (the listener) would outlive a killed daemon in
  // its git processes, and keep its port taken.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args.argv[0], &actions, nullptr, args.argv.data(), args.envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return absl::NotFoundError(absl::StrCat("cannot run ", args.argv[0], ": ", strerror(rc)));
  }
  return pid;
}

std::string Tail(const std::string& output, int lines) {
  size_t pos = output.size();
  while (pos > 0 && (output[pos - 1] == '\n' || output[pos - 1] == ' ')) --pos;
  size_t end = pos;
  for (int i = 0; i < lines && pos > 0; ++i) {
    size_t nl = output.rfind('\n', pos - 1);
    pos = (nl == std::string::npos) ? 0 : nl;
  }
  std::string tail = output.substr(pos, end - pos);
  while (!tail.empty() && tail.front() == '\n') tail.erase(0, 1);
  return tail;
}

}  // namespace

absl::StatusOr<CommandResult> Run(const std::vector<std::string>& argv, const RunOptions& options) {
  if (argv.empty()) return absl::InvalidArgumentError("empty command");
  ExecArgs args(argv, options.extra_env);
  int out_pipe[2], in_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(in_pipe, O_CLOEXEC) != 0 ||
      pipe2(err_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  auto spawned = Spawn(args, in_pipe[0], out_pipe[1],
                       options.merge_stderr ? out_pipe[1] : err_pipe[1], options);
  if (!spawned.ok()) {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]})
      close(fd);
    return spawned.status();
  }
  pid_t pid = *spawned;
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  // Feed stdin from a thread so a child that writes a lot before reading
  // cannot deadlock against us.
  std::thread feeder([fd = in_pipe[1], data = options.stdin_data]() {
    signal(SIGPIPE, SIG_IGN);
    if (data) {
      size_t off = 0;
      while (off < data->size()) {
        ssize_t n = write(fd, data->data() + off, data->size() - off);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
    }
    close(fd);
  });
  CommandResult result;
  std::string errbuf;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? result.output : errbuf).append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  feeder.join();
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

absl::StatusOr<PipedChild> SpawnPiped(const std::vector<std::string>& argv,
                                      const RunOptions& options) {
  if (argv.empty()) return absl::InvalidArgumentError("empty command");
  ExecArgs args(argv, options.extra_env);
  int out_pipe[2], in_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0)
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  if (pipe2(in_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  auto pid = Spawn(args, in_pipe[0], out_pipe[1], 2, options);
  close(in_pipe[0]);
  close(out_pipe[1]);
  if (!pid.ok()) {
    close(in_pipe[1]);
    close(out_pipe[0]);
    return pid.status();
  }
  return PipedChild{*pid, in_pipe[1], out_pipe[0]};
}

int WaitChild(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

absl::StatusOr<std::string> RunChecked(const std::vector<std::string>& argv,
                                       const RunOptions& options) {
  absl::StatusOr<CommandResult> r = Run(argv, options);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    // argv[0] may be runuser; name the real program.
    std::string name = argv[0];
    for (size_t i = 0; i + 1 < argv.size(); ++i) {
      if (argv[0] == "runuser" && argv[i] == "--") {
        name = argv[i + 1];
        break;
      }
    }
    return absl::InternalError(
        absl::StrCat(name, " exited with ", r->exit_code, ": ", Tail(r->output, 3)));
  }
  return std::move(r->output);
}

absl::StatusOr<pid_t> SpawnDetached(const std::vector<std::string>& argv,
                                    const std::string& log_path,
                                    const std::vector<std::string>& extra_env) {
  ExecArgs args(argv, extra_env);
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return absl::PermissionDeniedError(absl::StrCat("open ", log_path, ": ", strerror(errno)));
  }
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    setsid();
    dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    close_range(3, ~0U, 0);
    execvpe(args.argv[0], args.argv.data(), args.envp.data());
    _exit(127);
  }
  close(log_fd);
  close(null_fd);
  return pid;
}

bool ProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  // Reap it if it is our own exited child.
  int status;
  if (waitpid(pid, &status, WNOHANG) == pid) return false;
  if (kill(pid, 0) != 0) return errno == EPERM;
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  std::getline(stat, line);
  size_t close = line.rfind(')');
  return !(close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z');
}

std::string ProcessCommandLine(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/cmdline"), std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (char& c : raw) {
    if (c == '\0') c = ' ';
  }
  while (!raw.empty() && raw.back() == ' ') raw.pop_back();
  return raw;
}

absl::Status TerminateProcess(pid_t pid, std::chrono::milliseconds grace) {
  if (!ProcessAlive(pid)) return absl::OkStatus();
  kill(pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!ProcessAlive(pid)) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  for (int i = 0; i < 100 && ProcessAlive(pid); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (ProcessAlive(pid)) {
    return absl::DeadlineExceededError(absl::StrCat("process ", pid, " survived SIGKILL"));
  }
  return absl::OkStatus();
}

std::vector<std::string> AsUnprivileged(const std::string& user, std::vector<std::string> argv) {
  if (geteuid() != 0) return argv;
  std::vector<std::string> out = {"runuser", "-u", user, "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

}  // namespace georep
