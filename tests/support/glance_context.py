"""A paste filter for the test Glance: every request is an admin of one fixed project.

Loaded inside the Glance server process (see `servers.RealGlance`), never by the tests.
Glance's own no-auth filter (`unauthenticated-context`) makes an admin context with no project,
and Glance then cannot do everything: an import task is stored with its project as owner in a
NOT NULL column, so `POST /v2/images/{id}/import` answers 500. With a project, images also get
an owner, as they always do in a real cloud.
"""

from __future__ import annotations

import os

import glance.context
import webob
from glance.api.middleware.context import BaseContextMiddleware

PROJECT_ID = "a0000000000000000000000000000001"
USER_ID = "b0000000000000000000000000000001"


#: Set to "0" in the server's environment for a plain project member instead of an admin,
#: as a replicator whose target credentials are not an admin's is.
ADMIN_VARIABLE = "REPLICATOR_TEST_GLANCE_ADMIN"


class AdminProjectContext(BaseContextMiddleware):
    """Give each request an admin context in project `PROJECT_ID`, as user `USER_ID`."""

    def process_request(self, req: webob.Request) -> None:
        admin = os.environ.get(ADMIN_VARIABLE, "1") != "0"
        req.context = glance.context.RequestContext(
            user_id=USER_ID, project_id=PROJECT_ID, roles=["admin" if admin else "member"], is_admin=admin
        )
