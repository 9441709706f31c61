#pragma once
#include <chrono>
#include <string>

namespace pgtandem::testing {

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then
// released). Ports handed out in one process are never repeated.
int freeLoopbackPort();

// A fresh directory under /dev/shm (or /tmp), removed by removeTree().
std::string makeTempDir(const std::string& tag);
void removeTree(const std::string& path);

// Whether something accepts TCP connections on host:port within `limit`.
bool waitForPort(const std::string& host, int port, std::chrono::milliseconds limit);

}  // namespace pgtandem::testing
