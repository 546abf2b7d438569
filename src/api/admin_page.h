// The admin page at /admin on every site: plain HTML, CSS and a little
// JavaScript (src/api/admin/), compiled into the binary, calling this
// site's JSON API: the sites with their health, lag, last report and
// per-replicable progress; this site's registry with filters, pages and
// resync/reverify buttons, which send the admin token given on the page.
// The page itself holds no data and is open; the API calls it makes are
// authorised as any other client's (api/admin_auth.h).
#pragma once

#include <string_view>
#include <utility>
#include <vector>

#include "api/router.h"

namespace georep::api {

// (file name, content) of every asset; generated from src/api/admin/.
const std::vector<std::pair<std::string_view, std::string_view>>& AdminAssets();

// GET /admin (the page), /admin/admin.js, /admin/admin.css.
void AddAdminPage(Router& router);

}  // namespace georep::api
