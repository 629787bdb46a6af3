"""The prodops write API, one router per concern (status reports, maintenance and announcements, feeder
tokens), mounted by :func:`prodops.web.app.create_app`; bodies are read after authentication
(:mod:`.body`), documented by :mod:`.schemas` and held to :mod:`.access`."""
