// Renders a site's /api/v1/status JSON for people.
#pragma once

#include <string>

namespace georep::cli {

// Text for a terminal; falls back to the raw document if it is not status JSON.
std::string RenderStatus(const std::string& status_json);

}  // namespace georep::cli
