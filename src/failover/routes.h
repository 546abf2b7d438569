// The primary's and the secondaries' endpoints for a planned promotion
// (failover/promotion.h asks them):
//   POST /geo/maintenance   {"enabled": bool, "reason": text}, served by the
//       primary: turns its maintenance mode on or off. Turning it on closes
//       Georep's write gate, runs a CHECKPOINT (so the old primary can be
//       rewound onto the new one's timeline later) and fences the database
//       (site/fence.h); the answer {"maintenance", "writes_in_flight",
//       "current_lsn", "fence"} is read in that order, so a caller that sees
//       0 writes in flight knows every write acknowledged is at or before that
//       WAL position. Only the site whose promotion raised the fence may lift
//       it ("enabled": false), when that promotion is abandoned.
//   POST /geo/handover   {"action": "detach"|"reattach", "new_primary":
//       name}, served by a secondary, asked by the secondary being promoted
//       (new_primary, and no other): "detach" stops this site's standby
//       receiving WAL from the old primary and answers {"received_lsn"},
//       how far it got, so the promotion happens at or after that point
//       and this site can follow the new primary by streaming alone;
//       "reattach" undoes it when the promotion is abandoned.
// /geo/maintenance answers 404 on a secondary, /geo/handover on the
// primary. Both need a Geo token of an enabled site (api/geo_routes.h).
#pragma once

#include "api/geo_routes.h"
#include "api/router.h"

namespace georep::failover {

void AddFailoverRoutes(api::Router& router, const api::GeoRouteContext& ctx);

}  // namespace georep::failover
