// The `georep` command line: one binary, one verb per operator task.
#pragma once

namespace georep::cli {

// Parses argv, runs the verb, returns the exit code: 0 success, 1 failure,
// 2 bad usage or bad settings.
int Main(int argc, char** argv);

}  // namespace georep::cli
