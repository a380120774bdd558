"""`make run`: the local sandbox. Starts moto, Azurite and fake-gcs-server, runs each cloud's adapter the
way its cloud drives it, writes sample files on all three clouds and shows them replicating to the other
two. ``python -m scripts.sandbox --help``; README.md ("make run") says which parts are the real platform
code and which are local stand-ins for a cloud's delivery."""
