"""camphub's system-wide settings of a student's Jupyter server (jupyterhub-singleuser reads them).

The student's home is on NFS and has a limit (issue 15).
"""

c = get_config()  # noqa: F821
# What the student deletes frees space at once: JupyterLab's delete would move it to the trash
# in the same home (~/.local/share/Trash), where it still counts against the limit. A deleted
# file comes back from the home's snapshots (~/snapshots) instead.
c.FileContentsManager.delete_to_trash = False
# No SQLite database on the home: over NFS its locking is unreliable (a save fails with
# "database is locked", a file is corrupted) and every write is a round trip to the NFS server.
# The signatures of the notebooks the student trusts (default ~/.local/share/jupyter/
# nbsignatures.db) stay in memory: the server lives exactly as long as its container and the
# container's disk, so a file there would not last longer.
c.NotebookNotary.db_file = ":memory:"
