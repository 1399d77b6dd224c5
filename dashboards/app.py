"""The batteryviz dashboard as a Panel app script, for ``panel serve``.

    panel serve dashboards/app.py                       # one local workspace, no login
    BATTERYVIZ_WORKSPACE=/srv/bv panel serve dashboards/app.py --basic-auth ...   # see README

``batteryviz serve`` is the recommended way to run it (hashed passwords, admin rules, checks of
unsafe settings); this script is for deployments that drive ``panel serve`` themselves. Each
session builds its own objects: nothing mutable lives at module level.
"""

import panel as pn

from batteryviz.serve import ServeConfig, app_factory

if pn.state.served:
    logged_in = pn.state.user not in (None, "", "guest")
    # behind Panel's own auth the workspace is the logged-in user's; without auth, "local"
    app_factory(ServeConfig(auth="basic" if logged_in else "none"))().servable()
