// The `georep` command line: one binary, one verb per operator task.
#pragma once

#include <string>

namespace georep::cli {

// Parses argv, runs the verb, returns the exit code: 0 success, 1 failure,
// 2 bad usage or bad settings.
int Main(int argc, char** argv);

// "georep 0.1.0 (commit 0123456789ab)": the project's version, and the
// commit of the checkout it was built from (none when built from elsewhere).
std::string VersionText();

}  // namespace georep::cli
