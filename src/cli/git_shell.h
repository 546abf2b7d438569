// `georep git-shell`: the forced command for Git over SSH on a site
// (OpenSSH's `command="georep git-shell --config …"` in authorized_keys, or
// ForceCommand). It reads SSH_ORIGINAL_COMMAND and allows only
// git-upload-pack and git-receive-pack of a known repository.
//
// Fetches are served from the local copy by `git upload-pack`. On a
// secondary, a push is proxied to the primary over smart HTTP: the primary's
// ref advertisement goes to the client, the client's commands and pack go to
// the primary in one POST, and the primary's report comes back; a one-line
// notice on stderr says where the push went. On the primary a push runs
// `git receive-pack` and then publishes the repository's `updated` event.
#pragma once

#include <string>

#include "config/config.h"

namespace georep::cli {

// Runs the command; the process's stdin/stdout are the SSH channel. Returns
// the exit code.
int GitShell(const config::Config& config, const std::string& ssh_original_command);

}  // namespace georep::cli
