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
    auth = "oauth" if pn.config.oauth_provider else ("basic" if pn.state.user not in (None, "", "guest") else "none")
    config = ServeConfig(auth="none" if auth == "none" else "oauth")  # user from pn.state.user when logged in
    app_factory(config)().servable()
